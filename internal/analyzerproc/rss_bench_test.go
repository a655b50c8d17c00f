package analyzerproc

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/sqlscan"
)

// BenchmarkRSS analyzes a typical statement b.N times, in process or in
// recycled workers (K = 1,000), and reports the resident memory the
// analyses leave behind: the parent's growth (parent-MB), and with workers
// the largest worker RSS seen (worker-max-MB). Run each mode in its own
// process, since in-process growth is never returned:
//
//	go test ./internal/analyzerproc -run '^$' -bench 'RSS/in_process' -benchtime 2000x
//	go test ./internal/analyzerproc -run '^$' -bench 'RSS/worker' -benchtime 2000x
func BenchmarkRSS(b *testing.B) {
	ctx := context.Background()
	opts := demoOpts()
	run := func(b *testing.B, analyze func() error, worker func() int64) {
		if err := analyze(); err != nil { // warm up: builtin catalog, first worker
			b.Fatal(err)
		}
		before := RSS(os.Getpid())
		var workerMax int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := analyze(); err != nil {
				b.Fatal(err)
			}
			if worker != nil && i%100 == 0 {
				workerMax = max(workerMax, worker())
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(RSS(os.Getpid())-before)/(1<<20), "parent-growth-MB")
		b.ReportMetric(float64(RSS(os.Getpid()))/(1<<20), "parent-MB")
		if worker != nil {
			b.ReportMetric(float64(workerMax)/(1<<20), "worker-max-MB")
		}
	}
	b.Run("in_process", func(b *testing.B) {
		run(b, func() error { _, err := sqlscan.Analyze(ctx, typicalSQL, opts); return err }, nil)
	})
	b.Run("worker", func(b *testing.B) {
		p, err := New(Options{Command: []string{os.Args[0], workerArg}, Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		run(b, func() error { _, err := p.Analyze(ctx, typicalSQL, opts); return err }, func() int64 {
			s := <-p.slots
			defer func() { p.slots <- s }()
			if s.proc == nil {
				return 0
			}
			return RSS(s.proc.cmd.Process.Pid)
		})
		b.ReportMetric(float64(p.Stats().Retired), "recycles")
	})
}

// BenchmarkWorkerStart is what a recycle costs the request that waits for
// it: a worker's start up to its hello, then its first analysis (ZetaSQL's
// builtin catalog is built then).
func BenchmarkWorkerStart(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		p, err := New(Options{Command: []string{os.Args[0], workerArg}, Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Analyze(ctx, typicalSQL, demoOpts()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = p.Close()
		b.StartTimer()
	}
}
