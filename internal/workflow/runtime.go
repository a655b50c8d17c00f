package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Starter starts an execution of the session workflow. Both the local
// Runtime and the CloudStarter implement it.
type Starter interface {
	Start(ctx context.Context, args map[string]any) (string, error)
}

var (
	_ Starter = (*Runtime)(nil)
	_ Starter = (*CloudStarter)(nil)
)

// Options configure a Runtime.
type Options struct {
	Workflow *Workflow
	// Store persists execution state after every step.
	Store      StateStore
	HTTPClient *http.Client
	// IDToken mints an OIDC ID token for auth: {type: OIDC} (a JWT is
	// reused per audience until two minutes before its exp); the audience
	// defaults to the request URL, as documented.
	IDToken func(ctx context.Context, audience string) (string, error)
	// Env is what sys.get_env sees.
	Env map[string]string
	// CallbackBase is the scheme and host callback URLs start with, e.g.
	// "http://127.0.0.1:8080".
	CallbackBase            string
	Project, Location, Name string
	// VerifyCaller verifies a callback's bearer token and returns the
	// caller's email; AllowedCallers lists the emails that may call.
	VerifyCaller   func(ctx context.Context, bearer string) (email string, err error)
	AllowedCallers []string
	Logger         *slog.Logger
	Now            func() time.Time
	// Sleep waits for retry backoff and sys.sleep; nil uses a timer. Tests
	// inject one that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Runtime runs executions of one workflow in this process.
type Runtime struct {
	opts   Options
	wf     *Workflow
	store  StateStore
	logger *slog.Logger
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// maxSteps, when positive, fails an execution after that many machine
	// steps. Only the fuzz target sets it, to stop endless loops.
	maxSteps int

	mu      sync.Mutex // guards execs, changed, closed
	execs   map[string]*execution
	changed chan struct{}
	closed  bool
}

// execution is an execution loaded in this runtime.
type execution struct {
	rt   *Runtime
	name string
	wake chan struct{}

	mu  sync.Mutex // guards rec
	rec *ExecutionRecord

	// Owned by the interpreter goroutine.
	frames  []*frame
	cur     string
	consume string // callback whose first queued request the running step used
	// awaitPending is the await marker the next persist writes.
	awaitPending *AwaitState
	finalState   State
	finalValue   any
	// effect is set when a step since the last save reached outside the
	// execution (see effectful); only then, or at the end, is the state
	// saved.
	effect bool
}

// NewRuntime checks the options and returns a runtime. Call Resume to pick
// up executions persisted by an earlier process.
func NewRuntime(opts Options) (*Runtime, error) {
	var errs []error
	if opts.Workflow == nil {
		errs = append(errs, errors.New("workflow is required"))
	}
	if opts.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if opts.Project == "" || opts.Location == "" || opts.Name == "" {
		errs = append(errs, errors.New("project, location and name are required"))
	}
	for _, s := range []string{opts.Project, opts.Location, opts.Name} {
		if strings.Contains(s, "/") {
			errs = append(errs, fmt.Errorf("%q must not contain /", s))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("workflow runtime options: %w", err)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if opts.IDToken != nil {
		opts.IDToken = (&tokenCache{mint: opts.IDToken, now: opts.Now}).get
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runtime{
		opts: opts, wf: opts.Workflow, store: opts.Store, logger: opts.Logger, now: opts.Now,
		ctx: ctx, cancel: cancel,
		execs: map[string]*execution{}, changed: make(chan struct{}),
	}, nil
}

func (r *Runtime) sleep(ctx context.Context, d time.Duration) error { return r.opts.Sleep(ctx, d) }

func (r *Runtime) parent() string {
	return "projects/" + r.opts.Project + "/locations/" + r.opts.Location + "/workflows/" + r.opts.Name
}

func (r *Runtime) fullName(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return r.parent() + "/executions/" + name
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Start creates an execution with args as the argument of main and runs it
// asynchronously. It returns the execution's full resource name.
func (r *Runtime) Start(ctx context.Context, args map[string]any) (string, error) {
	arg, err := json.Marshal(args)
	if err != nil {
		return "", fmt.Errorf("encode argument: %w", err)
	}
	if len(arg) > MaxArgumentBytes {
		return "", fmt.Errorf("start execution: %w (%d bytes)", ErrArgumentTooLarge, len(arg))
	}
	argVal, err := decodeJSON(arg)
	if err != nil {
		return "", fmt.Errorf("decode argument: %w", err)
	}
	main := r.wf.subs["main"]
	vars := map[string]any{}
	if len(main.params) == 1 {
		vars[main.params[0].name] = argVal
	}
	name := r.fullName(newID())
	now := r.now()
	x := &execution{rt: r, name: name, wake: make(chan struct{}, 1),
		frames: []*frame{{Kind: fCall, Sub: "main", Vars: vars}, {Kind: fBlock, Block: main.body}},
		rec: &ExecutionRecord{
			Name: name, WorkflowHash: r.wf.hash, State: StateActive, Argument: arg,
			Callbacks: map[string]*CallbackState{}, StartTime: now, UpdatedAt: now,
		},
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", ErrClosed
	}
	r.execs[name] = x
	r.mu.Unlock()
	if err := x.persist(ctx); err != nil {
		r.mu.Lock()
		delete(r.execs, name)
		r.mu.Unlock()
		return "", fmt.Errorf("start execution: %w", err)
	}
	r.launch(x)
	r.logger.InfoContext(ctx, "workflow execution started", "execution", name)
	return name, nil
}

func (r *Runtime) launch(x *execution) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		x.run(r.ctx)
		r.mu.Lock()
		if r.execs[x.name] == x {
			delete(r.execs, x.name)
		}
		r.mu.Unlock()
		r.notify()
	}()
}

// Resume continues every execution persisted as active (running or
// awaiting a callback) that is not already running here. An execution that
// started on another workflow source is marked failed.
func (r *Runtime) Resume(ctx context.Context) error {
	names, err := r.store.ActiveExecutions(ctx)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var errs []error
	for _, name := range names {
		if err := r.resumeOne(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Runtime) resumeOne(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, running := r.execs[name]; running {
		return nil
	}
	rec, err := r.store.LoadExecution(ctx, name)
	if err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	if rec.State != StateActive {
		return nil
	}
	x := &execution{rt: r, name: name, wake: make(chan struct{}, 1), rec: rec}
	if rec.WorkflowHash != r.wf.hash {
		x.failNow(ctx, raiseTag("SystemError", "the workflow source changed while the execution was active").Value)
		return fmt.Errorf("resume %s: %w", name, ErrWorkflowChanged)
	}
	frames, err := decodeMachine(rec.Machine)
	if err != nil || len(frames) == 0 {
		x.failNow(ctx, raiseTag("SystemError", "corrupt execution state").Value)
		return fmt.Errorf("resume %s: corrupt state: %v", name, err)
	}
	x.frames = frames
	x.cur = rec.CurrentStep
	r.execs[name] = x
	r.logger.InfoContext(ctx, "workflow execution resumed", "execution", name, "step", rec.CurrentStep)
	r.launch(x)
	return nil
}

func (x *execution) failNow(ctx context.Context, v any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rec.State = StateFailed
	x.rec.Error = mustJSON(v)
	x.rec.EndTime = x.rt.now()
	x.rec.UpdatedAt = x.rec.EndTime
	x.rec.Machine = nil
	if err := x.rt.store.SaveExecution(ctx, x.rec); err != nil {
		x.rt.logger.ErrorContext(ctx, "save failed execution", "execution", x.name, "error", err)
	}
}

// run drives the machine until the execution ends or the runtime closes.
// On close nothing is written: the last persisted step is where a resumed
// execution continues.
func (x *execution) run(ctx context.Context) {
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return
		}
		if x.rt.maxSteps > 0 && n > x.rt.maxSteps {
			x.finish(StateFailed, raiseTag("ResourceLimitError", "more than %d steps", x.rt.maxSteps).Value)
			_ = x.persist(ctx)
			return
		}
		if err := x.stepOnce(ctx); err != nil {
			if ctx.Err() == nil {
				x.rt.logger.Error("workflow step aborted", "execution", x.name, "step", x.cur, "error", err)
			}
			return
		}
		if x.finalState == "" {
			if b, err := json.Marshal(machine{Frames: x.frames}); err == nil && len(b) > MaxVariableBytes {
				x.raise(raiseTag("ResourceLimitError", "variables exceed %d bytes", MaxVariableBytes).Value)
			}
		}
		// Steps that only compute (assign, switch, return, pops of
		// frames, sys.get_env, sys.log) are not saved one by one: a
		// resumed execution replays them from the last save, and since
		// nothing outside saw them, the replay is indistinguishable. The
		// state is saved after every step that reached outside (an HTTP
		// call, a callback, a sleep), so a resume never repeats an effect
		// that a save already follows. Each save is a durable write
		// (synchronous=FULL); a session's flow ran about 40 before.
		if x.finalState == "" && !x.effect && x.awaitPending == nil && x.consume == "" {
			continue
		}
		if err := x.persistRetrying(ctx); err != nil {
			return // the runtime is closing; the last saved step resumes
		}
		x.effect = false
		if x.finalState != "" {
			x.rt.logger.Info("workflow execution finished", "execution", x.name, "state", string(x.finalState))
			return
		}
	}
}

// Backoff between attempts to save an execution's state when the state
// store fails: doubling from persistInitialDelay, capped at persistMaxDelay.
const (
	persistInitialDelay = 500 * time.Millisecond
	persistMaxDelay     = 30 * time.Second
)

// persistRetrying saves the state after a step, retrying a failed save with
// capped exponential backoff until it succeeds or the runtime closes. The
// execution does not run its next step before the last one is saved, so a
// state store outage pauses it (status unchanged, nothing lost) instead of
// abandoning it: before this, one failed save ended the goroutine and left
// the session running until the next process start.
func (x *execution) persistRetrying(ctx context.Context) error {
	delay := persistInitialDelay
	for {
		err := x.persist(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x.rt.logger.Error("persist workflow state; retrying", "execution", x.name, "step", x.cur,
			"retry_in", delay.String(), "error", err)
		if err := x.rt.sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, persistMaxDelay)
	}
}

// persist writes the execution after a step: the frames, and the callback
// request the step consumed, in one record. Calling it again after a failed
// save writes the same record.
func (x *execution) persist(ctx context.Context) error {
	var mb []byte
	if x.finalState == "" {
		var err error
		if mb, err = json.Marshal(machine{Frames: x.frames}); err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
	}
	x.mu.Lock()
	rec := x.rec
	rec.Machine = mb
	rec.CurrentStep = x.cur
	rec.UpdatedAt = x.rt.now()
	if x.awaitPending != nil {
		rec.Await = x.awaitPending
		x.awaitPending = nil
	}
	if x.consume != "" {
		if cb := rec.Callbacks[x.consume]; cb != nil && len(cb.Queue) > 0 {
			cb.Queue = cb.Queue[1:]
		}
		x.consume = ""
		rec.Await = nil
	}
	if x.finalState != "" {
		rec.State = x.finalState
		rec.EndTime = rec.UpdatedAt
		rec.Await = nil
		if x.finalState == StateSucceeded {
			rec.Result = mustJSON(x.finalValue)
		} else {
			rec.Error = mustJSON(x.finalValue)
		}
	}
	err := x.rt.store.SaveExecution(ctx, rec)
	x.mu.Unlock()
	if err != nil {
		return err
	}
	x.rt.notify()
	return nil
}

func (r *Runtime) notify() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// ExecutionState is the observable state of an execution.
type ExecutionState struct {
	Name  string
	State State
	// CurrentStep is the step running or last run.
	CurrentStep string
	// AwaitingCallback is true while the execution waits in
	// events.await_callback.
	AwaitingCallback bool
	Argument         any
	// Result is main's return value when State is StateSucceeded.
	Result any
	// Error is the uncaught error (usually a map with message and tags)
	// when State is StateFailed.
	Error     any
	StartTime time.Time
	EndTime   time.Time
	// Steps is how many steps the execution has run, counted as Cloud
	// Workflows bills them (ExecutionRecord.Steps).
	Steps int
}

// Execution returns the state of the named execution (full name or id).
func (r *Runtime) Execution(ctx context.Context, name string) (*ExecutionState, error) {
	name = r.fullName(name)
	r.mu.Lock()
	x := r.execs[name]
	r.mu.Unlock()
	var rec *ExecutionRecord
	if x != nil {
		x.mu.Lock()
		var err error
		rec, err = cloneRecord(x.rec)
		x.mu.Unlock()
		if err != nil {
			return nil, err
		}
	} else {
		var err error
		if rec, err = r.store.LoadExecution(ctx, name); err != nil {
			return nil, err
		}
	}
	st := &ExecutionState{
		Name: rec.Name, State: rec.State, CurrentStep: rec.CurrentStep, AwaitingCallback: rec.Await != nil,
		StartTime: rec.StartTime, EndTime: rec.EndTime, Steps: rec.Steps,
	}
	for _, p := range []struct {
		raw json.RawMessage
		dst *any
	}{{rec.Argument, &st.Argument}, {rec.Result, &st.Result}, {rec.Error, &st.Error}} {
		if len(p.raw) == 0 {
			continue
		}
		v, err := decodeJSON(p.raw)
		if err != nil {
			return nil, fmt.Errorf("decode execution %s: %w", name, err)
		}
		*p.dst = v
	}
	return st, nil
}

// Wait blocks until the execution is no longer active and returns its
// final state.
func (r *Runtime) Wait(ctx context.Context, name string) (*ExecutionState, error) {
	return r.waitUntil(ctx, name, func(s *ExecutionState) bool { return s.State != StateActive })
}

func (r *Runtime) waitUntil(ctx context.Context, name string, cond func(*ExecutionState) bool) (*ExecutionState, error) {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		st, err := r.Execution(ctx, name)
		if err != nil {
			return nil, err
		}
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// Close stops the goroutines of this runtime. Executions stay persisted as
// they were after their last step and continue on Resume.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}
