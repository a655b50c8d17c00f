// Package steps holds the server side of the workflow's steps: policy,
// execute, deidentify and record. Each is idempotent on (session id, step)
// because Workflows retries, and each reads and writes the session store so
// that only ids and small summaries travel through the workflow. Raw result
// rows exist only in memory inside Deidentify.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// Policy decides about a session's SQL. Analysis failures must come back
// as a deny decision; an error means the decision could not be made at all
// (e.g. the catalog was unreachable) and the step is retried.
type Policy interface {
	Evaluate(ctx context.Context, s *session.Session) (*session.Decision, error)
}

// Warehouse runs queries and reads results (warehouse.BigQuery).
type Warehouse interface {
	Run(ctx context.Context, q warehouse.Query) (*warehouse.Job, error)
	Read(ctx context.Context, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error)
}

// TableReader is implemented by a Warehouse that reads a job's result from
// its destination table in the results dataset (warehouse.BigQuery.ReadTable):
// fewer calls than reading through the job, and no wait for a job that Run
// already saw finish.
type TableReader interface {
	ReadTable(ctx context.Context, resultsDataset, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error)
}

// Auditor makes a session's events durable in the audit dataset. It must be
// idempotent: writing the same session twice adds no rows.
type Auditor interface {
	WriteSession(ctx context.Context, s *session.Session) error
}

// RetryAuditor is an Auditor that, on a retry, first reads which events an
// earlier attempt stored (audit.Writer.WriteRemaining), so that a record
// step retried after a crash writes each event's row once. The record step
// uses it only when it finds an earlier attempt's final events.
type RetryAuditor interface {
	WriteRemaining(ctx context.Context, s *session.Session) error
}

// Limits bound what a session may store.
type Limits struct {
	// MaxRows is the most result rows stored (and returned) per session.
	MaxRows int64
	// MaxBytes is the most bytes of masked JSON rows stored per session.
	MaxBytes int64
	// PageRows is the number of rows per stored page.
	PageRows int
	// JobTimeout bounds each BigQuery job.
	JobTimeout time.Duration
	// CallTimeout bounds every other call a step makes to a dependency:
	// the session store, the policy engine, the result read, the
	// de-identifier and the audit write. It stays below the workflow's
	// per-call HTTP timeout (300 s in query_session.yaml), so a hung
	// dependency ends in the step's own retryable 503 with a reason rather
	// than in a dropped connection.
	CallTimeout time.Duration
	// Retention sets each session's expire_at.
	Retention time.Duration
}

// DefaultLimits are used where a Limits field is zero.
var DefaultLimits = Limits{MaxRows: 10000, MaxBytes: 8 << 20, PageRows: 500, JobTimeout: 5 * time.Minute, CallTimeout: 4 * time.Minute, Retention: 400 * 24 * time.Hour}

// Steps carries the dependencies of the four steps.
type Steps struct {
	Store     session.Store
	Policy    Policy
	Warehouse Warehouse
	Deid      deid.Deidentifier
	Audit     Auditor
	// Project is the default project for unqualified table names.
	Project string
	// ResultsDataset receives each job's result table (see
	// warehouse.Query.ResultsDataset); empty uses BigQuery's anonymous
	// result table, which is enough when one identity runs every step.
	ResultsDataset string
	Limits         Limits
	Now            func() time.Time
	Logger         *slog.Logger
	// Settler, when set, is told when a session has ended (settle.go).
	Settler Settler
}

func (s *Steps) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Steps) limits() Limits { return s.Limits.WithDefaults() }

// WithDefaults is l with DefaultLimits for every unset field.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.MaxRows <= 0 {
		l.MaxRows = d.MaxRows
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.PageRows <= 0 {
		l.PageRows = d.PageRows
	}
	if l.JobTimeout <= 0 {
		l.JobTimeout = d.JobTimeout
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = d.CallTimeout
	}
	if l.Retention <= 0 {
		l.Retention = d.Retention
	}
	return l
}

func (s *Steps) log(ctx context.Context) *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// StepError is an error with the HTTP status the step answers. 4xx errors
// are permanent (the workflow records the session as failed); 5xx are
// retried.
type StepError struct {
	Code int
	Msg  string
	Err  error
}

func (e *StepError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *StepError) Unwrap() error { return e.Err }

func permanent(code int, msg string) error { return &StepError{Code: code, Msg: msg} }

// transient is a retryable failure: 503 with "timed out" when a
// dependency passed its deadline, 500 otherwise. The message names the
// stage only; err (logged, never answered) may say more.
func transient(msg string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &StepError{Code: http.StatusServiceUnavailable, Msg: msg + ": timed out", Err: err}
	}
	return &StepError{Code: http.StatusInternalServerError, Msg: msg, Err: err}
}

// ErrPrecondition is returned when a step is called out of order.
var ErrPrecondition = errors.New("step called out of order")

// ErrRecordInProgress is returned by Record when another attempt appended
// the session's closing events while this one was reading it; that attempt
// ends the session (internal/reconcile counts it as busy; the workflow's
// retry finds the events and reuses them).
var ErrRecordInProgress = errors.New("another record attempt is ending the session")

type request struct {
	SessionID string `json:"session_id"`
	Outcome   string `json:"outcome,omitempty"`
	Error     any    `json:"error,omitempty"`
	Approval  *struct {
		Decision string `json:"decision"`
		Approver string `json:"approver"`
		Comment  string `json:"comment"`
	} `json:"approval,omitempty"`
}

// maxStepBody bounds step request bodies; they carry only ids.
const maxStepBody = 64 << 10

func (s *Steps) handle(name string, fn func(ctx context.Context, req *request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
			return
		}
		var req request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxStepBody))
		if err := dec.Decode(&req); err != nil || req.SessionID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON with a session_id"})
			return
		}
		out, err := fn(r.Context(), &req)
		if err != nil {
			code := http.StatusInternalServerError
			msg := "internal error"
			var se *StepError
			if errors.As(err, &se) {
				code, msg = se.Code, se.Msg
			}
			if errors.Is(err, session.ErrNotFound) {
				code, msg = http.StatusNotFound, "session not found"
			}
			s.log(r.Context()).ErrorContext(r.Context(), "step failed", "step", name, "session_id", req.SessionID, "code", code, "error", err.Error())
			writeJSON(w, code, map[string]string{"error": msg})
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// PolicyHandler serves the policy step.
func (s *Steps) PolicyHandler() http.Handler {
	return s.handle("policy", func(ctx context.Context, req *request) (any, error) { return s.RunPolicy(ctx, req.SessionID) })
}

// ExecuteHandler serves the execute step.
func (s *Steps) ExecuteHandler() http.Handler {
	return s.handle("execute", func(ctx context.Context, req *request) (any, error) { return s.Execute(ctx, req.SessionID) })
}

// DeidentifyHandler serves the deidentify step.
func (s *Steps) DeidentifyHandler() http.Handler {
	return s.handle("deidentify", func(ctx context.Context, req *request) (any, error) { return s.Deidentify(ctx, req.SessionID) })
}

// RecordHandler serves the record step.
func (s *Steps) RecordHandler() http.Handler {
	return s.handle("record", func(ctx context.Context, req *request) (any, error) {
		var errMsg string
		switch e := req.Error.(type) {
		case nil:
		case string:
			errMsg = e
		default:
			b, _ := json.Marshal(e)
			errMsg = string(b)
		}
		return s.Record(ctx, RecordInput{SessionID: req.SessionID, Outcome: session.Status(req.Outcome), Error: errMsg})
	})
}
