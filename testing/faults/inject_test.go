package faults

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/warehouse"
	"github.com/querygate/querygate/internal/workflow"
)

// The dependencies the matrix breaks, one name per port call.
const (
	depJob      = "bigquery.job"         // Warehouse.Run
	depRead     = "bigquery.read"        // Warehouse.Read
	depAudit    = "bigquery.audit"       // the audit insert (Auditor.WriteSession)
	depDeid     = "deid"                 // Deidentifier.Deidentify
	depStore    = "session_store"        // session Store Get/Update/PutPage inside one step
	depCreate   = "session_store.create" // session Store Create (intake)
	depWorkflow = "workflow_state"       // workflow StateStore.SaveExecution
	depSMTP     = "smtp"                 // Mailer.Send
	// depSecrets is the secret store: the SMTP password (mail.Secrets) and
	// the approval link keys (approval.Keys), both Secret Manager in the
	// cloud.
	depSecrets = "secret_manager"
)

// fault is what the injector does to the target dependency.
type fault int

const (
	faultNone fault = iota
	// faultOnce fails the first call, then lets calls through: a
	// transient fault.
	faultOnce
	// faultAlways fails every call.
	faultAlways
	// faultHang blocks every call until its context ends, as a stalled
	// connection does, and returns the context's error.
	faultHang
)

func (f fault) String() string {
	return [...]string{"none", "fails once", "fails", "hangs"}[f]
}

// errInjected is the injected failure. Its text holds a marker that must
// never reach the agent.
var errInjected = errors.New("injected fault SECRET-DETAIL-7f3a")

// injector breaks one dependency at a time. A nil target lets every call
// through. For depStore, only calls made while serving step are broken.
type injector struct {
	mu     sync.Mutex
	target string
	step   string // when set, only calls made while serving this step break
	fault  fault
	// after lets that many calls through before the fault starts; times,
	// when positive, is how many calls faultAlways breaks.
	after, times int
	calls        map[string]int
	sleeps       []time.Duration
}

func newInjector() *injector { return &injector{calls: map[string]int{}} }

func (in *injector) set(target, step string, f fault, after, times int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.target, in.step, in.fault, in.after, in.times = target, step, f, after, times
	in.calls = map[string]int{}
	in.sleeps = nil
}

// hit is called before every call to dep; it returns the injected error, or
// nil to let the call through.
func (in *injector) hit(ctx context.Context, dep string) error {
	in.mu.Lock()
	if dep != in.target || (in.step != "" && stepOf(ctx) != in.step) {
		in.mu.Unlock()
		return nil
	}
	in.calls[dep]++
	n, f, times := in.calls[dep]-in.after, in.fault, in.times
	in.mu.Unlock()
	switch {
	case n < 1:
	case f == faultOnce && n == 1, f == faultAlways && (times == 0 || n <= times):
		return errInjected
	case f == faultHang:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (in *injector) count(dep string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[dep]
}

// sleep replaces the workflow runtime's backoff: it records the delay and
// returns at once, so retries are observed exactly and no test waits.
func (in *injector) sleep(ctx context.Context, d time.Duration) error {
	in.mu.Lock()
	// The runtime sleeps until a persisted deadline, so d is the delay
	// less the time since, never more. Every delay here is a multiple of
	// 500 ms (the workflow's 1, 2, 4, 8, 16 s; the state store's 500 ms,
	// 1 s, 2 s), so rounding up to 500 ms gives the delay as long as the
	// sleep starts within 500 ms of its deadline being set (rounding to
	// the nearest 100 ms, a loaded machine read 15.9 s for 16 s).
	const grain = 500 * time.Millisecond
	in.sleeps = append(in.sleeps, (d + grain - 1).Truncate(grain))
	in.mu.Unlock()
	return ctx.Err()
}

func (in *injector) backoff() []time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]time.Duration(nil), in.sleeps...)
}

type stepKey struct{}

// stepOf names the step a request serves; requests to the front doors
// count as "intake".
func stepOf(ctx context.Context) string {
	if s, ok := ctx.Value(stepKey{}).(string); ok {
		return s
	}
	return "intake"
}

// ports wires the injector in front of every port of the local gateway.
func (in *injector) ports(smtpOverride func(approval.Mailer) approval.Mailer) *local.Ports {
	return &local.Ports{
		Warehouse: func(w steps.Warehouse) steps.Warehouse { return &faultyWarehouse{w, in} },
		Audit:     func(a steps.Auditor) steps.Auditor { return &faultyAudit{a, in} },
		Deid:      func(d deid.Deidentifier) deid.Deidentifier { return &faultyDeid{d, in} },
		Store:     func(s session.Store) session.Store { return &faultyStore{s, in} },
		WorkflowState: func(s workflow.StateStore) workflow.StateStore {
			return &faultyWorkflowState{s, in}
		},
		Mailer: func(m approval.Mailer) approval.Mailer {
			if smtpOverride != nil {
				m = smtpOverride(m)
			}
			return &faultyMailer{m, in}
		},
		// Marks requests to the step functions with the step's name.
		Handler: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if step, ok := strings.CutPrefix(r.URL.Path, "/fn/"); ok {
					r = r.WithContext(context.WithValue(r.Context(), stepKey{}, step))
				}
				h.ServeHTTP(w, r)
			})
		},
		Sleep:   in.sleep,
		Secrets: func(s mail.Secrets) mail.Secrets { return &faultySecrets{s, in} },
		Keys:    func(k approval.Keys) approval.Keys { return &faultyKeys{k, in} },
	}
}

type faultyWarehouse struct {
	steps.Warehouse
	in *injector
}

func (f *faultyWarehouse) Run(ctx context.Context, q warehouse.Query) (*warehouse.Job, error) {
	if err := f.in.hit(ctx, depJob); err != nil {
		return nil, err
	}
	return f.Warehouse.Run(ctx, q)
}

func (f *faultyWarehouse) Read(ctx context.Context, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	if err := f.in.hit(ctx, depRead); err != nil {
		return nil, 0, err
	}
	return f.Warehouse.Read(ctx, jobID, location, maxRows, fn)
}

type faultyAudit struct {
	steps.Auditor
	in *injector
}

func (f *faultyAudit) WriteSession(ctx context.Context, s *session.Session) error {
	if err := f.in.hit(ctx, depAudit); err != nil {
		return err
	}
	return f.Auditor.WriteSession(ctx, s)
}

type faultyDeid struct {
	deid.Deidentifier
	in *injector
}

func (f *faultyDeid) Deidentify(ctx context.Context, req *deid.Request) (*deid.Table, *deid.Stats, error) {
	if err := f.in.hit(ctx, depDeid); err != nil {
		return nil, nil, err
	}
	return f.Deidentifier.Deidentify(ctx, req)
}

type faultyStore struct {
	session.Store
	in *injector
}

func (f *faultyStore) Create(ctx context.Context, s *session.Session) error {
	if err := f.in.hit(ctx, depCreate); err != nil {
		return err
	}
	return f.Store.Create(ctx, s)
}

func (f *faultyStore) Get(ctx context.Context, id string) (*session.Session, error) {
	if err := f.in.hit(ctx, depStore); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

func (f *faultyStore) Update(ctx context.Context, id string, fn func(*session.Session) error) (*session.Session, error) {
	if err := f.in.hit(ctx, depStore); err != nil {
		return nil, err
	}
	return f.Store.Update(ctx, id, fn)
}

func (f *faultyStore) PutPage(ctx context.Context, id string, p *session.Page) error {
	if err := f.in.hit(ctx, depStore); err != nil {
		return err
	}
	return f.Store.PutPage(ctx, id, p)
}

type faultyWorkflowState struct {
	workflow.StateStore
	in *injector
}

// SaveExecution counts as step "start" for an execution's first save (no
// step has run) and "run" for the others, so a case can break only one.
func (f *faultyWorkflowState) SaveExecution(ctx context.Context, rec *workflow.ExecutionRecord) error {
	phase := "run"
	if rec.CurrentStep == "" {
		phase = "start"
	}
	if err := f.in.hit(context.WithValue(ctx, stepKey{}, phase), depWorkflow); err != nil {
		return err
	}
	return f.StateStore.SaveExecution(ctx, rec)
}

type faultyMailer struct {
	approval.Mailer
	in *injector
}

func (f *faultyMailer) Send(ctx context.Context, m mail.Message) error {
	if err := f.in.hit(ctx, depSMTP); err != nil {
		return err
	}
	return f.Mailer.Send(ctx, m)
}

type faultySecrets struct {
	mail.Secrets
	in *injector
}

func (f *faultySecrets) Secret(ctx context.Context, name string) (string, error) {
	if err := f.in.hit(ctx, depSecrets); err != nil {
		return "", err
	}
	return f.Secrets.Secret(ctx, name)
}

type faultyKeys struct {
	approval.Keys
	in *injector
}

func (f *faultyKeys) SigningKey(ctx context.Context) (string, []byte, error) {
	if err := f.in.hit(ctx, depSecrets); err != nil {
		return "", nil, err
	}
	return f.Keys.SigningKey(ctx)
}

func (f *faultyKeys) VerificationKey(ctx context.Context, kid string) ([]byte, error) {
	if err := f.in.hit(ctx, depSecrets); err != nil {
		return nil, err
	}
	return f.Keys.VerificationKey(ctx, kid)
}
