package approval

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/querygate/querygate/internal/session"
)

// progress is how far a session's approval quorum got.
type progress struct {
	Count    int      // distinct approvers counted
	Required int      // distinct approvers needed, at least 1
	Names    []string // the approvers counted, in order
	// Missing lists the groups still without an approval, when every
	// group must approve.
	Missing []string
}

// Met reports whether the quorum is reached.
func (p progress) Met() bool { return p.Count >= p.Required && len(p.Missing) == 0 }

// String renders the progress for people: "1 of 2 approvals: a@x.com",
// followed by the groups still missing an approval.
func (p progress) String() string {
	noun := "approvals"
	if p.Required == 1 {
		noun = "approval"
	}
	s := fmt.Sprintf("%d of %d %s", p.Count, p.Required, noun)
	if len(p.Names) > 0 {
		s += ": " + strings.Join(p.Names, ", ")
	}
	if len(p.Missing) > 0 {
		s += "; still needed from a member of " + strings.Join(p.Missing, ", ")
	}
	return s
}

// quorumOf computes the progress of ap. Only approvers on ap.Approvers
// count, each once, so a record changed behind the service's back cannot
// lower the bar. An approver who sits in two groups covers both, but still
// counts once towards Required.
func quorumOf(ap *session.Approval) progress {
	p := progress{Required: max(ap.MinApprovals, 1)}
	for _, v := range ap.Approvals {
		if !slices.Contains(ap.Approvers, v.Approver) || slices.Contains(p.Names, v.Approver) {
			continue
		}
		p.Names = append(p.Names, v.Approver)
	}
	p.Count = len(p.Names)
	if ap.AllGroupsMustApprove {
		for _, g := range ap.Members {
			if !slices.ContainsFunc(p.Names, func(n string) bool { return slices.Contains(g.Approvers, n) }) {
				p.Missing = append(p.Missing, g.Group)
			}
		}
	}
	return p
}

// requirement describes the quorum a session needs, for the mail and the
// page: "2 distinct approvers" or "1 approver from each of: a, b".
func requirement(ap *session.Approval) string {
	n := max(ap.MinApprovals, 1)
	s := fmt.Sprintf("%d distinct approver", n)
	if n > 1 {
		s += "s"
	}
	if ap.AllGroupsMustApprove && len(ap.Groups) > 0 {
		s += ", including one member of each of: " + strings.Join(ap.Groups, ", ")
	}
	return s
}

// unreachable reports why a quorum can never be met with the eligible
// approvers, or nil. Notify refuses such a request at once, so the agent
// learns now rather than at expiry.
func unreachable(ap *session.Approval) *Refusal {
	if len(ap.Approvers) < max(ap.MinApprovals, 1) {
		return &Refusal{http.StatusUnprocessableEntity, "quorum_unreachable", "not enough eligible approvers",
			fmt.Sprintf("The rule needs %d distinct approvers but the approver groups have %d eligible members besides the requester.", max(ap.MinApprovals, 1), len(ap.Approvers))}
	}
	if ap.AllGroupsMustApprove {
		for _, g := range ap.Members {
			if len(g.Approvers) == 0 {
				return &Refusal{http.StatusUnprocessableEntity, "quorum_unreachable", "an approver group has no eligible member",
					"Every approver group must approve, but group " + g.Group + " has no member other than the requester."}
			}
		}
	}
	return nil
}
