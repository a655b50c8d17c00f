package approval

import (
	"errors"
	"net/http"
)

// Sentinel errors of package approval.
var (
	// ErrNotFound means the state store has no record for the session.
	ErrNotFound = errors.New("approval request not found")
	// ErrUnknownKey means no signing key has the token's key id.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadToken means the link token is malformed or its signature does
	// not verify.
	ErrBadToken = errors.New("invalid approval link")
	// ErrUnknownGroup means the Groups port does not know the group.
	ErrUnknownGroup = errors.New("unknown approver group")
)

// Refusal is a caller-side reason not to show or decide: the page renders
// Title and Detail with Status, and nothing was changed.
type Refusal struct {
	Status int
	Code   string // stable machine code, e.g. "link_used"
	Title  string
	Detail string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Title }

// The refusals the page can show. Their codes are stable; tests and the
// page's data-code attribute key on them.
var (
	refuseBadToken = &Refusal{http.StatusBadRequest, "link_invalid", "This approval link is not valid",
		"The link is damaged or was not issued by querygate. Open the link from the approval email again, without changing it."}
	refuseExpired = &Refusal{http.StatusGone, "link_expired", "This approval link has expired",
		"The approval window for this query has closed. The agent has to submit the query again to request a new approval."}
	refuseUsed = &Refusal{http.StatusConflict, "link_used", "This approval link was already used",
		"Each link works once. The decision made with it stands."}
	refuseNotPending = &Refusal{http.StatusConflict, "not_pending", "This query is no longer waiting for approval",
		"Someone has already decided, the request expired, or the session ended. Nothing was changed."}
	refuseWrongSession = &Refusal{http.StatusBadRequest, "wrong_session", "This link belongs to another query",
		"The link and the form refer to different sessions. Open the link from the approval email again."}
	refuseSelf = &Refusal{http.StatusForbidden, "self_approval", "You cannot approve your own query",
		"The requester of a query cannot decide on it. Another member of the approver group has to decide."}
	refuseNotApprover = &Refusal{http.StatusForbidden, "not_approver", "You are not an approver of this query",
		"This link was issued to someone who is not among the approvers asked for this query."}
	refuseSQLChanged = &Refusal{http.StatusConflict, "sql_changed", "The SQL changed after this link was sent",
		"The query text no longer matches the one you were asked to approve. Nothing was decided."}
	refuseRunChanged = &Refusal{http.StatusConflict, "query_changed", "The query changed after this link was sent",
		"The default dataset or the parameter values no longer match the ones you were asked to approve. Nothing was decided."}
	refuseCSRF = &Refusal{http.StatusForbidden, "csrf", "The form could not be verified",
		"The form is missing its security token or it does not match this browser. Open the link from the approval email again and use the buttons on that page."}
	refuseBadForm = &Refusal{http.StatusBadRequest, "bad_form", "The form is incomplete",
		"Choose Approve or Deny on the approval page. The comment may hold at most 2000 characters."}
	refuseWrongDecision = &Refusal{http.StatusBadRequest, "wrong_decision", "This link cannot make that decision",
		"Each approval email has an Approve link and a Deny link, and each can only make its own decision. Nothing was changed. Open the other link from the email to decide the other way."}
	refuseIAP = &Refusal{http.StatusForbidden, "iap", "Sign-in required as the approver",
		"This deployment requires that you are signed in through Identity-Aware Proxy as the email address the link was sent to."}
	refuseMethod = &Refusal{http.StatusMethodNotAllowed, "method", "Method not allowed",
		"Open the approval page with the link from the email; decisions are made with its buttons."}
	refuseAlreadyApproved = &Refusal{http.StatusConflict, "already_approved", "You have already approved this query",
		"Each approver counts once towards the quorum. Your approval stands; the query waits for other approvers. Nothing was changed."}
	refuseNotFound = &Refusal{http.StatusNotFound, "not_found", "Query not found",
		"No session matches this link."}
)
