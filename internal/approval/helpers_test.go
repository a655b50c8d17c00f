package approval

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
)

// t0 is the fixed start of every test clock.
var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// callbackServer records what the workflow callback receives. Failures > 0
// makes the next that many calls answer 503.
type callbackServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []CallbackBody
	auths    []string
	failures int
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if cb.failures > 0 {
			cb.failures--
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		var b CallbackBody
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || dec.Decode(&b) != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		cb.bodies = append(cb.bodies, b)
		cb.auths = append(cb.auths, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(cb.Close)
	return cb
}

func (cb *callbackServer) Calls() ([]CallbackBody, []string) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]CallbackBody(nil), cb.bodies...), append([]string(nil), cb.auths...)
}

func (cb *callbackServer) FailNext(n int) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	cb.failures = n
}

// flakyMailer fails the first send to each address in failOnce.
type flakyMailer struct {
	next     Mailer
	mu       sync.Mutex
	failOnce map[string]bool
	sent     []string
}

func (f *flakyMailer) Send(ctx context.Context, m mail.Message) error {
	f.mu.Lock()
	if f.failOnce[m.To] {
		delete(f.failOnce, m.To)
		f.mu.Unlock()
		return errors.New("relay said 451 try later")
	}
	f.sent = append(f.sent, m.To)
	f.mu.Unlock()
	return f.next.Send(ctx, m)
}

type env struct {
	t        *testing.T
	clock    *clock
	store    session.Store
	state    StateStore
	keys     StaticKeys
	sink     *mail.Sink
	mailer   *flakyMailer
	callback *callbackServer
	svc      *Service
	srv      *httptest.Server
}

type envOption func(*Config, *Deps)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{now: t0}}
	dir := t.TempDir()
	st, err := session.OpenSQLite(filepath.Join(dir, "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	state, err := OpenSQLite(filepath.Join(dir, "approval.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	e.state = state
	e.keys = StaticKeys{ID: "k1", Key: []byte("0123456789abcdef0123456789abcdef")}
	e.sink, err = mail.NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sink.Close() })
	host, port, _ := net.SplitHostPort(e.sink.Addr())
	p, _ := strconv.Atoi(port)
	sender, err := mail.NewSender(mail.SMTPConfig{Host: host, Port: p, TLS: mail.TLSNone, From: "querygate <querygate@example.com>", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.mailer = &flakyMailer{next: sender, failOnce: map[string]bool{}}
	e.callback = newCallbackServer(t)

	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	cfg := Config{PublicBaseURL: e.srv.URL, DefaultTTL: time.Hour}
	deps := Deps{
		Store:  e.store,
		State:  e.state,
		Keys:   e.keys,
		Groups: StaticGroups{"approvers": {"Bob@Example.com", "carol@example.com", "alice@example.com", "bob@example.com"}},
		Mailer: e.mailer,
		IDToken: func(_ context.Context, aud string) (string, error) {
			return "tok-for-" + aud, nil
		},
		Now: e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	e.svc, err = New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	page := NewPageHandler(e.svc)
	mux.Handle("/approval", page)
	mux.Handle("/approval/decide", page)
	mux.Handle("/fn/notify", NewNotifyHandler(e.svc))
	// The mailbox needs a token naming its reader; here the token is the
	// reader's email itself (the local gateway verifies a dev ID token).
	mux.Handle("/dev/mailbox", e.sink.MailboxHandler(func(_ context.Context, tok string) (string, error) { return tok, nil }))
	return e
}

// heldSession stores a session that policy held for the "approvers" group,
// requested by alice@example.com.
func (e *env) heldSession(id, sql string) *session.Session {
	e.t.Helper()
	s := &session.Session{
		ID:        id,
		Principal: session.Principal{Issuer: "https://issuer.example", Subject: "alice-sub", Email: "alice@example.com"},
		Agent:     session.Agent{Name: "claude-code", Model: "m1"},
		Prompt:    "How many customers per country? <b>bold</b>",
		SQL:       sql,
		SQLSHA256: session.SQLHash(sql),
		Status:    session.StatusRunning,
		CreatedAt: t0,
		Decision: &session.Decision{
			Action:         "require_approval",
			RuleIDs:        []string{"pii-needs-approval"},
			Reasons:        []string{"reads PII column demo.customers.email", "scan over 1 GiB"},
			ApproverGroup:  "approvers",
			ApprovalTTL:    session.Duration(30 * time.Minute),
			EstimatedBytes: 1610612736,
			DecidedAt:      t0,
		},
		Readers: []string{"alice@example.com"},
	}
	if err := e.store.Create(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) notify(id string) NotifyResult {
	e.t.Helper()
	res, err := e.svc.Notify(context.Background(), id, e.callback.URL+"/callbacks/"+id)
	if err != nil {
		e.t.Fatalf("Notify(%s): %v", id, err)
	}
	return res
}

func (e *env) get(id string) *session.Session {
	e.t.Helper()
	s, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// links returns the approve and deny links mailed to rcpt for session id.
func (e *env) links(rcpt, id string) (approve, deny string) {
	e.t.Helper()
	for _, m := range e.sink.Messages() {
		if m.To != rcpt || !strings.Contains(m.Subject, "session "+id+")") {
			continue
		}
		if len(m.Links) < 2 {
			e.t.Fatalf("mail to %s has links %v", rcpt, m.Links)
		}
		return m.Links[0], m.Links[1]
	}
	e.t.Fatalf("no mail to %s for session %s", rcpt, id)
	return "", ""
}

// browser is an HTTP client with a cookie jar, standing in for the
// approver's browser in tests that do not need Chromium.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status int
	Body   string
	Header http.Header
	Fields url.Values // hidden inputs of the first form
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	codeRE   = regexp.MustCompile(`data-code="([a-z_]*)"`)
)

func (p page) Code() string {
	m := codeRE.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{Status: resp.StatusCode, Body: string(body), Header: resp.Header, Fields: url.Values{}}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.Body, -1) {
		p.Fields.Set(m[1], htmlUnescape(m[2]))
	}
	return p
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
	return r.Replace(s)
}

func (b *browser) Get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) Post(u string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit posts the page's form with the given decision and comment.
func (b *browser) submit(e *env, p page, decision, comment string) page {
	f := url.Values{}
	for k, v := range p.Fields {
		f[k] = v
	}
	f.Set("decision", decision)
	f.Set("comment", comment)
	return b.Post(e.srv.URL+"/approval/decide", f)
}
