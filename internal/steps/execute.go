package steps

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// ExecuteResult summarises the job.
type ExecuteResult struct {
	JobID          string `json:"job_id"`
	TotalRows      int64  `json:"total_rows"`
	BytesProcessed int64  `json:"bytes_processed"`
}

// Execute runs the session's query once. It refuses unless policy allowed
// the query or an approver approved it (fail closed).
func (s *Steps) Execute(ctx context.Context, id string) (*ExecuteResult, error) {
	sess, err := s.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := mayExecute(sess); err != nil {
		return nil, err
	}
	if e := sess.Execution; e != nil && !e.FinishedAt.IsZero() {
		return &ExecuteResult{JobID: e.JobID, TotalRows: e.TotalRows, BytesProcessed: e.BytesProcessed}, nil
	}
	started := s.now()
	if sess.Execution == nil {
		if _, err := s.store().Update(ctx, id, func(x *session.Session) error {
			if x.Execution != nil {
				return nil
			}
			x.Status = session.StatusRunning
			x.Execution = &session.Execution{JobID: warehouse.JobID(id), StartedAt: started}
			x.AddEvent(started, "execute", session.QueryStartedData{JobID: warehouse.JobID(id)})
			return nil
		}); err != nil {
			return nil, transient("store execution start", err)
		}
	}
	l := s.limits()
	timeout := l.JobTimeout
	if t := time.Duration(sess.Decision.JobTimeout); t > 0 && t < timeout {
		timeout = t // policy may only tighten the gateway's limit
	}
	job, err := s.warehouse().Run(ctx, warehouse.Query{
		JobID:          warehouse.JobID(id),
		SQL:            sess.SQL,
		DefaultProject: s.Project,
		DefaultDataset: sess.DefaultDataset,
		Parameters:     sess.Parameters,
		MaxBytesBilled: sess.Decision.MaxBytesBilled,
		ResultsDataset: s.ResultsDataset,
		Timeout:        timeout,
		Labels:         map[string]string{"querygate_session": labelValue(id), "querygate_principal": warehouse.PrincipalHash(sess.Principal)},
	})
	if errors.Is(err, warehouse.ErrQuery) {
		return nil, &StepError{Code: http.StatusUnprocessableEntity, Msg: err.Error()}
	}
	if err != nil {
		return nil, transient("run query", err)
	}
	finished := s.now()
	if job.FinishedAt.IsZero() {
		job.FinishedAt = finished
	}
	_, err = s.store().Update(ctx, id, func(x *session.Session) error {
		if x.Execution != nil && !x.Execution.FinishedAt.IsZero() {
			return nil
		}
		x.Execution = &session.Execution{JobID: job.ID, Location: job.Location, StartedAt: started, FinishedAt: job.FinishedAt,
			BytesProcessed: job.BytesProcessed, TotalRows: job.TotalRows, BytesBilled: job.BytesBilled}
		x.AddEvent(finished, "execute", session.QueryFinishedData{
			JobID: job.ID, BytesProcessed: job.BytesProcessed,
		})
		return nil
	})
	if err != nil {
		return nil, transient("store execution", err)
	}
	return &ExecuteResult{JobID: job.ID, TotalRows: job.TotalRows, BytesProcessed: job.BytesProcessed}, nil
}

// mayExecute is the gate in front of BigQuery: allow, or require_approval
// with a recorded approval.
func mayExecute(s *session.Session) error {
	if s.Status.Terminal() {
		return permanent(http.StatusConflict, "session already ended")
	}
	d := s.Decision
	switch {
	case d == nil:
		return permanent(http.StatusConflict, "no policy decision recorded")
	case d.Action == "allow":
		return nil
	case d.Action == "require_approval" && s.Approval != nil && s.Approval.Decision == "approved":
		return nil
	}
	return permanent(http.StatusForbidden, "policy has not allowed this query")
}

// labelValue fits a label value's rules: lowercase letters, digits, _ and -,
// at most 63 characters.
func labelValue(v string) string {
	b := []byte{}
	for _, c := range []byte(v) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+32)
		default:
			b = append(b, '_')
		}
		if len(b) == 63 {
			break
		}
	}
	return string(b)
}
