package steps

import (
	"context"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// RecordInput is the workflow's final word on a session.
type RecordInput struct {
	SessionID string
	Outcome   session.Status
	Error     string
	// ExpectLastSeq, when set, is the seq of the last event the caller
	// (internal/reconcile) saw: Record refuses with ErrRecordInProgress if
	// the session has changed since, because another attempt is ending it.
	ExpectLastSeq int64
}

// RecordResult is the status the session ended with.
type RecordResult struct {
	Status session.Status `json:"status"`
}

// maxErrorLen bounds the error text a workflow may record.
const maxErrorLen = 500

// Record ends the session: it sets the final status and makes every event
// durable in the audit dataset. The status is committed only after the
// audit write succeeds, and the agent sees rows only once the status is
// succeeded, so no result is released unaudited (fail closed). It is
// idempotent: a retry of an ended session re-writes the (deduplicated)
// audit rows and returns the status.
func (s *Steps) Record(ctx context.Context, in RecordInput) (*RecordResult, error) {
	if !in.Outcome.Terminal() {
		return nil, permanent(http.StatusBadRequest, "outcome must be one of succeeded, denied, rejected, expired, failed")
	}
	sess, err := s.getSession(ctx, in.SessionID)
	if err != nil {
		return nil, err
	}
	if in.ExpectLastSeq != 0 && lastSeq(sess) != in.ExpectLastSeq {
		return nil, &StepError{Code: http.StatusServiceUnavailable, Msg: "store final events: another attempt is ending the session", Err: ErrRecordInProgress}
	}
	if sess.Status.Terminal() {
		if err := s.writeRetry(ctx, sess); err != nil {
			return nil, transient("write audit", err)
		}
		// A retry after a crash between ending the session and cleaning up.
		s.deleteResult(ctx, sess.Execution)
		if err := s.settle(ctx, sess); err != nil {
			return nil, err
		}
		return &RecordResult{Status: sess.Status}, nil
	}
	// 1. Append the final events, status still open. A retry after a crash
	// finds them and reuses them, so the audit rows it already wrote match.
	retry := finalStatus(sess) != ""
	if !retry {
		now, l := s.now(), s.limits()
		appended := false
		sess, err = s.store().Update(ctx, in.SessionID, func(x *session.Session) error {
			appended = false // the store may run fn again
			if finalStatus(x) != "" || x.Status.Terminal() {
				return nil
			}
			*x = *finalize(x, in, now, l)
			appended = true
			return nil
		})
		if err != nil {
			return nil, transient("store final events", err)
		}
		if !appended {
			// Another attempt (a reconciler pass) appended them between
			// our read and our update and is writing their audit rows:
			// writing them here too could give an event a second row.
			return nil, &StepError{Code: http.StatusServiceUnavailable, Msg: "store final events: another attempt is ending the session", Err: ErrRecordInProgress}
		}
	}
	// 2. Make every event durable in the audit dataset.
	write := s.audit().WriteSession
	if retry {
		write = s.writeRetry
	}
	if err := write(ctx, sess); err != nil {
		return nil, transient("write audit", err)
	}
	// 3. Only now end the session: the agent sees rows only once the status
	// is succeeded.
	status := finalStatus(sess)
	if status == "" {
		status = sess.Status
	}
	sess, err = s.store().Update(ctx, in.SessionID, func(x *session.Session) error {
		if !x.Status.Terminal() {
			x.Status = status
		}
		return nil
	})
	if err != nil {
		return nil, transient("store final status", err)
	}
	// The session is over and its answer released: the job's unmasked
	// result is no longer needed by any step or retry.
	s.deleteResult(ctx, sess.Execution)
	if err := s.settle(ctx, sess); err != nil {
		return nil, err
	}
	return &RecordResult{Status: sess.Status}, nil
}

// lastSeq is the seq of the session's last event, 0 if it has none.
func lastSeq(s *session.Session) int64 {
	if len(s.Timeline) == 0 {
		return 0
	}
	return s.Timeline[len(s.Timeline)-1].Seq
}

// writeRetry writes the audit rows of a session an earlier attempt of this
// step may have written in part: through WriteRemaining when the auditor
// has it, so no event gets a second row.
func (s *Steps) writeRetry(ctx context.Context, sess *session.Session) error {
	if ra, ok := s.audit().(RetryAuditor); ok {
		return ra.WriteRemaining(ctx, sess)
	}
	return s.audit().WriteSession(ctx, sess)
}

// ResultDeleter is implemented by a Warehouse that can delete the result a
// job left behind (warehouse.BigQuery.DeleteResult).
type ResultDeleter interface {
	DeleteResult(ctx context.Context, jobID, location, resultsDataset string) error
}

// deleteResult removes the job's unmasked per-job result once the session
// has ended. It is best effort: a failure is logged (without values) and
// never fails the step, since the answer is already released or refused.
func (s *Steps) deleteResult(ctx context.Context, ex *session.Execution) {
	d, ok := s.Warehouse.(ResultDeleter)
	if !ok || ex == nil || ex.JobID == "" {
		return
	}
	if err := d.DeleteResult(ctx, ex.JobID, ex.Location, s.ResultsDataset); err != nil {
		s.log(ctx).Warn("delete job result failed", "job_id", ex.JobID, "error", err.Error())
	}
}

// finalStatus returns the status named by the session's closing event, or
// "" when it has none yet.
func finalStatus(s *session.Session) session.Status {
	if n := len(s.Timeline); n > 0 {
		e := s.Timeline[n-1]
		if e.Type == session.EventCompleted || e.Type == session.EventFailed {
			var st session.Status
			switch d, _ := e.Payload(); d := d.(type) {
			case session.CompletedData:
				st = session.Status(d.Status)
			case session.FailedData:
				st = session.Status(d.Status)
			}
			if st.Terminal() {
				return st
			}
		}
	}
	return ""
}

// finalize returns a copy of sess with its closing events; the caller sets
// the status once they are audited.
func finalize(sess *session.Session, in RecordInput, now time.Time, l Limits) *session.Session {
	f := *sess
	f.Timeline = append([]session.Event(nil), sess.Timeline...)
	f.Errors = append([]session.ErrorEntry(nil), sess.Errors...)
	status := in.Outcome
	msg := in.Error
	if status == session.StatusSucceeded && (f.Result == nil || f.Decision == nil) {
		// The workflow claims success without a masked result: fail closed.
		status, msg = session.StatusFailed, "record: no masked result was stored"
	}
	if msg != "" {
		if len(msg) > maxErrorLen {
			msg = msg[:maxErrorLen]
		}
		f.Errors = append(f.Errors, session.ErrorEntry{Step: "workflow", Message: warehouse.Scrub(msg), Time: now})
	}
	if status == session.StatusExpired && f.Approval != nil && f.Approval.Decision == "" {
		a := *f.Approval
		a.Decision = "expired"
		f.Approval = &a
		f.AddEvent(now, "workflow", session.ApprovalExpiredData{ExpiresAt: a.ExpiresAt.Format(time.RFC3339)})
	}
	var data session.Payload = session.CompletedData{Status: string(status)}
	if status == session.StatusFailed {
		fd := session.FailedData{Status: string(status)}
		if msg != "" {
			fd.Error = warehouse.Scrub(msg)
		}
		data = fd
	}
	f.AddEvent(now, "record", data)
	if f.ExpireAt.IsZero() {
		f.ExpireAt = f.CreatedAt.Add(l.Retention)
	}
	return &f
}
