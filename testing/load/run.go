package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/querygate/querygate/internal/auth"
)

// kind is one sort of query the agents send.
type kind string

const (
	kindAllowed  kind = "allowed"
	kindApproval kind = "approval"
	kindDenied   kind = "denied"
)

var allKinds = []kind{kindAllowed, kindApproval, kindDenied}

// The queries are bounded: the demo tables are small and every query has a
// LIMIT or an aggregate.
var queries = map[kind]string{
	kindAllowed:  "SELECT city, COUNT(*) AS n FROM demo.customers WHERE customer_id < 500 GROUP BY city ORDER BY city",
	kindApproval: "SELECT * FROM demo.customers WHERE customer_id < 4",
	kindDenied:   "DELETE FROM demo.customers WHERE customer_id = 1",
}

// want is the status each kind must end in.
var want = map[kind]string{kindAllowed: "succeeded", kindApproval: "succeeded", kindDenied: "denied"}

const approver = "approver1@example.com"

// result is one session as an agent saw it.
type result struct {
	kind    kind
	id      string
	status  string // final status
	code    int    // HTTP status of the first answer
	latency time.Duration
	err     string
	seq     int64 // order of completion
}

type load struct {
	c        *config
	api      *client
	toks     tokens
	approver string
	auditor  string

	started atomic.Int64
	done    atomic.Int64
	mu      sync.Mutex
	results []result
	rssPeak atomic.Int64
}

func newLoad(c *config) (*load, error) {
	iss, err := auth.LoadOrCreateDevIssuer(c.dataDir, "")
	if err != nil {
		return nil, fmt.Errorf("dev issuer in %s: %w", c.dataDir, err)
	}
	l := &load{c: c, api: &client{base: strings.TrimRight(c.url, "/"), hc: &http.Client{Timeout: 2 * time.Minute}},
		toks: tokens{issuer: iss}}
	if l.approver, err = l.toks.mint(approver); err != nil {
		return nil, err
	}
	if l.auditor, err = l.toks.mint("auditor@example.com", "auditors"); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *load) run(ctx context.Context, stdout io.Writer) error {
	rssStart := rssBytes(l.c.pid)
	l.rssPeak.Store(rssStart)
	stopRSS := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopRSS:
				return
			case <-t.C:
				if r := rssBytes(l.c.pid); r > l.rssPeak.Load() {
					l.rssPeak.Store(r)
				}
			}
		}
	}()
	sendCtx := ctx
	if l.c.sessions == 0 {
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(ctx, l.c.duration)
		defer cancel()
	}
	fmt.Fprintf(stdout, "querygate load: %d agents, %s, mix %v, gateway %s\n", l.c.agents, l.budget(), mixString(l.c.mix), l.c.url)
	if l.c.reportEvery > 0 {
		fmt.Fprintf(stdout, "\n%10s %12s %12s %12s\n", "sessions", "p50 ms", "p99 ms", "RSS MiB")
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for a := range l.c.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.agent(sendCtx, ctx, a, stdout)
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(stopRSS)
	rssEnd := rssBytes(l.c.pid)
	v := l.verify(ctx)
	l.report(stdout, elapsed, rssStart, rssEnd, v)
	if v.lost > 0 || v.duplicates > 0 || v.auditBad > 0 {
		return fmt.Errorf("%d sessions lost, %d listed more than once, %d with wrong audit rows", v.lost, v.duplicates, v.auditBad)
	}
	return nil
}

func (l *load) budget() string {
	if l.c.sessions > 0 {
		return fmt.Sprintf("%d sessions", l.c.sessions)
	}
	return l.c.duration.String()
}

func mixString(m []kind) string {
	n := map[kind]int{}
	for _, k := range m {
		n[k]++
	}
	var parts []string
	for _, k := range allKinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n[k]))
	}
	return strings.Join(parts, ",")
}

// next reserves the index of one more session, or reports the budget spent.
func (l *load) next(sendCtx context.Context) (int64, bool) {
	if sendCtx.Err() != nil {
		return 0, false
	}
	i := l.started.Add(1) - 1
	if l.c.sessions > 0 && i >= int64(l.c.sessions) {
		return 0, false
	}
	return i, true
}

// agent sends one session after another. sendCtx ends the sending; ctx ends
// the waiting for sessions already started.
func (l *load) agent(sendCtx, ctx context.Context, n int, stdout io.Writer) {
	subject := fmt.Sprintf("agent%d@example.com", n+1)
	tok, err := l.toks.mint(subject, "analysts")
	if err != nil {
		l.add(result{err: "mint: " + err.Error()}, stdout)
		return
	}
	for {
		i, ok := l.next(sendCtx)
		if !ok {
			return
		}
		k := l.c.mix[int(i)%len(l.c.mix)]
		l.add(l.session(ctx, tok, k, n, i), stdout)
	}
}

type queryAnswer struct {
	SessionID string   `json:"session_id"`
	Status    string   `json:"status"`
	Reasons   []string `json:"reasons"`
	Message   string   `json:"message"`
	Error     string   `json:"error"`
}

func (l *load) session(ctx context.Context, tok string, k kind, agent int, i int64) result {
	r := result{kind: k}
	start := time.Now()
	body := map[string]any{"sql": queries[k], "prompt": fmt.Sprintf("load run: %s query %d", k, i),
		"conversation_id": fmt.Sprintf("load-agent-%d", agent+1), "agent": map[string]string{"name": "load", "model": "none"},
		"wait_seconds": loadWait}
	var a queryAnswer
	code, hdr, err := l.api.do(ctx, http.MethodPost, "/v1/queries", tok, body, &a)
	r.code, r.id, r.status = code, a.SessionID, a.Status
	if err != nil {
		r.err = "POST /v1/queries: " + err.Error()
		r.latency = time.Since(start)
		return r
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		r.err = fmt.Sprintf("%d (Retry-After %q)", code, hdr.Get("Retry-After"))
		r.latency = time.Since(start)
		return r
	}
	if k == kindApproval && r.id != "" {
		st := r.status
		for st != "" && !terminal(st) && st != "pending_approval" && err == nil {
			st, err = l.wait(ctx, tok, r.id, func(s string) bool { return terminal(s) || s == "pending_approval" })
		}
		r.status = st
		if err == nil && st == "pending_approval" {
			err = l.approve(ctx, r.id)
		}
		if err != nil {
			r.err = err.Error()
		}
	}
	if r.err == "" && r.id != "" && !terminal(r.status) {
		st, err := l.wait(ctx, tok, r.id, terminal)
		if err != nil {
			r.err = err.Error()
		}
		r.status = st
	}
	r.latency = time.Since(start)
	if r.err == "" && r.status != want[k] {
		r.err = fmt.Sprintf("ended %q (HTTP %d), want %q; reasons %v %s", r.status, code, want[k], a.Reasons, a.Message)
	}
	return r
}

func terminal(s string) bool {
	switch s {
	case "succeeded", "failed", "denied", "rejected", "expired", "cancelled":
		return true
	}
	return false
}

// wait long-polls a session until its status satisfies done.
func (l *load) wait(ctx context.Context, tok, id string, done func(string) bool) (string, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var s struct {
			Status string `json:"status"`
		}
		code, _, err := l.api.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id)+fmt.Sprintf("?wait_seconds=%d", loadWait), tok, nil, &s)
		if err != nil {
			return s.Status, err
		}
		if code != http.StatusOK {
			return s.Status, fmt.Errorf("GET /v1/sessions/%s = %d", id, code)
		}
		if done(s.Status) {
			return s.Status, nil
		}
	}
	return "", fmt.Errorf("session %s did not reach the awaited state within 10 minutes", id)
}

var (
	approveLineRE = regexp.MustCompile(`(?m)^Approve:\s+(\S+)`)
	hiddenRE      = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	htmlUnescape  = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
)

// approve acts as approver1: finds the session's mail in the dev mailbox,
// opens the Approve link and posts the page's form, as a browser would.
func (l *load) approve(ctx context.Context, id string) error {
	link := ""
	for try := 0; link == "" && try < 600; try++ {
		var msgs []struct {
			Subject string `json:"subject"`
			Text    string `json:"text"`
		}
		code, _, err := l.api.do(ctx, http.MethodGet, "/dev/mailbox?to="+url.QueryEscape(approver)+"&token="+url.QueryEscape(l.approver), l.approver, nil, &msgs)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET /dev/mailbox = %d: %v", code, err)
		}
		for _, m := range msgs {
			if strings.Contains(m.Subject, "(session "+id+")") {
				if mm := approveLineRE.FindStringSubmatch(m.Text); mm != nil {
					link = mm[1]
				}
			}
		}
		if link == "" {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if link == "" {
		return fmt.Errorf("no approval mail for session %s", id)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	page, err := fetch(ctx, hc, http.MethodGet, link, nil)
	if err != nil {
		return fmt.Errorf("approval page: %w", err)
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape.Replace(m[2]))
	}
	if form.Get("csrf") == "" {
		return fmt.Errorf("approval page for %s has no form", id)
	}
	form.Set("decision", "approve")
	form.Set("comment", "load run")
	if _, err := fetch(ctx, hc, http.MethodPost, l.api.base+"/approval/decide", form); err != nil {
		return fmt.Errorf("approval decide: %w", err)
	}
	return nil
}

func fetch(ctx context.Context, hc *http.Client, method, u string, form url.Values) (string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s = %d", method, resp.StatusCode)
	}
	return string(b), err
}

func (l *load) add(r result, stdout io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.seq = l.done.Add(1)
	l.results = append(l.results, r)
	if e := l.c.reportEvery; e > 0 && r.seq%int64(e) == 0 {
		window := l.results[len(l.results)-e:]
		var lat []time.Duration
		for _, x := range window {
			if x.kind == kindAllowed && x.err == "" {
				lat = append(lat, x.latency)
			}
		}
		fmt.Fprintf(stdout, "%10d %12.1f %12.1f %12.1f\n", r.seq, ms(pct(lat, 50)), ms(pct(lat, 99)), mib(rssBytes(l.c.pid)))
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
