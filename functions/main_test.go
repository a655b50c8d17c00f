package functions

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestMain lets this test binary serve as the policy analyzer's worker, as
// the cloud binary does (cmd/functions): the composition starts its own
// executable with analyzerproc.WorkerCommand, which here is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == analyzerproc.WorkerCommand {
		if err := analyzerproc.ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "analyzer worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCloudAnalyzerRunsInWorkers: with QUERYGATE_ANALYZER=process (the
// default) the composition's analyzer is a worker pool of this very binary,
// and an analysis through it answers like the in-process analyzer.
func TestCloudAnalyzerRunsInWorkers(t *testing.T) {
	c := &cloud{cfg: Config{Analyzer: "process", AnalyzerWorkers: 1, AnalyzerMaxAnalyses: 10, AnalyzerMaxRSSMB: 512, AnalyzerTimeout: time.Minute}}
	a, err := c.analyzer()
	if err != nil {
		t.Fatal(err)
	}
	pool, ok := a.(*analyzerproc.Pool)
	if !ok {
		t.Fatalf("analyzer is %T, want a worker pool", a)
	}
	defer pool.Close()
	if again, _ := c.analyzer(); again != a {
		t.Error("a second call built a second pool")
	}
	const sql = "SELECT 1 AS x"
	want, err := sqlscan.Analyze(context.Background(), sql, sqlscan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pool.Analyze(context.Background(), sql, sqlscan.Options{})
	if err != nil {
		t.Fatalf("analysis through the worker: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("worker analysis (-in process, +worker):\n%s", diff)
	}
	if st := pool.Stats(); st.Spawned != 1 || st.Analyses != 1 {
		t.Errorf("pool stats %+v, want one worker and one analysis", st)
	}
	off := &cloud{cfg: Config{Analyzer: "in-process"}}
	if a, err := off.analyzer(); err != nil || a != nil {
		t.Errorf("in-process: analyzer %v, %v; want none", a, err)
	}
}
