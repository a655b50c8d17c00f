package session_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// FuzzDecodePayload feeds arbitrary data to the event payload decoder,
// which reads audit rows and stored events back. It must never panic, and
// it accepts only the canonical encoding: whatever it accepts, EncodePayload
// gives back byte for byte. The legacy path (Event.Payload and EventHash of
// an event without a hash version) must not panic either.
func FuzzDecodePayload(f *testing.F) {
	types := session.EventTypes()
	seeds := []session.Payload{
		session.ReceivedData{Agent: "claude-code", Model: "m1", SQLSHA256: "ab", Groups: []string{"analysts"}},
		session.PolicyDecidedData{Action: "allow", RuleIDs: []string{"r1"}, EstimatedBytes: 1<<53 + 1},
		session.PolicyDecidedData{Action: "allow", Columns: []session.DecisionColumn{{Name: "c", Lineage: []string{"p.d.t.c"}, Derived: true,
			Classes: []session.ColumnClass{{Column: "p.d.t.c", InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, SampledRows: 9, NonNull: 9, Matches: 3}}}}, ColumnsOmitted: 2},
		session.ResultMaskedData{Rows: 3, Findings: map[string]int64{"EMAIL_ADDRESS": 2}, MaskedColumns: []string{"email"}},
		session.FailedData{Status: "failed", Error: "a < b & \u2028"},
		session.BreakGlassData{Principal: "oc@example.com", Groups: []string{"oncall"}, Justification: "incident <1>", ReviewGroup: "approvers"},
	}
	for _, p := range seeds {
		for i, typ := range types {
			if typ == p.EventType() {
				f.Add(uint8(i), []byte(session.EncodePayload(p)))
			}
		}
	}
	f.Add(uint8(0), []byte(`{"decision":"approved","comment":"","token_id":"t","extra":1}`))
	f.Add(uint8(4), []byte(`{"job_id":"j","bytes_processed":1e400}`))
	f.Add(uint8(9), []byte(`null`))
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := types[int(ti)%len(types)]
		p, err := session.DecodePayload(typ, data)
		if err != nil {
			if !errors.Is(err, session.ErrInvalidEvent) {
				t.Fatalf("DecodePayload error %v does not wrap ErrInvalidEvent", err)
			}
		} else {
			if p.EventType() != typ {
				t.Fatalf("DecodePayload(%s) returned a %s payload", typ, p.EventType())
			}
			if enc := session.EncodePayload(p); !bytes.Equal(enc, data) {
				t.Fatalf("accepted %q, which encodes back as %q", data, enc)
			}
		}
		for _, v := range []int{session.HashVersionLegacy, session.HashVersionTyped, 7} {
			e := session.Event{Seq: 1, Type: typ, Time: time.Unix(0, 0), Data: data, PrevHash: session.GenesisHash, HashVersion: v}
			_, _ = e.Payload()
			if h := session.EventHash("s", e); h != "" && len(h) != 64 {
				t.Fatalf("EventHash = %q", h)
			}
		}
	})
}
