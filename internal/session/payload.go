package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Payload is the typed data of one event type; each event type has exactly
// one payload struct, listed in payloadTypes. The structs of this package
// are the only implementations. Their JSON keys are part of the audit
// contract: never rename one. Payloads hold ids, counts and names, never
// result cell values.
type Payload interface {
	// EventType is the type of the events that carry this payload.
	EventType() EventType
	payload()
}

// ReceivedData is the payload of session.received: the agent's request as
// intake accepted it.
type ReceivedData struct {
	Agent     string   `json:"agent"`
	Model     string   `json:"model"`
	SQLSHA256 string   `json:"sql_sha256"`
	Groups    []string `json:"groups,omitempty"`
	// The front door and the client's job reference, for requests that
	// came through BigQuery's REST API (empty for /v1 and MCP).
	FrontDoor string `json:"front_door,omitempty"`
	Method    string `json:"method,omitempty"`
	Project   string `json:"project,omitempty"`
	JobID     string `json:"job_id,omitempty"`
	Location  string `json:"location,omitempty"`
	// Justification and BreakGlass are what the agent declared; omitted
	// when empty, so events written before them encode as they did.
	Justification string `json:"justification,omitempty"`
	BreakGlass    bool   `json:"break_glass,omitempty"`
}

// PolicyDecidedData is the payload of policy.decided.
type PolicyDecidedData struct {
	Action         string   `json:"action"`
	RuleIDs        []string `json:"rule_ids,omitempty"`
	Reasons        []string `json:"reasons,omitempty"`
	AnalysisPath   string   `json:"analysis_path"`
	EstimatedBytes int64    `json:"estimated_bytes"`
	ApproverGroup  string   `json:"approver_group"`
	// Columns are the decision's per-column facts (FitDecisionColumns
	// bounds them; ColumnsOmitted counts the columns left out). Both are
	// omitted when empty, so events written before them encode, and
	// verify, exactly as they did.
	Columns        []DecisionColumn `json:"columns,omitempty"`
	ColumnsOmitted int64            `json:"columns_omitted,omitempty"`
}

// ApprovalRequestedData is the payload of approval.requested. ExpiresAt is
// RFC 3339 in UTC.
type ApprovalRequestedData struct {
	Group     string   `json:"group"`
	Approvers []string `json:"approvers,omitempty"`
	ExpiresAt string   `json:"expires_at"`
	// The quorum, when more than one approval or group is asked for;
	// omitted when zero, so older events encode as they did.
	MinApprovals         int64    `json:"min_approvals,omitempty"`
	Groups               []string `json:"groups,omitempty"`
	AllGroupsMustApprove bool     `json:"all_groups_must_approve,omitempty"`
}

// ApprovalDecidedData is the payload of approval.decided: one approver's
// decision. With a quorum every approval is an event; Pending is true on
// those that counted without meeting the quorum, so the session still
// waits, and Approvals of Required says how far it got. The fields after
// TokenID are omitted when zero, so events written before them encode,
// and verify, exactly as they did.
type ApprovalDecidedData struct {
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
	TokenID  string `json:"token_id"`
	// Via is "api" for the decisions API; empty for the mailed link.
	Via string `json:"via,omitempty"`
	// RunSHA256 is the run hash the approver named through the API.
	RunSHA256 string `json:"run_sha256,omitempty"`
	Pending   bool   `json:"pending,omitempty"`
	Approvals int64  `json:"approvals,omitempty"`
	Required  int64  `json:"required,omitempty"`
}

// ApprovalExpiredData is the payload of approval.expired. ExpiresAt is
// RFC 3339 in UTC.
type ApprovalExpiredData struct {
	ExpiresAt string `json:"expires_at"`
}

// QueryStartedData is the payload of query.started.
type QueryStartedData struct {
	JobID string `json:"job_id"`
}

// QueryFinishedData is the payload of query.finished.
type QueryFinishedData struct {
	JobID          string `json:"job_id"`
	BytesProcessed int64  `json:"bytes_processed"`
}

// ResultMaskedData is the payload of result.masked. Findings counts the
// de-identifier's findings per infoType.
type ResultMaskedData struct {
	Rows          int64            `json:"rows"`
	TotalRows     int64            `json:"total_rows"`
	Pages         int64            `json:"pages"`
	MaskedColumns []string         `json:"masked_columns,omitempty"`
	Findings      map[string]int64 `json:"findings,omitempty"`
	Truncated     bool             `json:"truncated"`
	// InspectedCells counts, per column, the cells content inspection
	// changed besides the columns masked whole (issue 10 finding 8).
	InspectedCells map[string]int64 `json:"inspected_cells,omitempty"`
}

// ReidentifiedData is the payload of result.reidentified: which page was
// re-identified and how many rows it held.
type ReidentifiedData struct {
	Page int64 `json:"page"`
	Rows int64 `json:"rows"`
}

// FailedData is the payload of session.failed. Error must already be
// scrubbed of values.
type FailedData struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// CompletedData is the payload of session.completed.
type CompletedData struct {
	Status string `json:"status"`
}

func (ReceivedData) EventType() EventType          { return EventReceived }
func (PolicyDecidedData) EventType() EventType     { return EventPolicyDecided }
func (ApprovalRequestedData) EventType() EventType { return EventApprovalRequested }
func (ApprovalDecidedData) EventType() EventType   { return EventApprovalDecided }
func (ApprovalExpiredData) EventType() EventType   { return EventApprovalExpired }
func (QueryStartedData) EventType() EventType      { return EventQueryStarted }
func (QueryFinishedData) EventType() EventType     { return EventQueryFinished }
func (ResultMaskedData) EventType() EventType      { return EventResultMasked }
func (ReidentifiedData) EventType() EventType      { return EventReidentified }
func (FailedData) EventType() EventType            { return EventFailed }
func (CompletedData) EventType() EventType         { return EventCompleted }

func (ReceivedData) payload()          {}
func (PolicyDecidedData) payload()     {}
func (ApprovalRequestedData) payload() {}
func (ApprovalDecidedData) payload()   {}
func (ApprovalExpiredData) payload()   {}
func (QueryStartedData) payload()      {}
func (QueryFinishedData) payload()     {}
func (ResultMaskedData) payload()      {}
func (ReidentifiedData) payload()      {}
func (FailedData) payload()            {}
func (CompletedData) payload()         {}

// payloadTypes maps every event type to the decoder of its payload.
var payloadTypes = map[EventType]func(data []byte, strict bool) (Payload, error){
	EventReceived:          decodeAs[ReceivedData],
	EventPolicyDecided:     decodeAs[PolicyDecidedData],
	EventApprovalRequested: decodeAs[ApprovalRequestedData],
	EventApprovalDecided:   decodeAs[ApprovalDecidedData],
	EventApprovalExpired:   decodeAs[ApprovalExpiredData],
	EventQueryStarted:      decodeAs[QueryStartedData],
	EventQueryFinished:     decodeAs[QueryFinishedData],
	EventResultMasked:      decodeAs[ResultMaskedData],
	EventReidentified:      decodeAs[ReidentifiedData],
	EventFailed:            decodeAs[FailedData],
	EventCompleted:         decodeAs[CompletedData],
	EventBreakGlass:        decodeAs[BreakGlassData],
}

// EventTypes returns every event type, sorted.
func EventTypes() []EventType {
	out := make([]EventType, 0, len(payloadTypes))
	for t := range payloadTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// EncodePayload returns the canonical encoding of p, the one place where
// event data is encoded: JSON with the struct's fields in declaration
// order, map keys sorted, integers as exact decimal integers (an int64
// above 2^53 keeps every digit), encoding/json's escaping. These are the
// bytes stored as Event.Data, hashed by EventHash and written to the audit
// table's data column.
func EncodePayload(p Payload) json.RawMessage {
	b, err := json.Marshal(p)
	if err != nil {
		// The payload structs hold strings, integers, booleans and
		// slices or maps of those: encoding cannot fail.
		panic(fmt.Sprintf("session: encode %s payload: %v", p.EventType(), err))
	}
	return b
}

// DecodePayload decodes data as the payload of event type typ and accepts
// it only when it is exactly the canonical encoding of that payload: a key
// the payload does not have, a value of the wrong type, trailing data or
// any other spelling (whitespace, key order, escapes) fails with
// ErrInvalidEvent. The error names keys and types, never values.
func DecodePayload(typ EventType, data []byte) (Payload, error) {
	dec, ok := payloadTypes[typ]
	if !ok {
		return nil, fmt.Errorf("%w: unknown event type %.64q", ErrInvalidEvent, string(typ))
	}
	return dec(data, true)
}

// Payload returns the typed payload of e. Events written before typed
// payloads (HashVersion 0) are decoded leniently, since their data was a
// free map; every other event must hold the canonical encoding.
func (e Event) Payload() (Payload, error) {
	dec, ok := payloadTypes[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown event type %.64q", ErrInvalidEvent, string(e.Type))
	}
	if e.HashVersion == HashVersionLegacy && len(e.Data) == 0 {
		return dec([]byte("{}"), false)
	}
	return dec(e.Data, e.HashVersion != HashVersionLegacy)
}

func decodeAs[T Payload](data []byte, strict bool) (Payload, error) {
	var v T
	typ := v.EventType()
	d := json.NewDecoder(bytes.NewReader(data))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s data: %v", ErrInvalidEvent, typ, describeJSONError(err))
	}
	if err := d.Decode(&struct{}{}); err != io.EOF {
		return nil, fmt.Errorf("%w: %s data: trailing data after the object", ErrInvalidEvent, typ)
	}
	if strict && !bytes.Equal(EncodePayload(v), data) {
		return nil, fmt.Errorf("%w: %s data is not in canonical form (EncodePayload)", ErrInvalidEvent, typ)
	}
	return v, nil
}

// describeJSONError keeps what an encoding/json error says about keys and
// types and drops anything that could quote a value.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		// Value reads "number 12.5" for numbers: keep the kind only.
		kind, _, _ := strings.Cut(typeErr.Value, " ")
		return fmt.Sprintf("key %.64q holds a JSON %s, want %s", typeErr.Field, kind, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at offset %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// DisallowUnknownFields reports `json: unknown field "name"`: a key,
	// which is ours to name; anything else is summarized.
	if msg := err.Error(); len(msg) < 128 && strings.HasPrefix(msg, `json: unknown field "`) {
		return msg[len("json: "):]
	}
	return "not a JSON object of the payload's shape"
}
