// Command load drives a local querygate gateway with concurrent agents and
// prints what it measured: sessions per minute, latency percentiles per kind
// of query, errors, sessions lost, and the gateway's resident memory. It is
// the tool behind scripts/load; nothing in it asserts a time.
//
// It starts `querygate dev` as a child process on a fresh data dir (or
// drives one already running, with -url and -data-dir), sends only to
// loopback, and at the end checks that every session it started is in the
// session store exactly once, ended, and has exactly one audit row per
// timeline event.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/procstat"
)

type config struct {
	bin         string
	url         string
	bigquery    string
	pid         int
	dataDir     string
	agents      int
	sessions    int
	duration    time.Duration
	mix         []kind
	reportEvery int
	project     string
	keep        bool
	extraArgs   []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "querygate", "", "the querygate binary to start as `querygate dev` (required unless -url)")
	fs.StringVar(&c.url, "url", "", "drive a gateway that is already running (loopback only); needs -data-dir and -bigquery")
	fs.StringVar(&c.bigquery, "bigquery", "", "with -url: the embedded BigQuery endpoint, for the audit check")
	fs.IntVar(&c.pid, "pid", 0, "with -url: the gateway's process id, for RSS")
	fs.StringVar(&c.dataDir, "data-dir", "", "the gateway's data dir (default: a fresh temporary one)")
	fs.IntVar(&c.agents, "agents", 4, "concurrent agents")
	fs.IntVar(&c.sessions, "sessions", 0, "stop after this many sessions in all (0: run for -duration)")
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to send when -sessions is 0")
	mix := fs.String("mix", "allowed=8,approval=1,denied=1", "relative weights of allowed, approval-needing and denied queries")
	fs.IntVar(&c.reportEvery, "report-every", 0, "print latency and RSS every N sessions (0: only at the end)")
	fs.StringVar(&c.project, "project", "querygate-local", "the local project")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary data dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.extraArgs = fs.Args()
	var err error
	if c.mix, err = parseMix(*mix); err != nil {
		return err
	}
	if c.agents < 1 {
		return errors.New("-agents must be at least 1")
	}
	if c.url == "" && c.bin == "" {
		return errors.New("give -querygate BIN (to start a gateway) or -url (to drive a running one)")
	}
	if c.dataDir == "" {
		if c.url != "" {
			return errors.New("-url needs the gateway's -data-dir (the dev issuer key is there)")
		}
		dir, err := os.MkdirTemp("", "querygate-load-")
		if err != nil {
			return err
		}
		c.dataDir = dir
		if !c.keep {
			defer os.RemoveAll(dir)
		}
	}
	if c.url == "" {
		child, err := startGateway(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer child.stop()
	}
	if err := loopbackOnly(c.url); err != nil {
		return err
	}
	l, err := newLoad(&c)
	if err != nil {
		return err
	}
	return l.run(ctx, stdout)
}

// gatewayProc is a `querygate dev` child process.
type gatewayProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *gatewayProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var (
	gatewayLineRE  = regexp.MustCompile(`(?m)^\s*gateway:\s+(\S+)`)
	bigqueryLineRE = regexp.MustCompile(`(?m)^\s*embedded BigQuery:\s+(\S+)`)
)

// startGateway runs `querygate dev` on free loopback ports and waits until it
// prints its URLs.
func startGateway(ctx context.Context, c *config, stderr io.Writer) (*gatewayProc, error) {
	args := []string{"dev", "--addr", "127.0.0.1:0", "--bigquery-addr", "127.0.0.1:0", "--smtp-addr", "127.0.0.1:0",
		"--data-dir", c.dataDir}
	args = append(args, c.extraArgs...)
	cmd := exec.Command(c.bin, args...)
	logf, err := os.Create(filepath.Join(c.dataDir, "load-gateway.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &gatewayProc{cmd: cmd, done: make(chan struct{})}
	urls := make(chan [2]string, 1)
	go func() {
		defer close(p.done)
		var buf strings.Builder
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent {
				buf.WriteString(sc.Text() + "\n")
				g, b := gatewayLineRE.FindStringSubmatch(buf.String()), bigqueryLineRE.FindStringSubmatch(buf.String())
				if g != nil && b != nil {
					urls <- [2]string{g[1], b[1]}
					sent = true
				}
			}
		}
		_ = cmd.Wait()
		logf.Close()
	}()
	select {
	case u := <-urls:
		c.url, c.bigquery, c.pid = u[0], u[1], cmd.Process.Pid
		fmt.Fprintf(stderr, "load: gateway %s (pid %d), data dir %s\n", c.url, c.pid, c.dataDir)
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("querygate dev exited before it was ready; see %s", filepath.Join(c.dataDir, "load-gateway.log"))
	case <-time.After(30 * time.Minute):
		p.stop()
		return nil, errors.New("querygate dev did not print its URLs within 30 minutes")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// loopbackOnly refuses any target but this machine: the tool must never
// load a shared gateway by mistake.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address; load only drives a local gateway", raw)
}

// rssBytes reads the resident set size of a process and all its
// descendants (the gateway and its embedded BigQuery child) from /proc.
func rssBytes(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	total := ownRSS(pid)
	for _, c := range children(pid) {
		total += rssBytes(c)
	}
	return total
}

func ownRSS(pid int) int64 { return procstat.RSS(pid) }

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// tokens mints dev tokens with the gateway's own dev issuer key.
type tokens struct {
	issuer *auth.DevIssuer
}

func (t tokens) mint(subject string, groups ...string) (string, error) {
	return t.issuer.Mint(auth.MintOptions{Subject: subject, Groups: groups, TTL: 12 * time.Hour})
}

// client is an HTTP client for the gateway.
type client struct {
	base string
	hc   *http.Client
}

func (c *client) do(ctx context.Context, method, path, tok string, body any, out any) (int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, resp.Header, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %d, body is not JSON: %w", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// loadWait bounds every long poll.
const loadWait = 30

func parseMix(s string) ([]kind, error) {
	var out []kind
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 || n > 1000 {
			return nil, fmt.Errorf("-mix %q: want name=weight,... with weights 0..1000", s)
		}
		k := kind(name)
		if !slices.Contains(allKinds, k) {
			return nil, fmt.Errorf("-mix: unknown kind %q (want %v)", name, allKinds)
		}
		for range n {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-mix has no positive weight")
	}
	// Spread the kinds: allowed,allowed,...,approval,... becomes an
	// interleaving, so that each agent sees every kind early.
	spread := make([]kind, 0, len(out))
	counts := map[kind]int{}
	for _, k := range out {
		counts[k]++
	}
	for len(spread) < len(out) {
		for _, k := range allKinds {
			if counts[k] > 0 {
				spread = append(spread, k)
				counts[k]--
			}
		}
	}
	return spread, nil
}
