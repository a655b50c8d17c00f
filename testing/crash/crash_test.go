// Package crash holds the crash-point tests of issue 16: a local gateway
// runs as a child process (this test binary, re-executed) that SIGKILLs
// itself at a named point of a named step; the test then starts a gateway
// on the same data dir and address and checks that the session completes,
// never stays running, and has exactly one audit row per event.
package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// Environment of the child gateway.
const (
	envChild   = "QUERYGATE_CRASH_CHILD" // set: run as the child gateway
	envDataDir = "QUERYGATE_CRASH_DATA_DIR"
	envAddr    = "QUERYGATE_CRASH_ADDR"
	envAt      = "QUERYGATE_CRASH_AT" // step:point, e.g. execute:after; empty: never
)

const project = "querygate-local"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func die() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// crashPorts makes the gateway SIGKILL itself at step:point. Points:
// before (the request arrived, nothing done), after (the step's work is
// durable, the answer not yet sent), audited (record only: the audit rows
// are written, the final status not yet).
func crashPorts(dataDir, at string) *local.Ports {
	step, point, _ := strings.Cut(at, ":")
	p := &local.Ports{Mailer: inboxPort(dataDir), Handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/fn/"+step {
				h.ServeHTTP(w, r)
				return
			}
			if point == "before" {
				die()
			}
			rec := &heldResponse{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if point == "after" {
				die()
			}
			rec.flush(w)
		})
	}}
	if step == "record" && point == "audited" {
		p.Audit = func(a steps.Auditor) steps.Auditor { return killAfterAudit{a} }
	}
	return p
}

// inboxPort copies every mail the gateway sends, once sent, to a file in
// the data dir: the approvers' inboxes, which outlive the gateway (the dev
// mailbox lives in its memory and dies with it).
func inboxPort(dataDir string) func(approval.Mailer) approval.Mailer {
	return func(m approval.Mailer) approval.Mailer {
		return inboxMailer{m, filepath.Join(dataDir, "test-inbox.jsonl")}
	}
}

type inboxMailer struct {
	approval.Mailer
	path string
}

func (i inboxMailer) Send(ctx context.Context, m mail.Message) error {
	if err := i.Mailer.Send(ctx, m); err != nil {
		return err
	}
	f, err := os.OpenFile(i.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	b, _ := json.Marshal(m)
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

type killAfterAudit struct{ steps.Auditor }

func (k killAfterAudit) WriteSession(ctx context.Context, s *session.Session) error {
	err := k.Auditor.WriteSession(ctx, s)
	if err == nil {
		die()
	}
	return err
}

// heldResponse keeps a handler's answer until the crash point has passed.
type heldResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header         { return h.header }
func (h *heldResponse) Write(b []byte) (int, error) { return h.body.Write(b) }
func (h *heldResponse) WriteHeader(code int)        { h.code = code }
func (h *heldResponse) flush(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.code == 0 {
		h.code = http.StatusOK
	}
	w.WriteHeader(h.code)
	w.Write(h.body.Bytes())
}

func child() error {
	g, err := local.Start(context.Background(), local.Config{
		Addr: os.Getenv(envAddr), BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
		DataDir: os.Getenv(envDataDir), Project: project, Ports: crashPorts(os.Getenv(envDataDir), os.Getenv(envAt)),
	})
	if err != nil {
		return err
	}
	defer g.Close()
	fmt.Printf("READY %s\n", g.URL)
	select {} // until killed
}

// startChild runs the child gateway and returns its URL and process.
func startChild(t *testing.T, dataDir, addr, at string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envDataDir+"="+dataDir, envAddr+"="+addr, envAt+"="+at)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
		close(ready)
	}()
	select {
	case u, ok := <-ready:
		if !ok {
			t.Fatal("child gateway exited before it was ready")
		}
		return u, cmd
	case <-time.After(3 * time.Minute): // bounds a hung start; not a speed check
		t.Fatal("child gateway did not start")
	}
	return "", nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type client struct {
	base string
	tok  string
}

func (c *client) do(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0 // the gateway died under the request: expected here
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

const (
	allowedSQL  = "SELECT customer_id, email FROM demo.customers WHERE customer_id < 4 ORDER BY customer_id"
	approvalSQL = "SELECT * FROM demo.customers WHERE customer_id < 3"
	approver    = "approver1@example.com"
)

var crashPoints = []struct {
	at       string
	sql      string
	approval bool
}{
	{at: "policy:before", sql: allowedSQL},
	{at: "policy:after", sql: allowedSQL},
	{at: "notify:before", sql: approvalSQL, approval: true},
	{at: "notify:after", sql: approvalSQL, approval: true},
	{at: "await", sql: approvalSQL, approval: true},
	{at: "execute:before", sql: allowedSQL},
	{at: "execute:after", sql: allowedSQL},
	{at: "deidentify:before", sql: allowedSQL},
	{at: "deidentify:after", sql: allowedSQL},
	{at: "record:before", sql: allowedSQL},
	{at: "record:audited", sql: allowedSQL},
	{at: "record:after", sql: allowedSQL},
}

func TestCrashPoints(t *testing.T) {
	for _, tc := range crashPoints {
		t.Run(tc.at, func(t *testing.T) {
			dataDir, addr := t.TempDir(), freeAddr(t)
			base, cmd := startChild(t, dataDir, addr, tc.at)
			iss, err := auth.LoadOrCreateDevIssuer(dataDir, "")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Mint(auth.MintOptions{Subject: "agent@example.com", Groups: []string{"analysts"}, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			agent := &client{base: base, tok: tok}
			var first struct {
				SessionID string `json:"session_id"`
			}
			code := agent.do(t, http.MethodPost, "/v1/queries", map[string]any{"sql": tc.sql, "wait_seconds": 0}, &first)
			// The workflow's first step calls policy at once, so a kill at
			// policy:before can land before intake has written its answer;
			// then the session is found in the store after the restart.
			if first.SessionID == "" && (code != 0 || tc.at != "policy:before") {
				t.Fatalf("no session id from the first answer (HTTP %d)", code)
			}
			id := first.SessionID
			if tc.at == "await" {
				waitPending(t, agent, id)
				approvalLink(t, dataDir, id) // the mail went out before the kill
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			state, _ := cmd.Process.Wait()
			if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended %v, want killed by SIGKILL at %s", state, tc.at)
			}

			// Restart on the same data dir and address.
			g, err := local.Start(context.Background(), local.Config{Addr: addr, BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
				DataDir: dataDir, Project: project, Ports: &local.Ports{Mailer: inboxPort(dataDir)}})
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			defer g.Close()
			if id == "" {
				id = onlySession(t, g)
			}
			if tc.approval {
				waitPending(t, agent, id)
				approve(t, g, approvalLink(t, dataDir, id))
			}
			sess := waitEnded(t, g, id)
			if sess.Status != session.StatusSucceeded {
				t.Fatalf("after a crash at %s the session ended %s (errors %v), want succeeded", tc.at, sess.Status, sess.Errors)
			}
			checkAudit(t, g, sess)
		})
	}
}

// onlySession is the id of the one session a fresh data dir holds.
func onlySession(t *testing.T, g *local.Gateway) string {
	t.Helper()
	res, err := g.Store.List(context.Background(), session.ListQuery{PageSize: 10})
	if err != nil {
		t.Fatalf("list sessions: %v", err)
	}
	if len(res.Sessions) != 1 {
		t.Fatalf("the data dir holds %d sessions, want the 1 the killed gateway created", len(res.Sessions))
	}
	return res.Sessions[0].ID
}

func waitPending(t *testing.T, c *client, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // bounds a hang; not a speed check
	for time.Now().Before(deadline) {
		var s struct {
			Status string `json:"status"`
		}
		c.do(t, http.MethodGet, "/v1/sessions/"+id+"?wait_seconds=10", nil, &s)
		if s.Status == "pending_approval" {
			return
		}
		if s.Status != "" && s.Status != "running" {
			t.Fatalf("session %s is %s, want pending_approval", id, s.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("session %s never awaited approval", id)
}

// waitEnded waits for a terminal status in the store.
func waitEnded(t *testing.T, g *local.Gateway, id string) *session.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // bounds a hang
	defer cancel()
	var after int64
	for {
		s, err := g.Store.Wait(ctx, id, after)
		if err != nil {
			t.Fatalf("wait session %s: %v", id, err)
		}
		if s.Status.Terminal() {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("session %s still %s after the restart: the crash left it stuck", id, s.Status)
		}
		after = s.Version
	}
}

func checkAudit(t *testing.T, g *local.Gateway, sess *session.Session) {
	t.Helper()
	if n := len(sess.Timeline); n == 0 || sess.Timeline[n-1].Type != session.EventCompleted {
		t.Errorf("timeline does not end in %s", session.EventCompleted)
	}
	ctx := context.Background()
	c, err := bqlocal.ClientWithToken(ctx, g.BigQueryEndpoint, project, g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := c.Query(fmt.Sprintf("SELECT seq, COUNT(*) AS n FROM `%s.%s.%s` WHERE session_id = @id GROUP BY seq", project, local.AuditDataset, local.AuditTable))
	q.Parameters = []bigquery.QueryParameter{{Name: "id", Value: sess.ID}}
	it, err := q.Read(ctx)
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	rows := map[int64]int{}
	for {
		var r struct {
			Seq int64 `bigquery:"seq"`
			N   int64 `bigquery:"n"`
		}
		if err := it.Next(&r); errors.Is(err, iterator.Done) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rows[r.Seq] = int(r.N)
	}
	types := map[string]int{}
	for _, e := range sess.Timeline {
		types[string(e.Type)]++
		if rows[e.Seq] != 1 {
			t.Errorf("event %d (%s): %d audit rows, want exactly 1", e.Seq, e.Type, rows[e.Seq])
		}
	}
	if len(rows) != len(sess.Timeline) {
		t.Errorf("%d audited events, %d in the timeline", len(rows), len(sess.Timeline))
	}
	for _, once := range []session.EventType{session.EventPolicyDecided, session.EventQueryFinished, session.EventResultMasked, session.EventCompleted} {
		if types[string(once)] != 1 {
			t.Errorf("%s appears %d times in the timeline, want once", once, types[string(once)])
		}
	}
}

var (
	approveLineRE = regexp.MustCompile(`(?m)^Approve:\s+(\S+)`)
	hiddenRE      = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	htmlUnescape  = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
)

// approvalLink reads approver1's latest Approve link for session id from
// the inbox file in dataDir.
func approvalLink(t *testing.T, dataDir, id string) string {
	t.Helper()
	link := ""
	deadline := time.Now().Add(time.Minute) // bounds a hang; not a speed check
	for link == "" && time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(dataDir, "test-inbox.jsonl"))
		for _, line := range bytes.Split(b, []byte("\n")) {
			var m mail.Message
			if json.Unmarshal(line, &m) != nil || !strings.EqualFold(m.To, approver) {
				continue
			}
			if strings.Contains(m.Subject, "(session "+id+")") {
				if mm := approveLineRE.FindStringSubmatch(m.Text); mm != nil {
					link = mm[1]
				}
			}
		}
		if link == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if link == "" {
		t.Fatalf("no approval mail for %s in the inbox", id)
	}
	return link
}

// approve acts as approver1 on the restarted gateway: opens the Approve
// link and posts the page's form, as a browser would.
func approve(t *testing.T, g *local.Gateway, link string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := hc.Get(link)
	if err != nil {
		t.Fatalf("approval page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], htmlUnescape.Replace(m[2]))
	}
	if form.Get("csrf") == "" {
		t.Fatalf("approval page has no form (%d): %.300s", resp.StatusCode, page)
	}
	form.Set("decision", "approve")
	form.Set("comment", "crash test")
	resp, err = hc.PostForm(g.URL+"/approval/decide", form)
	if err != nil {
		t.Fatalf("approval decide: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approval decide = %d", resp.StatusCode)
	}
}
