package zetafuzz_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/testing/zetafuzz"
)

// workerEnv names the worker binary; scripts/fuzz.sh builds it once. When
// it is unset, TestMain builds it and sets it, so that the fuzzer's worker
// processes (this binary again) reuse that build.
const workerEnv = "QUERYGATE_ZETAFUZZ_WORKER"

// callTimeout bounds one input. Every accepted statement analyzes in well
// under a second; an input the worker does not answer in this long hangs
// the analyzer, and is a finding.
const callTimeout = time.Minute

// maxCalls replaces a worker after this many inputs: go-zetasql never
// frees its C++ allocations (about 30 KB per analysis, see
// internal/analyzerproc), and the fuzzer sends thousands a second.
const maxCalls = 1000

var workerPath string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	workerPath = os.Getenv(workerEnv)
	if workerPath == "" {
		dir, err := os.MkdirTemp("", "zetafuzz")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		workerPath = filepath.Join(dir, "worker")
		build := exec.Command("go", "build", "-o", workerPath, "./worker")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build the zetafuzz worker:", err)
			return 1
		}
		// A process-wide setting on purpose: the fuzz coordinator starts its
		// workers with this environment.
		if err := os.Setenv(workerEnv, workerPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// worker is this process's analyzer worker, started on first use and again
// after one died.
var worker client

type client struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     *bufio.Writer
	stdin  io.Closer
	out    *bufio.Reader
	stderr *tail
	done   chan struct{}
	calls  int
}

// check sends one input and returns the worker's violation, its death, or
// its silence past callTimeout, as an error.
func (c *client) check(call zetafuzz.Call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.calls >= maxCalls {
		c.retire()
	}
	if c.cmd == nil {
		if err := c.start(); err != nil {
			return fmt.Errorf("start the zetafuzz worker: %w", err)
		}
	}
	c.calls++
	type answer struct {
		violation string
		err       error
	}
	ch := make(chan answer, 1)
	go func() {
		err := zetafuzz.WriteCall(c.in, call)
		if err == nil {
			err = c.in.Flush()
		}
		if err != nil {
			ch <- answer{err: err}
			return
		}
		v, err := zetafuzz.ReadReply(c.out)
		ch <- answer{v, err}
	}()
	timer := time.NewTimer(callTimeout)
	defer timer.Stop()
	select {
	case a := <-ch:
		if a.err != nil {
			return fmt.Errorf("the worker died on this input (%v): %s", a.err, c.stop())
		}
		if a.violation != "" {
			return errors.New(a.violation)
		}
		return nil
	case <-timer.C:
		state := c.stop()
		<-ch
		return fmt.Errorf("the worker did not answer within %s: the analyzer hangs on this input (%s)", callTimeout, state)
	}
}

// fuzzCall fails t when call breaks its target's invariants.
func fuzzCall(t *testing.T, call zetafuzz.Call) {
	t.Helper()
	if err := worker.check(call); err != nil {
		t.Fatal(err)
	}
}

func (c *client) start() error {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	cmd := exec.Command(workerPath, "-repo", repo)
	c.stderr = &tail{}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cmd, c.stdin, c.in, c.out = cmd, stdin, bufio.NewWriter(stdin), bufio.NewReader(stdout)
	c.done = make(chan struct{})
	c.calls = 0
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return nil
}

// retire ends a healthy worker: closing its stdin makes it exit.
func (c *client) retire() {
	_ = c.in.Flush()
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(callTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// stop kills the worker and describes how it ended, with its last stderr.
func (c *client) stop() string {
	_ = c.cmd.Process.Kill()
	_ = c.stdin.Close()
	<-c.done
	state := fmt.Sprintf("%v; stderr:\n%s", c.cmd.ProcessState, c.stderr.String())
	c.cmd = nil
	return state
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 8 << 10

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailSize {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// corpusSQL is every `sql:` of the analyzer corpus in testing/sql/corpus.
func corpusSQL(f *testing.F) []string {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "sql", "corpus", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus files: %v", err)
	}
	var out []string
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var cases []struct {
			SQL string `yaml:"sql"`
		}
		if err := yaml.Unmarshal(src, &cases); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			out = append(out, c.SQL)
		}
	}
	return out
}

// FuzzAnalyze feeds arbitrary text to sqlscan.Analyze (check.Analyze): it
// must not crash, and it either fails with an error or returns a
// well-formed analysis.
func FuzzAnalyze(f *testing.F) {
	for _, s := range corpusSQL(f) {
		f.Add(s)
	}
	for _, s := range []string{"", ";", "SELECT", "/*", "SELECT * FROM", "`", "SELECT 1;;", "BEGIN", "WITH RECURSIVE a AS (SELECT * FROM a) SELECT * FROM a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		fuzzCall(t, zetafuzz.Call{Target: zetafuzz.TargetAnalyze, Args: [][]byte{[]byte(sql)}})
	})
}

// FuzzAnalyzeLimits builds SQL around the analyzer's resource limits
// (check.Limits): over a limit Analyze refuses with a ParseError, under it
// the process survives.
func FuzzAnalyzeLimits(f *testing.F) {
	for _, shape := range []uint8{0, 1, 2, 3} {
		f.Add(shape, uint16(3), "")
	}
	// The cases just over each limit are in testdata/fuzz/FuzzAnalyzeLimits.
	f.Fuzz(func(t *testing.T, shape uint8, n uint16, filler string) {
		fuzzCall(t, zetafuzz.Call{Target: zetafuzz.TargetLimits, Args: [][]byte{{shape}, {byte(n >> 8), byte(n)}, []byte(filler)}})
	})
}

// FuzzEvaluate checks the fail-closed contract of the default policy on
// arbitrary SQL (check.FailClosed).
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{
		"SELECT full_name FROM demo.customers LIMIT 3",
		"SELECT * FROM demo.customers",
		"SELECT LOWER(email) AS e, city FROM demo.customers",
		"WITH c AS (SELECT ssn AS x FROM demo.customers) SELECT x FROM c",
		"SELECT TO_JSON_STRING(c) FROM demo.customers c",
		"SELECT email FROM demo.customer_contacts",
		"DELETE FROM demo.customers WHERE TRUE",
		"SELECT 1; DROP TABLE demo.customers",
		"EXECUTE IMMEDIATE 'SELECT ssn FROM demo.customers'",
		"SELECT o.amount, c.card_number FROM demo.orders o JOIN demo.customers c USING (customer_id)",
		"SELECT city FROM demo.customers UNION ALL SELECT ssn FROM demo.customers",
		"SELECT ARRAY_AGG(STRUCT(phone)) FROM demo.customers",
		"SELECT customer_id, pos, d FROM demo.customers, UNNEST(GENERATE_ARRAY(1, 11)) AS pos, UNNEST(['0', '1']) AS d WHERE SUBSTR(ssn, pos, 1) = d",
		"SELECT customer_id, ROW_NUMBER() OVER (ORDER BY ssn) AS rn FROM demo.customers",
		"SELECT SUBSTR(ssn, 1, 1) AS d, COUNT(*) FROM demo.customers GROUP BY d",
		"SELECT city, COUNT(DISTINCT email) FROM demo.customers GROUP BY city",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		fuzzCall(t, zetafuzz.Call{Target: zetafuzz.TargetEvaluate, Args: [][]byte{[]byte(sql)}})
	})
}

// FuzzLoad feeds arbitrary YAML to policy.Load (check.Load): no panic, and
// a policy it accepts has usable rules.
func FuzzLoad(f *testing.F) {
	def, err := os.ReadFile(filepath.Join("..", "..", "internal", "policy", "default.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(def))
	f.Add("version: 1\nrules:\n  - id: a\n    action: allow\n    match: {kinds: [dml], estimated_bytes_over: 1KiB}\n")
	f.Fuzz(func(t *testing.T, src string) {
		fuzzCall(t, zetafuzz.Call{Target: zetafuzz.TargetLoad, Args: [][]byte{[]byte(src)}})
	})
}
