// Package limits enforces the per-principal limits of a policy
// (defaults.limits, per group and per rule; see docs/policy.md, Limits):
// requests per minute and concurrent sessions when a request arrives, bytes
// per day when the policy decides and when a session ends. The counts live
// in the session store (session.Counters), so every instance sees them and
// they survive a restart.
package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// Limit names, as a Refusal and the stats name them.
const (
	RequestsPerMinute  = "requests_per_minute"
	BytesPerDay        = "bytes_per_day"
	ConcurrentSessions = "concurrent_sessions"
)

// BytesPerDayRuleID is the rule id of a decision denied by bytes_per_day.
const BytesPerDayRuleID = "builtin.bytes_per_day"

// ErrUnavailable means the counters could not be read or written; the
// request is refused (fail closed) and may be retried.
var ErrUnavailable = errors.New("the usage limits could not be checked; retry later")

// ConcurrentRetryAfter is the Retry-After of a concurrent_sessions
// refusal. Nobody knows when a running session will end, so the agent is
// told to come back soon rather than at the end of a window.
const ConcurrentRetryAfter = 10 * time.Second

// Refusal is a request refused by requests_per_minute or
// concurrent_sessions: the agent may send it again after RetryAfter. Its
// message names the limit and the count, never the SQL.
type Refusal struct {
	Limit      string
	Max, Used  int64
	RetryAfter time.Duration
}

func (r *Refusal) Error() string {
	switch r.Limit {
	case RequestsPerMinute:
		return fmt.Sprintf("rate limit: you have sent %d queries this minute, the most your policy allows (requests_per_minute: %d); retry after %d seconds", r.Used, r.Max, r.RetryAfterSeconds())
	default:
		return fmt.Sprintf("concurrency limit: you have %d sessions that have not ended, the most your policy allows (concurrent_sessions: %d); retry after %d seconds, once one of them has ended", r.Used, r.Max, r.RetryAfterSeconds())
	}
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1:
// the value of the Retry-After header.
func (r *Refusal) RetryAfterSeconds() int64 {
	return max(1, int64(math.Ceil(r.RetryAfter.Seconds())))
}

// AsRefusal returns the Refusal in err's chain, if any.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// Enforcer checks and counts one policy's limits. It is safe for
// concurrent use.
type Enforcer struct {
	policy   *policy.Policy
	counters session.Counters
	sessions session.Store
	now      func() time.Time
	log      *slog.Logger
	lease    time.Duration
}

// Config is what an Enforcer needs.
type Config struct {
	Policy *policy.Policy
	// Counters keep the counts; Sessions is read to free the slot of a
	// session that ended without releasing it.
	Counters session.Counters
	Sessions session.Store
	// Lease bounds how long a concurrent_sessions slot is held by a
	// session that never ends (a crashed instance): Lease(policy, job
	// timeout) when zero.
	Lease time.Duration
	// JobTimeout is the gateway's job timeout, for the default Lease.
	JobTimeout time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// New returns an Enforcer, or nil when the policy sets no limit.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Policy == nil || !cfg.Policy.HasLimits() {
		return nil, nil
	}
	if cfg.Counters == nil || cfg.Sessions == nil {
		return nil, errors.New("limits: the policy sets limits but the session store keeps no counters")
	}
	e := &Enforcer{policy: cfg.Policy, counters: cfg.Counters, sessions: cfg.Sessions, now: cfg.Now, log: cfg.Logger, lease: cfg.Lease}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.lease <= 0 {
		e.lease = Lease(cfg.Policy, cfg.JobTimeout)
	}
	return e, nil
}

// Lease is the longest a session of p can stay open: the longest approval
// TTL of its rules, plus the job timeout, plus half an hour for the other
// steps and their retries.
func Lease(p *policy.Policy, jobTimeout time.Duration) time.Duration {
	ttl := time.Duration(p.Defaults.ApprovalTTL)
	for _, r := range p.Rules {
		ttl = max(ttl, time.Duration(r.ApprovalTTL))
	}
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	return ttl + max(jobTimeout, 5*time.Minute) + 30*time.Minute
}

// For returns the limits that apply to p.
func (e *Enforcer) For(p *session.Principal) policy.EffectiveLimits {
	return e.policy.LimitsFor(p.Email, p.Groups)
}

// principalKey identifies a principal in counter keys as the sessions API
// and the policy do: by the verified email, else by issuer and subject. A
// principal is one budget whichever issuer vouches for the email, as the
// policy's emails rules treat it, and `querygate policy check` can name it.
func principalKey(p *session.Principal) string {
	if p.Email != "" {
		return "email:" + strings.ToLower(p.Email)
	}
	return "sub:" + strconv.Itoa(len(p.Issuer)) + ":" + p.Issuer + "|" + p.Subject
}

// principalName is how logs name a principal.
func principalName(p *session.Principal) string {
	if p.Email != "" {
		return p.Email
	}
	return p.Issuer + "#" + p.Subject
}

func minuteKey(p *session.Principal, start time.Time) string {
	return "rpm|" + principalKey(p) + "|" + strconv.FormatInt(start.Unix(), 10)
}

func dayKey(p *session.Principal, day time.Time) string {
	return "bpd|" + principalKey(p) + "|" + day.UTC().Format(time.DateOnly)
}

func slotKey(p *session.Principal) string {
	return "cs|" + principalKey(p)
}

// window returns the start and end of the minute (UTC) holding t.
func minuteWindow(t time.Time) (time.Time, time.Time) {
	start := t.UTC().Truncate(time.Minute)
	return start, start.Add(time.Minute)
}

func dayWindow(t time.Time) (time.Time, time.Time) {
	y, m, d := t.UTC().Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// counterGrace keeps a counter document past its window, so that TTL
// (which deletes some time after expire_at) never races a live window.
const counterGrace = time.Hour

// Admit counts a new request of p for session sessionID and decides
// whether it may start: requests_per_minute first, then concurrent_sessions
// (which holds a slot for the session until Release). It returns a
// *Refusal when a limit refuses, ErrUnavailable when the counters fail.
func (e *Enforcer) Admit(ctx context.Context, p *session.Principal, sessionID string) error {
	lim := e.For(p)
	now := e.now().UTC()
	if lim.RequestsPerMinute > 0 {
		start, end := minuteWindow(now)
		n, ok, err := e.counters.IncrementCounter(ctx, minuteKey(p, start), lim.RequestsPerMinute, end.Add(counterGrace), now)
		if err != nil {
			e.log.ErrorContext(ctx, "limits: count request failed", "error", err.Error())
			return ErrUnavailable
		}
		if !ok {
			r := &Refusal{Limit: RequestsPerMinute, Max: lim.RequestsPerMinute, Used: n, RetryAfter: end.Sub(now)}
			e.refused(ctx, p, r)
			return r
		}
	}
	if lim.ConcurrentSessions > 0 {
		ok, live, err := e.acquire(ctx, p, sessionID, lim.ConcurrentSessions, now)
		if err != nil {
			e.log.ErrorContext(ctx, "limits: acquire session slot failed", "error", err.Error())
			return ErrUnavailable
		}
		if !ok {
			r := &Refusal{Limit: ConcurrentSessions, Max: lim.ConcurrentSessions, Used: int64(len(live)), RetryAfter: ConcurrentRetryAfter}
			e.refused(ctx, p, r)
			return r
		}
	}
	return nil
}

// refused logs a refusal: who, which limit and the count, never the SQL.
func (e *Enforcer) refused(ctx context.Context, p *session.Principal, r *Refusal) {
	e.log.WarnContext(ctx, "request refused by a limit", "principal", principalName(p), "limit", r.Limit,
		"max", r.Max, "count", r.Used, "retry_after_seconds", r.RetryAfterSeconds())
}

// acquire takes a slot for sessionID. At the limit, it first frees the
// slots of sessions that have ended or no longer exist (a step that
// crashed after ending the session, before releasing), then tries again.
func (e *Enforcer) acquire(ctx context.Context, p *session.Principal, sessionID string, limit int64, now time.Time) (bool, []session.Slot, error) {
	key := slotKey(p)
	ok, live, err := e.counters.AcquireSlot(ctx, key, sessionID, limit, now.Add(e.lease), now)
	if err != nil || ok {
		return ok, live, err
	}
	freed := 0
	// The oldest holders are the likeliest to have ended; a bounded number
	// are read, so a refusal costs a few store reads at most.
	for _, s := range live[:min(len(live), maxReclaimReads)] {
		sess, err := e.sessions.Get(ctx, s.Holder)
		if err == nil && !sess.Status.Terminal() {
			continue
		}
		if err != nil && !errors.Is(err, session.ErrNotFound) {
			return false, nil, err
		}
		if err := e.counters.ReleaseSlot(ctx, key, s.Holder); err != nil {
			return false, nil, err
		}
		freed++
	}
	if freed == 0 {
		return false, live, nil
	}
	return e.counters.AcquireSlot(ctx, key, sessionID, limit, now.Add(e.lease), now)
}

// maxReclaimReads bounds the sessions acquire reads to find ended ones.
const maxReclaimReads = 20

// Release frees the concurrent_sessions slot of a session that ended or
// was never started. It is idempotent.
func (e *Enforcer) Release(ctx context.Context, s *session.Session) error {
	if e.For(&s.Principal).ConcurrentSessions == 0 {
		// The slot, if the limit was lifted meanwhile, lapses with its lease.
		return nil
	}
	if err := e.counters.ReleaseSlot(ctx, slotKey(&s.Principal), s.ID); err != nil {
		return fmt.Errorf("release session slot: %w", err)
	}
	return nil
}

// Settle is called when a session has ended (the record step): it charges
// the job's billed bytes to the principal's day and frees the session's
// slot. It is idempotent on the session id, so a retried record step
// charges once.
func (e *Enforcer) Settle(ctx context.Context, s *session.Session) error {
	if x := s.Execution; x != nil && !x.FinishedAt.IsZero() {
		billed := x.BytesBilled
		if billed == 0 {
			// A job statistics without totalBytesBilled (older records):
			// the bytes processed bound what was billed from above.
			billed = x.BytesProcessed
		}
		// The day the job started, so that a retry after midnight charges
		// the same day.
		day := x.StartedAt
		if day.IsZero() {
			day = x.FinishedAt
		}
		_, end := dayWindow(day)
		if _, err := e.counters.AddCharge(ctx, dayKey(&s.Principal, day), s.ID, max(billed, 0), end.Add(counterGrace), e.now().UTC()); err != nil {
			return fmt.Errorf("charge bytes billed: %w", err)
		}
	}
	return e.Release(ctx, s)
}

// Budget is what remains of a principal's bytes_per_day.
type Budget struct {
	Limit, Used, Remaining int64
	ResetsAt               time.Time
}

// BytesBudget returns p's bytes_per_day budget today, nil when unlimited.
func (e *Enforcer) BytesBudget(ctx context.Context, p *session.Principal) (*Budget, error) {
	lim := e.For(p).BytesPerDay
	if lim == 0 {
		return nil, nil
	}
	now := e.now().UTC()
	_, end := dayWindow(now)
	used, err := e.counters.SumCharges(ctx, dayKey(p, now))
	if err != nil {
		return nil, fmt.Errorf("read bytes billed today: %w", err)
	}
	return &Budget{Limit: lim, Used: used, Remaining: max(lim-used, 0), ResetsAt: end}, nil
}
