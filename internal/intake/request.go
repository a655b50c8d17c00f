package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/session"
)

// QueryRequest is the body of POST /v1/queries.
type QueryRequest struct {
	SQL            string              `json:"sql"`
	Prompt         string              `json:"prompt"`
	ConversationID string              `json:"conversation_id"`
	Agent          session.Agent       `json:"agent"`
	DefaultDataset string              `json:"default_dataset"`
	Parameters     []session.Parameter `json:"parameters"`
	WaitSeconds    *int                `json:"wait_seconds"`
	// Justification says why the query is needed (shown to approvers,
	// recorded); BreakGlass asks to run a query that would wait for
	// approval at once (justification.go, docs/policy.md).
	Justification string `json:"justification"`
	BreakGlass    bool   `json:"break_glass"`
}

// Limits on request fields.
const (
	MaxBodyBytes   = 1 << 20
	MaxSQLBytes    = 256 << 10
	MaxPromptBytes = 256 << 10
	MaxWaitSeconds = 300
	DefaultWait    = 30
	maxIDLen       = 256
	maxParams      = 100
)

// BadRequestError is the caller's mistake; its message tells the agent what
// to change.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func bad(format string, a ...any) error { return &BadRequestError{Msg: fmt.Sprintf(format, a...)} }

// DecodeQueryRequest parses and validates a request body. Errors are
// *BadRequestError with a message for the agent.
func DecodeQueryRequest(body []byte) (*QueryRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req QueryRequest
	if err := dec.Decode(&req); err != nil {
		return nil, explainJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad("body must hold exactly one JSON object")
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

func explainJSON(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return bad("body is empty: send a JSON object with at least \"sql\"")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("body is truncated JSON")
	case errors.As(err, &se):
		return bad("body is not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return bad("body must be a JSON object")
		}
		return bad("field %q must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return bad("unknown field %s; allowed: sql, prompt, conversation_id, agent, default_dataset, parameters, wait_seconds, justification, break_glass",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return bad("body is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "an integer"
	case "bool":
		return "a boolean"
	}
	return "of another type"
}

func (r *QueryRequest) validate() error {
	switch {
	case strings.TrimSpace(r.SQL) == "":
		return bad("field \"sql\" is required and must not be empty")
	case len(r.SQL) > MaxSQLBytes:
		return bad("field \"sql\" is longer than %d bytes", MaxSQLBytes)
	case len(r.Prompt) > MaxPromptBytes:
		return bad("field \"prompt\" is longer than %d bytes", MaxPromptBytes)
	case !utf8.ValidString(r.SQL) || !utf8.ValidString(r.Prompt):
		return bad("\"sql\" and \"prompt\" must be valid UTF-8")
	case len(r.ConversationID) > maxIDLen || len(r.Agent.Name) > maxIDLen || len(r.Agent.Model) > maxIDLen:
		return bad("conversation_id, agent.name and agent.model must be at most %d bytes", maxIDLen)
	case len(r.Parameters) > maxParams:
		return bad("at most %d parameters", maxParams)
	}
	for _, f := range []struct {
		name, v string
		emoji   bool
	}{{"sql", r.SQL, false}, {"prompt", r.Prompt, true}} {
		if at, c, ok := invisibleRune(f.v, f.emoji); ok {
			return bad("%s contains U+%04X at byte %d; remove invisible or bidirectional control characters", f.name, c, at)
		}
	}
	single := []struct{ name, v string }{
		{"conversation_id", r.ConversationID},
		{"agent.name", r.Agent.Name},
		{"agent.model", r.Agent.Model},
	}
	for i, p := range r.Parameters {
		single = append(single, struct{ name, v string }{fmt.Sprintf("parameters[%d].name", i), p.Name},
			struct{ name, v string }{fmt.Sprintf("parameters[%d].type", i), p.Type})
	}
	for _, f := range single {
		if at, c, ok := lineBreakOrControl(f.v); ok {
			return bad("%s contains U+%04X at byte %d; it must be a single line without control, line-break or invisible characters", f.name, c, at)
		}
	}
	if r.DefaultDataset != "" && !validDataset(r.DefaultDataset) {
		return bad("default_dataset must be \"dataset\" or \"project.dataset\" (letters, digits, _ and -)")
	}
	for i, p := range r.Parameters {
		if p.Name == "" || len(p.Name) > 128 || len(p.Value) == 0 {
			return bad("parameters[%d] needs a \"name\" and a \"value\"", i)
		}
	}
	if r.WaitSeconds != nil && (*r.WaitSeconds < 0 || *r.WaitSeconds > MaxWaitSeconds) {
		return bad("wait_seconds must be between 0 and %d", MaxWaitSeconds)
	}
	return r.checkJustification()
}

// invisibleRune finds the first invisible format character (category Cf:
// bidi controls U+202A-U+202E and U+2066-U+2069, zero-width characters
// U+200B-U+200F, U+FEFF and the rest), which can make the SQL or prompt an
// approver reads differ from what runs. With emoji set (the prompt, free
// text) the zero-width joiner U+200D and the soft hyphen U+00AD pass: emoji
// sequences need the joiner, and neither reorders or hides text the way
// bidi controls do. The SQL allows neither.
func invisibleRune(s string, emoji bool) (at int, c rune, found bool) {
	for i, c := range s {
		if emoji && (c == '\u200D' || c == '\u00AD') {
			continue
		}
		if unicode.Is(unicode.Cf, c) {
			return i, c, true
		}
	}
	return 0, 0, false
}

// lineBreakOrControl finds the first character a single-line field must not
// hold: control characters (CR, LF, tab and the rest of Cc), line and
// paragraph separators, and invisible format characters.
func lineBreakOrControl(s string) (at int, c rune, found bool) {
	for i, c := range s {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
			return i, c, true
		}
	}
	return 0, 0, false
}

func validDataset(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 1024 {
			return false
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Wait returns the requested wait in seconds.
func (r *QueryRequest) Wait() int {
	if r.WaitSeconds == nil {
		return DefaultWait
	}
	return *r.WaitSeconds
}
