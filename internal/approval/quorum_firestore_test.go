package approval

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/testing/firestoreemu"
)

// TestQuorumConcurrentApprovalsFirestore repeats the two-approvers-at-once
// check on the Firestore session and state stores (the npm emulator): the
// session store's version marker, created with an exists=false
// precondition, makes one of two concurrent updates retry, so the quorum
// is counted once and exactly one callback is sent.
func TestQuorumConcurrentApprovalsFirestore(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			e := newEnv(t)
			opts, err := emu.ClientOptions()
			if err != nil {
				t.Fatal(err)
			}
			st, err := session.OpenFirestore(t.Context(), fmt.Sprintf("querygate-quorum-test-%d", fsProject.Add(1)), "", opts...)
			if err != nil {
				t.Fatal(err)
			}
			// The npm emulator needs version markers to serialize
			// concurrent Updates (session.Firestore's comment).
			st.UseVersionMarkers()
			t.Cleanup(func() { st.Close() })
			e.store, e.state = st, openEmulatorState(t, emu)
			e.svc, err = New(Config{PublicBaseURL: e.srv.URL, DefaultTTL: time.Hour}, Deps{
				Store: e.store, State: e.state, Keys: e.keys,
				Groups:  StaticGroups{"approvers": {"bob@example.com", "carol@example.com"}},
				Mailer:  e.mailer,
				IDToken: func(context.Context, string) (string, error) { return "tok", nil },
				Now:     e.clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			e.quorumSession("qs_fc", 2, nil, false)
			e.notify("qs_fc")
			ss := e.get("qs_fc")
			in := APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, who := range []string{"bob@example.com", "carol@example.com"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = e.svc.DecideAs(context.Background(), who, "qs_fc", in)
				}()
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Errorf("concurrent approval: %v", err)
				}
			}
			calls, _ := e.callback.Calls()
			if len(calls) != 1 || calls[0].Decision != "approved" {
				t.Errorf("callbacks = %v, want exactly one approved", calls)
			}
			if got := e.get("qs_fc"); got.Approval.Decision != "approved" || len(got.Approval.Approvals) != 2 {
				t.Errorf("approval = %+v", got.Approval)
			}
		})
	}
}
