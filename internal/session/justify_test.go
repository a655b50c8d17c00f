package session_test

import (
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// TestJustifyPayloadEncoding pins the encodings issue 15 added: the
// break-glass event, and session.received with a justification. An older
// session.received (no justification, no break-glass) keeps its bytes, so
// stored events still verify.
func TestJustifyPayloadEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    session.Payload
		want string
	}{
		{session.BreakGlassData{Principal: "oc@example.com", Groups: []string{"oncall"}, RuleIDs: []string{"r", "builtin.break_glass"},
			Justification: "incident <4711>", ReviewGroup: "approvers"},
			`{"principal":"oc@example.com","groups":["oncall"],"rule_ids":["r","builtin.break_glass"],"justification":"incident \u003c4711\u003e","review_group":"approvers"}`},
		{session.ReceivedData{Agent: "a", Model: "m", SQLSHA256: "ab"}, `{"agent":"a","model":"m","sql_sha256":"ab"}`},
		{session.ReceivedData{Agent: "a", Model: "m", SQLSHA256: "ab", Justification: "why", BreakGlass: true},
			`{"agent":"a","model":"m","sql_sha256":"ab","justification":"why","break_glass":true}`},
	} {
		got := string(session.EncodePayload(tc.p))
		if got != tc.want {
			t.Errorf("EncodePayload(%T) = %s, want %s", tc.p, got, tc.want)
		}
		back, err := session.DecodePayload(tc.p.EventType(), []byte(got))
		if err != nil {
			t.Errorf("DecodePayload(%s): %v", tc.p.EventType(), err)
		} else if b := string(session.EncodePayload(back)); b != tc.want {
			t.Errorf("round trip of %s = %s", tc.p.EventType(), b)
		}
	}
}
