// Package bqproc runs the embedded BigQuery emulator in a supervised child
// process and recycles it, so that the emulator's native memory, which
// go-zetasql never frees, cannot grow without bound in a long-lived local
// gateway.
//
// The parent owns the public listener and proxies every REST call to the
// current child over loopback, with a per-child bearer token. The child's
// state lives in the data dir (the emulator's SQLite file), so a new child
// sees every dataset, table, row and job the old one had. A recycle waits
// until the requests in flight have finished, holds new ones while the next
// child starts, and then lets them through: no request fails because of it.
package bqproc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/querygate/querygate/internal/procstat"
)

// ReadyPrefix starts the one line a child prints on stdout once it serves.
const ReadyPrefix = "QUERYGATE_BIGQUERY_CHILD_READY "

// TokenEnv carries the child's bearer token from parent to child.
const TokenEnv = "QUERYGATE_BIGQUERY_CHILD_TOKEN"

// Options configure a Supervisor.
type Options struct {
	// Command starts one child: the program and its arguments (for
	// `querygate dev`, its own executable with the internal-bigquery
	// subcommand and the data dir, project and data files).
	Command []string
	// MaxQueries recycles the child after this many query calls (jobs.query
	// and jobs.insert); 0 means 500.
	MaxQueries int
	// MaxRSS recycles the child once its resident memory passes this many
	// bytes; 0 means 1 GiB.
	MaxRSS int64
	// StartTimeout bounds one child's start; 0 means 2 minutes.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Supervisor is the parent side: a handler that proxies to the current child.
type Supervisor struct {
	opts Options
	log  *slog.Logger

	// gate: each proxied request holds a read lock for its whole duration;
	// a recycle takes the write lock, so it waits for requests in flight and
	// holds new ones until the next child serves.
	gate  sync.RWMutex
	cur   atomic.Pointer[child]
	proxy *httputil.ReverseProxy

	queries   atomic.Int64
	recycling atomic.Bool
	recycles  atomic.Int64
	closed    atomic.Bool
	wg        sync.WaitGroup
}

type child struct {
	cmd    *exec.Cmd
	base   *url.URL
	token  string
	done   chan struct{}
	exited atomic.Bool
}

// Start starts the first child and returns once it serves.
func Start(ctx context.Context, opts Options) (*Supervisor, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("bqproc: no child command")
	}
	if opts.MaxQueries <= 0 {
		opts.MaxQueries = 500
	}
	if opts.MaxRSS <= 0 {
		opts.MaxRSS = 1 << 30
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	s := &Supervisor{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	c, err := s.spawn(ctx)
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			c := s.cur.Load()
			pr.SetURL(c.base)
			pr.Out.Host = pr.In.Host // self links name the public address
			pr.Out.Header.Set("Authorization", "Bearer "+c.token)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Error("embedded BigQuery child unreachable", "error", err.Error())
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":503,"message":"the embedded BigQuery is restarting; retry","status":"UNAVAILABLE"}}`+"\n")
		},
	}
	return s, nil
}

// Handler proxies to the current child. Put the public guards (host check,
// bearer token) in front of it.
func (s *Supervisor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gate.RLock()
		c := s.cur.Load()
		if c.exited.Load() && !s.closed.Load() {
			// The child died between recycles: restart it before serving.
			s.gate.RUnlock()
			s.recycle("child exited")
			s.gate.RLock()
		}
		s.proxy.ServeHTTP(w, r)
		s.gate.RUnlock()
		if isQuery(r) {
			s.queries.Add(1)
		}
		s.maybeRecycle()
	})
}

// isQuery reports the calls that run a query job.
func isQuery(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return strings.HasSuffix(p, "/queries") || strings.HasSuffix(p, "/jobs")
}

// Recycles is how many times a child was replaced.
func (s *Supervisor) Recycles() int64 { return s.recycles.Load() }

// ChildPID is the current child's process id.
func (s *Supervisor) ChildPID() int {
	if c := s.cur.Load(); c != nil && c.cmd.Process != nil {
		return c.cmd.Process.Pid
	}
	return 0
}

func (s *Supervisor) maybeRecycle() {
	if s.closed.Load() {
		return
	}
	reason := ""
	if n := s.queries.Load(); n >= int64(s.opts.MaxQueries) {
		reason = fmt.Sprintf("%d queries", n)
	} else if rss := RSS(s.ChildPID()); rss >= s.opts.MaxRSS {
		reason = fmt.Sprintf("RSS %d MiB", rss>>20)
	}
	if reason == "" || !s.recycling.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.recycling.Store(false)
		s.recycle(reason)
	}()
}

// recycle replaces the child: drain, stop, start the next one on the same
// data dir. If the next child cannot start, it retries with backoff while
// requests wait; a gateway whose BigQuery cannot start again serves 503s.
func (s *Supervisor) recycle(reason string) {
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed.Load() {
		return
	}
	old := s.cur.Load()
	if reason == "child exited" && !old.exited.Load() {
		return // another request restarted it already
	}
	if old.exited.Load() {
		reason = "child exited"
	}
	start := time.Now()
	oldRSS := RSS(s.ChildPID())
	stopChild(old)
	var next *child
	var err error
	for attempt, wait := 1, 500*time.Millisecond; attempt <= 5; attempt, wait = attempt+1, wait*2 {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.StartTimeout)
		next, err = s.spawn(ctx)
		cancel()
		if err == nil {
			break
		}
		s.log.Error("embedded BigQuery child did not start", "attempt", attempt, "error", err.Error())
		time.Sleep(wait)
	}
	if err != nil {
		return // old stays current and exited: the proxy answers 503
	}
	s.cur.Store(next)
	s.queries.Store(0)
	s.recycles.Add(1)
	s.log.Info("embedded BigQuery recycled", "reason", reason, "old_rss_mib", oldRSS>>20, "pause_ms", time.Since(start).Milliseconds())
}

func (s *Supervisor) spawn(ctx context.Context) (*child, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(b[:])
	cmd := exec.Command(s.opts.Command[0], s.opts.Command[1:]...)
	cmd.Env = append(os.Environ(), TokenEnv+"="+token)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The child exits when its stdin closes, so it never outlives us.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bqproc: start child: %w", err)
	}
	c := &child{cmd: cmd, token: token, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, ReadyPrefix) {
				select {
				case ready <- strings.TrimPrefix(line, ReadyPrefix):
				default:
				}
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		_ = stdin.Close()
		c.exited.Store(true)
		close(c.done)
	}()
	select {
	case addr := <-ready:
		u, err := url.Parse(strings.TrimSpace(addr))
		if err != nil || u.Host == "" {
			stopChild(c)
			return nil, fmt.Errorf("bqproc: child announced %q", addr)
		}
		c.base = u
		return c, nil
	case <-c.done:
		return nil, errors.New("bqproc: child exited before it served")
	case <-ctx.Done():
		stopChild(c)
		return nil, fmt.Errorf("bqproc: child did not serve in time: %w", ctx.Err())
	}
}

func stopChild(c *child) {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Close stops the child.
func (s *Supervisor) Close() error {
	s.closed.Store(true)
	s.wg.Wait()
	s.gate.Lock()
	defer s.gate.Unlock()
	stopChild(s.cur.Load())
	return nil
}

// RSS is procstat.RSS, kept for callers of this package.
func RSS(pid int) int64 { return procstat.RSS(pid) }
