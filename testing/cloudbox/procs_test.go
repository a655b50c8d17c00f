package cloudbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds one function's start: its eager construction
// (Prepare) and its first listen. It bounds a hung start, it measures
// nothing.
const startTimeout = 2 * time.Minute

// buildFunctions builds cmd/functions into dir with the caller's toolchain
// settings (CGO_ENABLED=1 and clang, as for every build of ZetaSQL) and
// build cache.
func buildFunctions(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "functions")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/querygate/querygate/cmd/functions")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/functions: %v\n%s", err, out)
	}
	return bin
}

// proc is one function's process.
type proc struct {
	name string
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []string // every line it printed, stdout and stderr
}

func (p *proc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *proc) tail(n int) string {
	l := p.output()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProc starts bin with exactly env (nothing of the test's own
// environment) in its own process group, killed when t ends.
func startProc(t *testing.T, bin, name string, env map[string]string) *proc {
	t.Helper()
	port := freePort(t)
	p := &proc{name: name, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	keys := sortedKeys(env)
	for _, k := range keys {
		p.cmd.Env = append(p.cmd.Env, k+"="+env[k])
	}
	p.cmd.Env = append(p.cmd.Env, "PORT="+strconv.Itoa(port))
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				p.mu.Lock()
				p.lines = append(p.lines, sc.Text())
				p.mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		// The whole group: the policy function's analyzer workers too.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// waitReady waits until p accepts connections, failing with its output if
// it exits or the start takes longer than startTimeout.
func (p *proc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("function %s exited at start (%v); its output:\n%s", p.name, p.cmd.ProcessState, p.tail(40))
		case <-ctx.Done():
			return fmt.Errorf("function %s did not listen on %s within %v; its output:\n%s", p.name, p.addr, startTimeout, p.tail(40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkJSONLogs reports every line a process printed that is not a JSON
// object with a string severity and message, as Cloud Logging reads them.
func checkJSONLogs(t *testing.T, procs []*proc) {
	t.Helper()
	for _, p := range procs {
		lines := p.output()
		if len(lines) == 0 {
			t.Errorf("function %s printed nothing; want at least its start entry", p.name)
		}
		for i, l := range lines {
			var entry map[string]any
			if err := json.Unmarshal([]byte(l), &entry); err != nil {
				t.Errorf("function %s line %d is not JSON: %.300s", p.name, i+1, l)
				continue
			}
			sev, _ := entry["severity"].(string)
			if _, ok := entry["message"].(string); !ok || sev == "" {
				t.Errorf("function %s line %d has no severity or message: %.300s", p.name, i+1, l)
			}
		}
	}
}

// startAll starts one process per function in parallel and waits for all.
func startAll(t *testing.T, bin string, envs map[string]map[string]string) map[string]*proc {
	t.Helper()
	procs := map[string]*proc{}
	names := sortedKeys(envs)
	for _, n := range names {
		procs[n] = startProc(t, bin, n, envs[n])
	}
	errc := make(chan error, len(names))
	for _, n := range names {
		go func() { errc <- procs[n].waitReady(context.Background()) }()
	}
	var errs []error
	for range names {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return procs
}

func procList(m map[string]*proc) []*proc {
	out := make([]*proc, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
