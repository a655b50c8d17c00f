package approval

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// quorumSession stores a held session needing min approvals from groups.
func (e *env) quorumSession(id string, min int, groups []string, all bool) *session.Session {
	e.t.Helper()
	s := e.heldSession(id, "SELECT email FROM demo.customers")
	got, err := e.store.Update(context.Background(), id, func(x *session.Session) error {
		x.Decision.MinApprovals = min
		x.Decision.ApproverGroups = groups
		x.Decision.AllGroupsMustApprove = all
		if len(groups) > 0 {
			x.Decision.ApproverGroup = groups[0]
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	_ = s
	return got
}

func withGroups(g StaticGroups) envOption {
	return func(_ *Config, d *Deps) { d.Groups = g }
}

// apiVote decides as approver through DecideAs with the session's hashes.
func (e *env) apiVote(approver, id, decision string) (Outcome, error) {
	e.t.Helper()
	ss := e.get(id)
	return e.svc.DecideAs(context.Background(), approver, id, APIDecision{Decision: decision, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)})
}

func refusalCode(err error) string {
	var ref *Refusal
	if errors.As(err, &ref) {
		return ref.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func decidedEvents(t *testing.T, ss *session.Session) []session.ApprovalDecidedData {
	t.Helper()
	var out []session.ApprovalDecidedData
	for _, ev := range ss.Timeline {
		if ev.Type != session.EventApprovalDecided {
			continue
		}
		p, err := ev.Payload()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.(session.ApprovalDecidedData))
	}
	return out
}

// TestQuorumTwoApprovals is issue 15's acceptance for min_approvals: 2.
func TestQuorumTwoApprovals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.quorumSession("qs_q1", 2, nil, false)
	e.notify("qs_q1")

	// The mail states the quorum and its progress.
	for _, m := range e.sink.Messages() {
		if m.To == "bob@example.com" && !strings.Contains(m.Text, "Progress:        0 of 2 approvals") {
			t.Errorf("mail to bob lacks the progress:\n%s", m.Text)
		}
	}

	// bob approves with his link: counted, still pending, no callback.
	approve, _ := e.links("bob@example.com", "qs_q1")
	b := newBrowser(t)
	p := b.Get(approve)
	res := b.submit(e, p, "approve", "ok by me")
	if res.Status != 200 || res.Code() != DecisionPending || !strings.Contains(res.Body, "1 of 2 approvals: bob@example.com") {
		t.Fatalf("first approval = %d %q:\n%s", res.Status, res.Code(), res.Body)
	}
	ss := e.get("qs_q1")
	if ss.Status != session.StatusPendingApproval || ss.Approval.Decision != "" || len(ss.Approval.Approvals) != 1 {
		t.Fatalf("after one approval: status %s, decision %q, approvals %v", ss.Status, ss.Approval.Decision, ss.Approval.Approvals)
	}
	if calls, _ := e.callback.Calls(); len(calls) != 0 {
		t.Fatalf("callback sent before the quorum: %v", calls)
	}
	version := ss.Version

	// The same approver again, by link or API, changes nothing.
	if again := b.submit(e, p, "approve", ""); again.Code() != "link_used" {
		t.Errorf("bob's link again = %q, want link_used", again.Code())
	}
	if _, err := e.apiVote("bob@example.com", "qs_q1", DecisionApprove); refusalCode(err) != "already_approved" {
		t.Errorf("bob through the API = %v, want already_approved", err)
	}
	if v := e.get("qs_q1").Version; v != version {
		t.Errorf("session version %d after repeated approvals, want %d", v, version)
	}

	// carol's page shows the progress; her approval runs it.
	capprove, _ := e.links("carol@example.com", "qs_q1")
	cb := newBrowser(t)
	cp := cb.Get(capprove)
	if !strings.Contains(cp.Body, `<dd id="progress">1 of 2 approvals: bob@example.com</dd>`) {
		t.Errorf("carol's page lacks the progress:\n%s", cp.Body)
	}
	out, err := e.apiVote("carol@example.com", "qs_q1", DecisionApprove)
	if err != nil || out.Decision != "approved" || out.Progress != "2 of 2 approvals: bob@example.com, carol@example.com" {
		t.Fatalf("second approval = %+v, %v", out, err)
	}
	calls, _ := e.callback.Calls()
	if diff := cmp.Diff([]CallbackBody{{Decision: "approved", Approver: "carol@example.com"}}, calls); diff != "" {
		t.Errorf("callbacks (-want, +got):\n%s", diff)
	}
	ss = e.get("qs_q1")
	want := []session.ApprovalDecidedData{
		{Decision: "approved", Comment: "ok by me", TokenID: ss.Approval.UsedTokens[0], Pending: true, Approvals: 1, Required: 2},
		{Decision: "approved", Via: "api", RunSHA256: RunHash(ss), Approvals: 2, Required: 2},
	}
	if diff := cmp.Diff(want, decidedEvents(t, ss)); diff != "" {
		t.Errorf("approval.decided events (-want, +got):\n%s", diff)
	}
	rd, err := e.svc.ReadDecision(context.Background(), "qs_q1")
	if err != nil || rd.Decision != "approved" {
		t.Errorf("ReadDecision = %+v, %v", rd, err)
	}
}

// TestQuorumApproveThenDeny: any deny rejects at once.
func TestQuorumApproveThenDeny(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.quorumSession("qs_q2", 2, nil, false)
	e.notify("qs_q2")
	if out, err := e.apiVote("bob@example.com", "qs_q2", DecisionApprove); err != nil || out.Decision != DecisionPending {
		t.Fatalf("approval = %+v, %v", out, err)
	}
	out, err := e.apiVote("carol@example.com", "qs_q2", DecisionDeny)
	if err != nil || out.Decision != "rejected" {
		t.Fatalf("deny = %+v, %v", out, err)
	}
	calls, _ := e.callback.Calls()
	if diff := cmp.Diff([]CallbackBody{{Decision: "rejected", Approver: "carol@example.com"}}, calls); diff != "" {
		t.Errorf("callbacks (-want, +got):\n%s", diff)
	}
	if _, err := e.apiVote("bob@example.com", "qs_q2", DecisionDeny); refusalCode(err) != "not_pending" {
		t.Errorf("decision after the deny = %v, want not_pending", err)
	}
}

// TestQuorumConcurrentApprovals: two approvals arriving together send
// exactly one callback, for a quorum of two and for a quorum of one.
func TestQuorumConcurrentApprovals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		min      int
		refusals int
	}{{"quorum of two", 2, 0}, {"quorum of one", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id := "qs_c" + string(rune('0'+tc.min))
			e.quorumSession(id, tc.min, nil, false)
			e.notify(id)
			ss := e.get(id)
			in := APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, who := range []string{"bob@example.com", "carol@example.com"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = e.svc.DecideAs(context.Background(), who, id, in)
				}()
			}
			close(start)
			wg.Wait()
			refused := 0
			for _, err := range errs {
				switch code := refusalCode(err); code {
				case "":
				case "not_pending":
					refused++
				default:
					t.Errorf("concurrent approval: %s", code)
				}
			}
			if refused != tc.refusals {
				t.Errorf("%d refusals, want %d", refused, tc.refusals)
			}
			calls, _ := e.callback.Calls()
			if len(calls) != 1 || calls[0].Decision != "approved" {
				t.Errorf("callbacks = %v, want exactly one approved", calls)
			}
			if got := e.get(id); got.Approval.Decision != "approved" || len(got.Approval.Approvals) != tc.min {
				t.Errorf("approval = %+v", got.Approval)
			}
		})
	}
}

// TestQuorumAllGroups: with all_groups_must_approve, two approvals from one
// group leave it pending until the other group approves.
func TestQuorumAllGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGroups(StaticGroups{
		"approvers": {"bob@example.com", "carol@example.com", "alice@example.com"},
		"security":  {"dave@example.com"},
	}))
	e.quorumSession("qs_g", 2, []string{"approvers", "security"}, true)
	e.notify("qs_g")
	ss := e.get("qs_g")
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com", "dave@example.com"}, ss.Approval.Approvers); diff != "" {
		t.Errorf("approvers (-want, +got):\n%s", diff)
	}
	e.apiVote("bob@example.com", "qs_g", DecisionApprove)
	out, err := e.apiVote("carol@example.com", "qs_g", DecisionApprove)
	if err != nil || out.Decision != DecisionPending ||
		out.Progress != "2 of 2 approvals: bob@example.com, carol@example.com; still needed from a member of security" {
		t.Fatalf("two approvals from one group = %+v, %v", out, err)
	}
	if out, err := e.apiVote("dave@example.com", "qs_g", DecisionApprove); err != nil || out.Decision != "approved" {
		t.Fatalf("security's approval = %+v, %v", out, err)
	}
	if calls, _ := e.callback.Calls(); len(calls) != 1 {
		t.Errorf("callbacks = %v, want one", calls)
	}
}

// TestQuorumUnreachable: a quorum larger than the eligible approvers is
// refused at notify, before anyone is mailed.
func TestQuorumUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.quorumSession("qs_u", 3, nil, false) // bob and carol only: alice asked
	_, err := e.svc.Notify(context.Background(), "qs_u", e.callback.URL+"/cb")
	if refusalCode(err) != "quorum_unreachable" {
		t.Fatalf("Notify = %v, want quorum_unreachable", err)
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d mails sent for an unreachable quorum", n)
	}
}

// TestAPIRules: the decisions API refuses self-approval, non-approvers
// (as not found), missing or stale hashes, and lists what waits.
func TestAPIRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.quorumSession("qs_a", 2, nil, false)
	e.notify("qs_a")
	ss := e.get("qs_a")
	ctx := context.Background()
	for _, tc := range []struct {
		name, who string
		in        APIDecision
		want      string
	}{
		{"self", "alice@example.com", APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}, "self_approval"},
		{"stranger", "mallory@example.com", APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}, "not_approver"},
		{"no identity", "", APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}, "not_approver"},
		{"no hashes", "bob@example.com", APIDecision{Decision: DecisionApprove}, "hash_required"},
		{"other sql", "bob@example.com", APIDecision{Decision: DecisionApprove, SQLSHA256: session.SQLHash("SELECT 1"), RunSHA256: RunHash(ss)}, "sql_changed"},
		{"other run", "bob@example.com", APIDecision{Decision: DecisionApprove, SQLSHA256: ss.SQLSHA256, RunSHA256: strings.Repeat("0", 64)}, "query_changed"},
		{"bad decision", "bob@example.com", APIDecision{Decision: "maybe", SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss)}, "bad_form"},
	} {
		if _, err := e.svc.DecideAs(ctx, tc.who, "qs_a", tc.in); refusalCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if v := e.get("qs_a"); v.Version != ss.Version {
		t.Errorf("refused decisions changed the session (version %d, want %d)", v.Version, ss.Version)
	}
	list, err := e.svc.Waiting(ctx, "bob@example.com")
	if err != nil || len(list) != 1 || list[0].SessionID != "qs_a" || list[0].RunSHA256 != RunHash(ss) || list[0].Progress != "0 of 2 approvals" {
		t.Fatalf("Waiting(bob) = %+v, %v", list, err)
	}
	if list, _ := e.svc.Waiting(ctx, "alice@example.com"); len(list) != 0 {
		t.Errorf("Waiting(requester) = %+v, want none", list)
	}
	e.apiVote("bob@example.com", "qs_a", DecisionApprove)
	if list, _ := e.svc.Waiting(ctx, "bob@example.com"); len(list) != 0 {
		t.Errorf("Waiting(bob) after his approval = %+v, want none", list)
	}
	if list, _ := e.svc.Waiting(ctx, "carol@example.com"); len(list) != 1 || list[0].Progress != "1 of 2 approvals: bob@example.com" {
		t.Errorf("Waiting(carol) = %+v", list)
	}
}
