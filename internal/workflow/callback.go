package workflow

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// CallbackHandler serves callback endpoints at their real URL shape,
// /v1/projects/{p}/locations/{l}/workflows/{w}/executions/{e}/callbacks/{id}.
// Mount it at "/v1/projects/". A caller needs a bearer token that
// VerifyCaller accepts for an email in AllowedCallers: 401 without a valid
// token, 403 for another identity, 404 for an unknown callback or an
// execution that is no longer active.
func (r *Runtime) CallbackHandler() http.Handler {
	return http.HandlerFunc(r.serveCallback)
}

func (r *Runtime) serveCallback(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	bearer, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" || r.opts.VerifyCaller == nil {
		writeCallbackError(w, http.StatusUnauthorized, "a bearer token is required")
		return
	}
	email, err := r.opts.VerifyCaller(ctx, bearer)
	if err != nil {
		r.logger.WarnContext(ctx, "callback token rejected", "error", err)
		writeCallbackError(w, http.StatusUnauthorized, "invalid bearer token")
		return
	}
	if !slices.Contains(r.opts.AllowedCallers, email) {
		r.logger.WarnContext(ctx, "callback caller not allowed", "caller", email)
		writeCallbackError(w, http.StatusForbidden, "caller may not deliver callbacks")
		return
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/v1/"), "/")
	if len(parts) != 10 || parts[0] != "projects" || parts[1] != r.opts.Project || parts[2] != "locations" ||
		parts[3] != r.opts.Location || parts[4] != "workflows" || parts[5] != r.opts.Name ||
		parts[6] != "executions" || parts[8] != "callbacks" {
		writeCallbackError(w, http.StatusNotFound, "no such callback")
		return
	}
	name := r.fullName(parts[7])
	id := parts[9]
	body, err := io.ReadAll(io.LimitReader(req.Body, maxCallbackBytes+1))
	if err != nil {
		writeCallbackError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	if len(body) > maxCallbackBytes {
		writeCallbackError(w, http.StatusRequestEntityTooLarge, "callback body too large")
		return
	}
	var decoded any
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt == "application/json" {
		if decoded, err = decodeJSON(body); err != nil {
			writeCallbackError(w, http.StatusBadRequest, "body is not valid JSON")
			return
		}
	} else if len(body) > 0 {
		decoded = decodeBody(req.Header.Get("Content-Type"), body)
		if b, ok := decoded.([]byte); ok {
			// Bytes do not survive JSON persistence; text is what
			// callers of this gateway send.
			decoded = string(b)
		}
	}
	headers := map[string]any{}
	for k, v := range req.Header {
		if strings.EqualFold(k, "Authorization") {
			continue // never keep the caller's token in workflow state
		}
		headers[k] = strings.Join(v, ",")
	}
	query := map[string]any{}
	for k, v := range req.URL.Query() {
		l := make([]any, len(v))
		for i, s := range v {
			l[i] = s
		}
		query[k] = l
	}
	event := map[string]any{
		"http_request": map[string]any{
			"body": decoded, "headers": headers, "method": req.Method, "query": query, "url": req.URL.Path,
		},
		"received_time": r.now().UTC().Format("2006-01-02T15:04:05.999999999Z07:00"),
		"type":          "HTTP",
	}
	raw, err := json.Marshal(event)
	if err != nil {
		writeCallbackError(w, http.StatusBadRequest, "cannot encode callback")
		return
	}
	status, msg := r.enqueueCallback(req, name, id, raw)
	if status != http.StatusOK {
		writeCallbackError(w, status, msg)
		return
	}
	r.logger.InfoContext(ctx, "callback received", "execution", name, "callback", id, "caller", email)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n"))
}

func (r *Runtime) enqueueCallback(req *http.Request, name, id string, raw json.RawMessage) (int, string) {
	ctx := req.Context()
	r.mu.Lock()
	x := r.execs[name]
	if x == nil {
		// Not running here (finished, or not resumed yet): queue it in the
		// store under the runtime lock so Resume cannot race it.
		defer r.mu.Unlock()
		rec, err := r.store.LoadExecution(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return http.StatusNotFound, "no such callback"
		}
		if err != nil {
			r.logger.ErrorContext(ctx, "load execution for callback", "error", err)
			return http.StatusInternalServerError, "internal error"
		}
		if status, msg := addToQueue(rec, id, req.Method, raw); status != http.StatusOK {
			return status, msg
		}
		if err := r.store.SaveExecution(ctx, rec); err != nil {
			r.logger.ErrorContext(ctx, "save callback", "error", err)
			return http.StatusInternalServerError, "internal error"
		}
		return http.StatusOK, ""
	}
	r.mu.Unlock()
	x.mu.Lock()
	status, msg := addToQueue(x.rec, id, req.Method, raw)
	if status == http.StatusOK {
		if err := r.store.SaveExecution(ctx, x.rec); err != nil {
			cb := x.rec.Callbacks[id]
			cb.Queue = cb.Queue[:len(cb.Queue)-1]
			x.mu.Unlock()
			r.logger.ErrorContext(ctx, "save callback", "error", err)
			return http.StatusInternalServerError, "internal error"
		}
	}
	x.mu.Unlock()
	if status == http.StatusOK {
		select {
		case x.wake <- struct{}{}:
		default:
		}
	}
	return status, msg
}

// maxQueuedCallbacks bounds how many undelivered requests one endpoint
// keeps.
const maxQueuedCallbacks = 16

func addToQueue(rec *ExecutionRecord, id, method string, raw json.RawMessage) (int, string) {
	if rec.State != StateActive {
		return http.StatusNotFound, "no such callback"
	}
	cb := rec.Callbacks[id]
	if cb == nil {
		return http.StatusNotFound, "no such callback"
	}
	if cb.Method != method {
		return http.StatusMethodNotAllowed, "this callback expects " + cb.Method
	}
	if len(cb.Queue) >= maxQueuedCallbacks {
		return http.StatusTooManyRequests, "too many undelivered callbacks"
	}
	cb.Queue = append(cb.Queue, raw)
	return http.StatusOK, ""
}

func writeCallbackError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}
