package analyzerproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/procstat"
	"github.com/querygate/querygate/internal/sqlscan"
)

// Defaults of Options.
const (
	DefaultWorkers     = 1
	DefaultMaxAnalyses = 1000
	DefaultMaxRSS      = 512 << 20
	DefaultTimeout     = 10 * time.Second
	DefaultStart       = 30 * time.Second
)

// Options configure a Pool.
type Options struct {
	// Command starts one worker: the program and its arguments (a querygate
	// binary with its hidden analyzer-worker subcommand).
	Command []string
	// Workers is how many analyses may run at once; 0 means DefaultWorkers.
	Workers int
	// MaxAnalyses replaces a worker after this many analyses; 0 means
	// DefaultMaxAnalyses.
	MaxAnalyses int
	// MaxRSS replaces a worker once its resident memory passes this many
	// bytes after an analysis; 0 means DefaultMaxRSS.
	MaxRSS int64
	// Timeout bounds one analysis, catalog look-ups included; past it the
	// worker is killed (SIGKILL) and Analyze returns ErrTimeout. 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// StartTimeout bounds one worker's start; 0 means DefaultStart.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Pool is the parent side: it analyzes in worker processes, replaces
// each worker after MaxAnalyses analyses or above MaxRSS, and kills one
// whose analysis runs past Timeout. A request that finds every worker busy,
// or being replaced, waits for one (or for its context).
type Pool struct {
	opts  Options
	log   *slog.Logger
	slots chan *slot

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	spawned  atomic.Int64
	retired  atomic.Int64
	killed   atomic.Int64
	analyses atomic.Int64
}

// slot is one place in the pool; proc is nil until a worker runs in it.
type slot struct {
	proc *proc
}

// proc is one worker process.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	done  chan struct{}
	count int
}

// New returns a pool; workers start on first use.
func New(opts Options) (*Pool, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("analyzerproc: no worker command")
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxAnalyses <= 0 {
		opts.MaxAnalyses = DefaultMaxAnalyses
	}
	if opts.MaxRSS <= 0 {
		opts.MaxRSS = DefaultMaxRSS
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStart
	}
	p := &Pool{opts: opts, log: opts.Logger, slots: make(chan *slot, opts.Workers)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for i := 0; i < opts.Workers; i++ {
		p.slots <- &slot{}
	}
	return p, nil
}

// Stats counts what the pool did.
type Stats struct {
	// Analyses is how many analyses a worker answered.
	Analyses int64
	// Spawned is how many workers started.
	Spawned int64
	// Retired is how many workers were replaced after MaxAnalyses or MaxRSS.
	Retired int64
	// Killed is how many workers were killed or found dead (deadline, crash,
	// protocol error, canceled request).
	Killed int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{Analyses: p.analyses.Load(), Spawned: p.spawned.Load(), Retired: p.retired.Load(), Killed: p.killed.Load()}
}

// Analyze is sqlscan.Analyze in a worker: the same result and the same
// errors (a *sqlscan.ParseError, sqlscan.ErrNoStatements, catalog errors
// with their messages), plus ErrTimeout when the deadline killed the
// worker, ErrWorker when the worker failed, and ctx's error when ctx ended
// first (the worker is killed then too). opts.Catalog is consulted in this
// process, on the worker's behalf.
func (p *Pool) Analyze(ctx context.Context, sql string, opts sqlscan.Options) (*sqlscan.Analysis, error) {
	if !utf8.ValidString(sql) {
		// JSON would replace the invalid bytes, and the worker would analyze
		// other text than BigQuery runs.
		return nil, &sqlscan.ParseError{Message: "the SQL is not valid UTF-8"}
	}
	var s *slot
	select {
	case s = <-p.slots:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer p.release(s)
	if p.isClosed() {
		return nil, ErrClosed
	}
	if s.proc != nil && s.proc.exited() {
		// It died while idle: that fails no request.
		p.kill(s, "worker exited while idle")
	}
	if s.proc == nil {
		sctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
		pr, err := p.spawn(sctx)
		cancel()
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("%w: start: %w", ErrWorker, err)
		}
		s.proc = pr
	}
	pr := s.proc
	// The catalog look-ups made for the worker end with the analysis.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		a   *sqlscan.Analysis
		err error // an Analyze error, reported to the caller
		io  error // the worker failed
	}
	ch := make(chan outcome, 1)
	go func() {
		a, err, ioErr := p.exchange(ctx, pr, sql, opts)
		ch <- outcome{a, err, ioErr}
	}()
	timer := time.NewTimer(p.opts.Timeout)
	defer timer.Stop()
	var o outcome
	select {
	case o = <-ch:
	case <-timer.C:
		p.kill(s, "deadline")
		return nil, fmt.Errorf("%w (%s)", ErrTimeout, p.opts.Timeout)
	case <-ctx.Done():
		p.kill(s, "request ended")
		return nil, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		// The worker answered, but after the request ended (a catalog
		// look-up saw the end): report the end, as sqlscan.Analyze does.
		pr.count++
		return nil, err
	}
	if o.io != nil {
		p.kill(s, "worker failed")
		return nil, fmt.Errorf("%w: %w", ErrWorker, o.io)
	}
	pr.count++
	p.analyses.Add(1)
	return o.a, o.err
}

// exchange sends one request and answers the worker's catalog look-ups
// until its result arrives. ioErr reports a broken worker.
func (p *Pool) exchange(ctx context.Context, pr *proc, sql string, opts sqlscan.Options) (a *sqlscan.Analysis, err, ioErr error) {
	req := toWorker{Analyze: &analyzeRequest{SQL: sql, DefaultProject: opts.DefaultProject, DefaultDataset: opts.DefaultDataset}}
	if err := writeFrame(pr.stdin, req); err != nil {
		return nil, nil, fmt.Errorf("send request: %w", err)
	}
	for {
		var f fromWorker
		if err := readFrame(pr.out, &f); err != nil {
			return nil, nil, fmt.Errorf("read answer: %w", err)
		}
		switch {
		case f.Result != nil:
			if f.Result.Error != nil {
				return nil, f.Result.Error.decode(), nil
			}
			if f.Result.Analysis == nil {
				return nil, nil, errors.New("empty result")
			}
			return f.Result.Analysis, nil, nil
		case f.Table != nil:
			rep := &tableReply{}
			if opts.Catalog == nil {
				rep.Error, rep.NotFound = "no catalog: "+sqlscan.ErrTableNotFound.Error(), true
			} else if meta, err := opts.Catalog.Table(ctx, f.Table.Ref); err != nil {
				rep.Error, rep.NotFound = err.Error(), errors.Is(err, sqlscan.ErrTableNotFound)
			} else {
				rep.Meta = meta
			}
			if err := writeFrame(pr.stdin, toWorker{Table: rep}); err != nil {
				return nil, nil, fmt.Errorf("send table: %w", err)
			}
		default:
			return nil, nil, errors.New("unexpected frame")
		}
	}
}

// release returns s to the pool, first replacing its worker in the
// background when it is due; requests wait for the slot meanwhile.
func (p *Pool) release(s *slot) {
	pr := s.proc
	if pr == nil || p.isClosed() {
		p.slots <- s
		return
	}
	reason := ""
	if pr.count >= p.opts.MaxAnalyses {
		reason = fmt.Sprintf("%d analyses", pr.count)
	} else if rss := RSS(pr.cmd.Process.Pid); rss > p.opts.MaxRSS {
		reason = fmt.Sprintf("RSS %d MiB", rss>>20)
	}
	if reason == "" {
		p.slots <- s
		return
	}
	s.proc = nil
	p.retired.Add(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		rss := RSS(pr.cmd.Process.Pid)
		stop(pr)
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.StartTimeout)
		next, err := p.spawn(ctx)
		cancel()
		if err != nil {
			// The next request starts one itself, or fails closed.
			p.log.Error("analyzer worker did not start", "error", err.Error())
		} else {
			s.proc = next
		}
		p.log.Info("analyzer worker recycled", "reason", reason, "old_rss_mib", rss>>20)
		p.slots <- s
	}()
}

// kill SIGKILLs s's worker and empties the slot.
func (p *Pool) kill(s *slot, reason string) {
	pr := s.proc
	s.proc = nil
	if pr == nil {
		return
	}
	p.killed.Add(1)
	_ = pr.cmd.Process.Kill()
	_ = pr.stdin.Close()
	<-pr.done
	p.log.Warn("analyzer worker killed", "reason", reason)
}

func (p *Pool) spawn(ctx context.Context) (*proc, error) {
	cmd := exec.Command(p.opts.Command[0], p.opts.Command[1:]...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The worker exits when its stdin closes, so it never outlives us.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	pr := &proc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(pr.done)
	}()
	p.spawned.Add(1)
	hi := make(chan error, 1)
	go func() {
		var f fromWorker
		if err := readFrame(pr.out, &f); err != nil {
			hi <- fmt.Errorf("worker hello: %w", err)
			return
		}
		if f.Hello == nil || f.Hello.Version != protocolVersion {
			hi <- errors.New("worker hello: wrong protocol")
			return
		}
		hi <- nil
	}()
	select {
	case err := <-hi:
		if err != nil {
			_ = cmd.Process.Kill()
			<-pr.done
			return nil, err
		}
		return pr, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-pr.done
		<-hi
		return nil, fmt.Errorf("worker did not start in time: %w", ctx.Err())
	}
}

func (pr *proc) exited() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// stop retires a worker: closing stdin makes it exit; it is killed if it
// does not within five seconds.
func stop(pr *proc) {
	_ = pr.stdin.Close()
	select {
	case <-pr.done:
	case <-time.After(5 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close stops every worker once its analysis ends.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	for i := 0; i < p.opts.Workers; i++ {
		s := <-p.slots
		if s.proc != nil {
			stop(s.proc)
			s.proc = nil
		}
	}
	return nil
}

// RSS is procstat.RSS, kept for callers of this package.
func RSS(pid int) int64 { return procstat.RSS(pid) }
