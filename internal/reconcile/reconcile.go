// Package reconcile ends sessions that their workflow execution left open.
// A session stays running when its execution ended before the record step
// could end it (record spent its retries: the audit table or the session
// store was down), when the execution is gone (deleted, or past Workflows'
// retention), or when it was never started (intake stopped between
// creating the session and starting the execution). The Reconciler finds
// them and runs the record step again, outcome failed with a reason, so
// the session ends through the same fail-closed order as any other
// (closing events, audit rows, status last) and an earlier attempt's
// closing events are reused.
//
// Both modes run it through the one composition (internal/setup): the
// local gateway at start and hourly, the cloud's Reconcile function when
// Cloud Scheduler calls it.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/workflow"
)

// Reasons recorded on a session the Reconciler ends.
const (
	// ReasonEnded: the execution ended (failed, cancelled, or succeeded
	// without a final record).
	ReasonEnded = "record: the session flow ended before the session was recorded"
	// ReasonLost: no execution can be found, and the session is past its
	// deadline.
	ReasonLost = "record: the session flow was never started or is gone, and the session is past its deadline"
)

// DefaultGrace is Config.Grace's default: longer than any live flow takes
// after its creation or its approval's expiry (the job timeout, and each
// step's five retries of at most CallTimeout).
const DefaultGrace = 6 * time.Hour

// DefaultInFlight is Config.InFlight's default: longer than a pass takes
// to write one session's audit rows.
const DefaultInFlight = 15 * time.Minute

// Executions reads a workflow execution: workflow.Runtime locally,
// workflow.CloudStarter (the Executions API) in the cloud.
type Executions interface {
	Execution(ctx context.Context, name string) (*workflow.ExecutionState, error)
}

// Recorder is the record step (steps.Steps).
type Recorder interface {
	Record(ctx context.Context, in steps.RecordInput) (*steps.RecordResult, error)
}

// Config configures a Reconciler.
type Config struct {
	Store      session.Store
	Executions Executions
	Recorder   Recorder
	// Grace: a session with no execution to read is ended once this long
	// has passed since its creation, or since its approval's expiry when
	// that is later. 0 is DefaultGrace.
	Grace time.Duration
	// InFlight: a session whose closing event a reconciler appended less
	// than this long ago is left to that pass, which may still be writing
	// its audit rows; 0 is DefaultInFlight.
	InFlight time.Duration
	// Now is the clock; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Reconciler ends sessions left open (see the package doc). One pass runs
// at a time per Reconciler; an overlapping call returns ErrBusy.
type Reconciler struct {
	cfg Config
	mu  sync.Mutex
}

// ErrBusy is returned by Run while another pass of the same Reconciler
// runs.
var ErrBusy = errors.New("reconcile: a pass is already running")

// New returns a Reconciler; Store, Executions and Recorder are required.
func New(cfg Config) (*Reconciler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("reconcile: no session store"))
	}
	if cfg.Executions == nil {
		errs = append(errs, errors.New("reconcile: no workflow executions reader"))
	}
	if cfg.Recorder == nil {
		errs = append(errs, errors.New("reconcile: no record step"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg}, nil
}

// Result counts what one pass did.
type Result struct {
	// Ended is how many sessions the pass ended.
	Ended int `json:"ended"`
	// Open is how many open sessions it left alone: their execution is
	// active, or they are within their grace.
	Open int `json:"open"`
	// Busy is how many it left to another pass that is ending them: it
	// appended their closing event within InFlight, or while this pass
	// read them (steps.ErrRecordInProgress).
	Busy int `json:"busy"`
}

// Run makes one pass over the store. A session it cannot decide (the
// execution could not be read) is left open and reported in the joined
// error; the pass goes on with the others.
func (r *Reconciler) Run(ctx context.Context) (Result, error) {
	if !r.mu.TryLock() {
		return Result{}, ErrBusy
	}
	defer r.mu.Unlock()
	var res Result
	var errs []error
	q := session.ListQuery{PageSize: 200}
	for {
		page, err := r.cfg.Store.List(ctx, q)
		if err != nil {
			return res, fmt.Errorf("reconcile: list sessions: %w", err)
		}
		for _, listed := range page.Sessions {
			if listed.Status.Terminal() {
				continue
			}
			// A listing may carry no timeline; the decision needs it.
			s, err := r.cfg.Store.Get(ctx, listed.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("reconcile %s: read session: %w", listed.ID, err))
				continue
			}
			if s.Status.Terminal() {
				continue
			}
			if r.inFlight(s) {
				res.Busy++
				continue
			}
			reason, err := r.reason(ctx, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("reconcile %s: %w", s.ID, err))
				continue
			}
			if reason == "" {
				res.Open++
				continue
			}
			var last int64
			if n := len(s.Timeline); n > 0 {
				last = s.Timeline[n-1].Seq
			}
			// ExpectLastSeq: a pass that overlaps this one and appended the
			// closing event since we listed the session owns it.
			_, err = r.cfg.Recorder.Record(ctx, steps.RecordInput{SessionID: s.ID, Outcome: session.StatusFailed, Error: reason, ExpectLastSeq: last})
			if errors.Is(err, steps.ErrRecordInProgress) {
				res.Busy++
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("reconcile %s: %w", s.ID, err))
				continue
			}
			r.cfg.Logger.WarnContext(ctx, "ended a session its workflow execution left open", "session_id", s.ID, "reason", reason)
			res.Ended++
		}
		if page.NextPageToken == "" {
			return res, errors.Join(errs...)
		}
		q.PageToken = page.NextPageToken
	}
}

// reason says why s must be ended now, or "" to leave it open.
func (r *Reconciler) reason(ctx context.Context, s *session.Session) (string, error) {
	if s.ExecutionName != "" {
		st, err := r.cfg.Executions.Execution(ctx, s.ExecutionName)
		switch {
		case err == nil && st.State == workflow.StateActive:
			return "", nil
		case err == nil:
			return ReasonEnded, nil
		case !notFound(err):
			// Unknown is not ended: an execution that may be alive is
			// left to finish, and the next pass looks again.
			return "", fmt.Errorf("read execution: %w", err)
		}
	}
	if r.cfg.Now().Before(Deadline(s, r.cfg.Grace)) {
		return "", nil
	}
	return ReasonLost, nil
}

// inFlight reports a session whose last event is the closing event a
// reconciler appended less than InFlight ago: that pass may still be
// writing its audit rows, and writing them here too could give an event a
// second row. Closing events the workflow's record step appended are not
// in flight once the execution has ended.
func (r *Reconciler) inFlight(s *session.Session) bool {
	n := len(s.Timeline)
	if n == 0 || s.Timeline[n-1].Type != session.EventFailed {
		return false
	}
	last := s.Timeline[n-1]
	var fd session.FailedData
	if err := json.Unmarshal(last.Data, &fd); err != nil || (fd.Error != ReasonEnded && fd.Error != ReasonLost) {
		return false
	}
	return r.cfg.Now().Sub(last.Time) < r.cfg.InFlight
}

// Deadline is when a session with no execution to read is ended: grace
// after its creation, or after its approval's expiry when that is later.
func Deadline(s *session.Session, grace time.Duration) time.Time {
	from := s.CreatedAt
	if s.Approval != nil && s.Approval.ExpiresAt.After(from) {
		from = s.Approval.ExpiresAt
	}
	return from.Add(grace)
}

// notFound reports an execution that does not exist: the local runtime's
// ErrNotFound, or the Executions API's NOT_FOUND.
func notFound(err error) bool {
	if errors.Is(err, workflow.ErrNotFound) {
		return true
	}
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.NotFound
}
