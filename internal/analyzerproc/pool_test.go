package analyzerproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// The test binary doubles as the worker: started with workerArg it serves
// the protocol (with crashSQL making it exit mid-analysis, as a crashing
// ZetaSQL would).
const (
	workerArg = "__querygate_analyzer_worker__"
	crashSQL  = "SELECT 'crash the worker'"
	// chattySQL makes the worker write a log line straight to fd 1 before
	// analyzing, as ZetaSQL's C++ does on an internal check failure.
	chattySQL = "SELECT 'log to stdout' AS x"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerArg {
		proto, err := ProtocolStdout()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		err = serve(context.Background(), os.Stdin, proto, func(ctx context.Context, sql string, o sqlscan.Options) (*sqlscan.Analysis, error) {
			if sql == crashSQL {
				os.Exit(3)
			}
			if sql == chattySQL {
				unix.Write(1, []byte("2026-12-02 18:04:55  INFO resolver_query.cc : 4500 : INTERNAL: ZETASQL_RET_CHECK failure\n"))
			}
			return sqlscan.Analyze(ctx, sql, o)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newPool(t *testing.T, o Options) *Pool {
	t.Helper()
	o.Command = []string{os.Args[0], workerArg}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func demoOpts() sqlscan.Options {
	return sqlscan.Options{DefaultProject: "querygate-local", DefaultDataset: "demo", Catalog: sqlscantest.Demo()}
}

const typicalSQL = "SELECT c.city, COUNT(*) AS n, SUM(o.amount) AS total FROM demo.customers c JOIN demo.orders o USING (customer_id) GROUP BY c.city ORDER BY total DESC LIMIT 10"

// selfJoins is sqlscan's worst accepted statement (BenchmarkAnalyzeWorstAccepted).
func selfJoins(n int) string {
	var b strings.Builder
	b.WriteString("SELECT t0.customer_id FROM demo.customers t0")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, " JOIN demo.customers t%d ON t%d.customer_id = t0.customer_id", i, i)
	}
	return b.String()
}

// corpusSQL collects every `sql:` value of the testing/sql files.
func corpusSQL(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../testing/sql/corpus/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	files = append(files, "../../testing/sql/adversarial.yaml", "../../testing/sql/derived.yaml")
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "sql" {
					out = append(out, s)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walk(v)
	}
	return out
}

type errShape struct {
	Parse, NoStatements, NotFound bool
	Message                       string
}

func shape(err error) *errShape {
	if err == nil {
		return nil
	}
	var pe *sqlscan.ParseError
	return &errShape{Parse: errors.As(err, &pe), NoStatements: errors.Is(err, sqlscan.ErrNoStatements),
		NotFound: errors.Is(err, sqlscan.ErrTableNotFound), Message: err.Error()}
}

// TestWorkerMatchesInProcess: over every SQL of the corpora, the worker's
// analysis and error are deep-equal to the in-process ones.
func TestWorkerMatchesInProcess(t *testing.T) {
	ctx := context.Background()
	cat, cf, err := sqlscantest.LoadCatalog("../../testing/sql/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqlscantest.DemoTables() {
		cat.Put(m)
	}
	opts := sqlscan.Options{DefaultProject: cf.DefaultProject, DefaultDataset: cf.DefaultDataset, Catalog: cat}
	p := newPool(t, Options{Timeout: time.Minute})
	sqls := corpusSQL(t)
	if len(sqls) < 300 {
		t.Fatalf("only %d corpus statements", len(sqls))
	}
	// The catalog-less and error paths too.
	sqls = append(sqls, "", "-- nothing\n", "SELEC 1", "SELECT * FROM nope.missing", "SELECT 1\x00; DROP TABLE x")
	for i, sql := range sqls {
		want, wantErr := sqlscan.Analyze(ctx, sql, opts)
		got, gotErr := p.Analyze(ctx, sql, opts)
		if diff := cmp.Diff(shape(wantErr), shape(gotErr)); diff != "" {
			t.Errorf("case %d %.60q: error (-in process, +worker):\n%s", i, sql, diff)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("case %d %.60q: analysis (-in process, +worker):\n%s", i, sql, diff)
		}
	}
	if st := p.Stats(); st.Spawned != 1 || st.Killed != 0 || st.Analyses != int64(len(sqls)) {
		t.Errorf("stats = %+v, want 1 worker, no kill, %d analyses", st, len(sqls))
	}
}

// TestDeadlineKillsWorker: the worst accepted statement past a tiny
// deadline is ErrTimeout, its worker is killed, and a new worker answers
// the next request.
func TestDeadlineKillsWorker(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Timeout: time.Millisecond})
	// Start the worker under a generous deadline first, so that the tiny one
	// bounds the analysis, not the start.
	p.opts.Timeout = time.Minute
	if _, err := p.Analyze(ctx, "SELECT 1", demoOpts()); err != nil {
		t.Fatal(err)
	}
	first := p.Stats()
	p.opts.Timeout = time.Millisecond
	_, err := p.Analyze(ctx, selfJoins(sqlscan.MaxTableReferences), demoOpts())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	p.opts.Timeout = time.Minute
	a, err := p.Analyze(ctx, typicalSQL, demoOpts())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.OutputColumns); got != 3 {
		t.Errorf("next analysis has %d output columns, want 3", got)
	}
	st := p.Stats()
	if st.Killed != 1 || st.Spawned != first.Spawned+1 {
		t.Errorf("stats = %+v, want one kill and one more worker than %+v", st, first)
	}
}

// TestRecycleAfterMaxAnalyses: a worker is replaced after K analyses.
func TestRecycleAfterMaxAnalyses(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{MaxAnalyses: 3, Timeout: time.Minute})
	var pids []int
	for i := 0; i < 7; i++ {
		if _, err := p.Analyze(ctx, typicalSQL, demoOpts()); err != nil {
			t.Fatal(err)
		}
		s := <-p.slots
		pids = append(pids, s.proc.cmd.Process.Pid)
		p.slots <- s
	}
	// pids[i] is the worker in the slot after analysis i+1: the third and
	// the sixth analyses retire theirs.
	if pids[0] != pids[1] || pids[1] == pids[2] || pids[2] != pids[4] || pids[4] == pids[5] || pids[5] != pids[6] {
		t.Errorf("worker pids after each analysis = %v, want two, three, two", pids)
	}
	if st := p.Stats(); st.Retired != 2 || st.Spawned != 3 || st.Killed != 0 {
		t.Errorf("stats = %+v, want 2 retired, 3 spawned", st)
	}
}

// TestRecycleAboveRSS: a worker above MaxRSS is replaced after its analysis.
func TestRecycleAboveRSS(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{MaxRSS: 1, Timeout: time.Minute})
	for i := 0; i < 2; i++ {
		if _, err := p.Analyze(ctx, typicalSQL, demoOpts()); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Retired != 2 || st.Spawned < 2 {
		t.Errorf("stats = %+v, want every worker retired for RSS", st)
	}
}

// TestCrashFailsOnlyItsRequest: a worker that dies mid-analysis fails that
// request with ErrWorker, and a new worker answers the next one.
// TestStdoutWritesDoNotBreakFrames: a line written to fd 1 during an
// analysis (ZetaSQL's C++ logging; the zetafuzz worker read one as a
// 842,019,382-byte frame) goes to stderr, and the answer arrives intact
// from the same worker.
func TestStdoutWritesDoNotBreakFrames(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Timeout: time.Minute})
	a, err := p.Analyze(ctx, chattySQL, demoOpts())
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if len(a.Statements) != 1 {
		t.Errorf("statements = %d, want 1", len(a.Statements))
	}
	if _, err := p.Analyze(ctx, typicalSQL, demoOpts()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Killed != 0 || st.Spawned != 1 {
		t.Errorf("stats = %+v, want one worker, none killed", st)
	}
}

func TestCrashFailsOnlyItsRequest(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Timeout: time.Minute})
	_, err := p.Analyze(ctx, crashSQL, demoOpts())
	if !errors.Is(err, ErrWorker) {
		t.Fatalf("err = %v, want ErrWorker", err)
	}
	a, err := p.Analyze(ctx, typicalSQL, demoOpts())
	if err != nil {
		t.Fatal(err)
	}
	if a.Path != sqlscan.PathAnalyzer {
		t.Errorf("path = %q, want %q", a.Path, sqlscan.PathAnalyzer)
	}
	if st := p.Stats(); st.Killed != 1 || st.Spawned != 2 {
		t.Errorf("stats = %+v, want one kill, two workers", st)
	}
}

// TestIdleDeathFailsNothing: a worker that died between requests is
// replaced before the next request, which succeeds.
func TestIdleDeathFailsNothing(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Timeout: time.Minute})
	if _, err := p.Analyze(ctx, "SELECT 1", demoOpts()); err != nil {
		t.Fatal(err)
	}
	s := <-p.slots
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.done
	p.slots <- s
	if _, err := p.Analyze(ctx, typicalSQL, demoOpts()); err != nil {
		t.Fatalf("after an idle death: %v", err)
	}
}

// TestCatalogErrorsCross: a catalog failure reaches the caller with its
// message, as in process.
func TestCatalogErrorsCross(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Timeout: time.Minute})
	opts := demoOpts()
	opts.Catalog = failingCatalog{}
	want, wantErr := sqlscan.Analyze(ctx, typicalSQL, opts)
	got, gotErr := p.Analyze(ctx, typicalSQL, opts)
	if wantErr == nil || gotErr == nil || wantErr.Error() != gotErr.Error() || want != nil || got != nil {
		t.Errorf("in process (%v, %v), worker (%v, %v): want the same error", want, wantErr, got, gotErr)
	}
	if !strings.Contains(fmt.Sprint(gotErr), "tables.get refused") {
		t.Errorf("err = %v, want the catalog's message", gotErr)
	}
}

type failingCatalog struct{}

func (failingCatalog) Table(context.Context, sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	return nil, errors.New("tables.get refused")
}

// TestInvalidUTF8 is refused before it reaches a worker.
func TestInvalidUTF8(t *testing.T) {
	p := newPool(t, Options{})
	_, err := p.Analyze(context.Background(), "SELECT '\xff'", demoOpts())
	var pe *sqlscan.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a ParseError", err)
	}
	if st := p.Stats(); st.Spawned != 0 {
		t.Errorf("a worker started for invalid UTF-8: %+v", st)
	}
}

// TestConcurrentRequestsAcrossRecycles: requests from many goroutines,
// through two workers recycled every 5 analyses, all succeed: a recycle
// holds requests, it does not fail them.
func TestConcurrentRequestsAcrossRecycles(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, Options{Workers: 2, MaxAnalyses: 5, Timeout: time.Minute})
	const goroutines, each = 6, 10
	errs := make(chan error, goroutines*each)
	for g := 0; g < goroutines; g++ {
		go func() {
			for i := 0; i < each; i++ {
				a, err := p.Analyze(ctx, typicalSQL, demoOpts())
				if err == nil && len(a.OutputColumns) != 3 {
					err = fmt.Errorf("%d output columns, want 3", len(a.OutputColumns))
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < goroutines*each; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := p.Stats(); st.Analyses != goroutines*each || st.Killed != 0 || st.Retired < 10 {
		t.Errorf("stats = %+v, want %d analyses, no kill, at least 10 recycles", st, goroutines*each)
	}
}

// TestCanceledRequest: a request whose context ends during the analysis
// returns the context's error and kills its worker; the next one succeeds.
func TestCanceledRequest(t *testing.T) {
	p := newPool(t, Options{Timeout: time.Minute})
	if _, err := p.Analyze(context.Background(), "SELECT 1", demoOpts()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := demoOpts()
	opts.Catalog = cancelingCatalog{cancel: cancel, next: opts.Catalog}
	if _, err := p.Analyze(ctx, typicalSQL, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := p.Analyze(context.Background(), typicalSQL, demoOpts()); err != nil {
		t.Fatalf("after a canceled request: %v", err)
	}
	// Whether the worker is killed or answers first is a race; either way
	// the request ends with its context and the pool serves on.
	if st := p.Stats(); st.Killed > 1 || st.Analyses < 2 {
		t.Errorf("stats = %+v, want at most one kill and both other analyses", st)
	}
}

// cancelingCatalog cancels the request on its first look-up, which happens
// while the worker waits for the answer.
type cancelingCatalog struct {
	cancel context.CancelFunc
	next   sqlscan.Catalog
}

func (c cancelingCatalog) Table(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	c.cancel()
	<-ctx.Done()
	return nil, ctx.Err()
}
