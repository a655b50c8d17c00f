package bqapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// BigQuery's error reasons (https://cloud.google.com/bigquery/docs/error-messages)
// that this front door answers with.
const (
	reasonAccessDenied = "accessDenied"
	reasonInvalid      = "invalid"
	reasonInvalidQuery = "invalidQuery"
	reasonNotFound     = "notFound"
	reasonDuplicate    = "duplicate"
	reasonRequired     = "required"
	reasonAuthError    = "authError"
	reasonBackendError = "backendError"
	// reasonRateLimitExceeded is what BigQuery answers a caller over a
	// rate quota with (429); clients retry it with backoff.
	reasonRateLimitExceeded = "rateLimitExceeded"
	// reasonNotImplemented is not retried by clients.
	reasonNotImplemented = "notImplemented"
)

// apiError is an error answered in the shape Google APIs use:
// {"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}.
// Message is for the caller and never holds a cell value, a token or a
// server fault's details.
type apiError struct {
	Code    int
	Reason  string
	Message string
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int64
}

func (e *apiError) Error() string { return e.Message }

// errorProto is BigQuery's ErrorProto: the items of "errors" and a job's
// status.errorResult.
type errorProto struct {
	Reason   string `json:"reason"`
	Location string `json:"location,omitempty"`
	Message  string `json:"message"`
	Domain   string `json:"domain,omitempty"`
}

func statusText(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	}
	return "INTERNAL"
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"error": map[string]any{
		"code":    e.Code,
		"message": e.Message,
		"errors":  []errorProto{{Reason: e.Reason, Message: e.Message, Domain: "global"}},
		"status":  statusText(e.Code),
	}}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(e.RetryAfter, 10))
	}
	if e.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="querygate"`)
	}
	writeJSON(w, e.Code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(msg string) *apiError {
	return &apiError{Code: http.StatusBadRequest, Reason: reasonInvalid, Message: msg}
}

func notFound(msg string) *apiError {
	return &apiError{Code: http.StatusNotFound, Reason: reasonNotFound, Message: msg}
}

func internal(msg string) *apiError {
	return &apiError{Code: http.StatusInternalServerError, Reason: reasonBackendError, Message: msg}
}
