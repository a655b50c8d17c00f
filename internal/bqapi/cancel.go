package bqapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/session"
)

// Withdrawer ends a held query at its requester's request
// (approval.Service.Withdraw): it reports false when the session was not
// waiting for approval.
type Withdrawer interface {
	Withdraw(ctx context.Context, sessionID string, by *session.Principal, reason string) (bool, error)
}

var (
	_ Withdrawer = (*approval.Service)(nil)
	_ Withdrawer = approval.RecordWithdrawal{}
)

// reasonStopped is BigQuery's reason for a job that was cancelled.
const reasonStopped = "stopped"

// cancelReason is the comment recorded with a withdrawal through jobs.cancel.
const cancelReason = "cancelled by the requester through BigQuery's jobs.cancel"

// cancelWait bounds how long jobs.cancel waits for a withdrawn job to end,
// so that its answer usually shows it DONE.
const cancelWait = 10 * time.Second

// cancel: POST /projects/{project}/jobs/{job}/cancel. As in BigQuery, a
// cancel is a request: a job that waits for approval is withdrawn (the
// session ends rejected, with a cancellation as its reason, and the job
// DONE with errorResult reason "stopped"); a job that is already running
// or finished goes on to its end and is returned as it is, for querygate
// never stops a BigQuery job half way through its record. Where the
// withdrawal cannot wake the workflow (approval.RecordWithdrawal, the
// cloud's Intake function), the job ends when its approval window closes;
// the answer, after at most cancelWait, shows it still RUNNING.
func (s *Server) cancel(c *call) *apiError {
	jobID := c.r.PathValue("job")
	sess, e := s.job(c, jobID)
	if e != nil {
		return e
	}
	if sess.Status == session.StatusPendingApproval && s.Withdraw != nil {
		ok, err := s.Withdraw.Withdraw(c.ctx(), sess.ID, c.p, cancelReason)
		var de *approval.DeliveryError
		switch {
		case errors.As(err, &de):
			// Recorded: the workflow reads it at the latest when its
			// approval window closes; a repeated cancel retries the wake-up.
			s.log().ErrorContext(c.ctx(), "jobs.cancel: withdrawal recorded, workflow not woken", "session_id", sess.ID, "error", de.Err.Error())
		case err != nil:
			s.log().ErrorContext(c.ctx(), "jobs.cancel: withdraw failed", "session_id", sess.ID, "error", err.Error())
			return &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the job could not be cancelled; retry later"}
		}
		if ok {
			s.log().InfoContext(c.ctx(), "bigquery jobs.cancel: held query withdrawn", "session_id", sess.ID)
			sess = s.wait(c.ctx(), sess, cancelWait, ended)
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"kind": "bigquery#jobCancelResponse",
		"job":  s.jobResource(c, sess, jobRef{ProjectID: c.project, JobID: jobID, Location: s.location(c.r.URL.Query().Get("location"))}),
	})
	return nil
}

// cancelled reports whether the session was rejected because its
// requester withdrew it (approval.ViaRequester).
func cancelled(sess *session.Session) bool {
	for i := len(sess.Timeline) - 1; i >= 0; i-- {
		e := sess.Timeline[i]
		if e.Type != session.EventApprovalDecided {
			continue
		}
		d, err := e.Payload()
		if err != nil {
			return false
		}
		ad, ok := d.(session.ApprovalDecidedData)
		return ok && ad.Decision == "rejected" && ad.Via == approval.ViaRequester
	}
	return false
}
