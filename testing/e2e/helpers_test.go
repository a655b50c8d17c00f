package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/querygate/querygate/internal/gateway/local"
)

// startGatewayConfig starts a local gateway with cfg, filling in loopback
// addresses (cfg.Addr only when empty), a fresh data dir (unless set) and the local project. The
// returned stop closes it once; it also runs at cleanup.
func startGatewayConfig(t *testing.T, cfg local.Config) (*local.Gateway, func()) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Addr == "" {
		// Set only where a restart must keep the address its links name.
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.BigQueryAddr, cfg.SMTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Project == "" {
		cfg.Project = "querygate-local"
	}
	g, err := local.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := g.Close(); err != nil {
				t.Logf("close gateway: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return g, stop
}

// terminal reports whether an API status is final.
func terminal(status any) bool {
	switch status {
	case "succeeded", "denied", "rejected", "expired", "failed":
		return true
	}
	return false
}

// waitSession long-polls GET /v1/sessions/{id}?wait_seconds=30 as an agent
// does, until the session ends. The deadline is generous: it bounds a hung
// gateway, it does not measure speed.
func waitSession(t *testing.T, g *local.Gateway, tok, id string) response {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		r := do(t, "GET", g.URL+"/v1/sessions/"+id+"?wait_seconds=30", tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("GET session %s = %d %s", id, r.code, r.raw)
		}
		if terminal(r.body["status"]) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still %v after the deadline: %s", id, r.body["status"], r.raw)
		}
	}
}

// mailboxMessage is one entry of GET /dev/mailbox with Accept: application/json.
type mailboxMessage struct {
	To      string   `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
	Links   []string `json:"links"`
}

// mailbox reads the dev mailbox over HTTP as JSON, as the recipient to
// (with a dev token naming to, which is what the mailbox shows).
func mailbox(t *testing.T, g *local.Gateway, to string) ([]mailboxMessage, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.URL+"/dev/mailbox", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token(t, g, to))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /dev/mailbox = %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	var msgs []mailboxMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatalf("mailbox JSON: %v: %s", err, raw)
	}
	return msgs, raw
}

// waitMail waits until the approval mail for session id has reached to
// over SMTP, and returns it as /dev/mailbox serves it.
func waitMail(t *testing.T, g *local.Gateway, to, id string) mailboxMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		// Count first: the mailbox then shows at least n messages, so
		// waiting for n+1 cannot miss the one we look for.
		n := len(g.Sink.Messages())
		msgs, _ := mailbox(t, g, to)
		for _, m := range msgs {
			if strings.Contains(m.Subject, "(session "+id+")") {
				return m
			}
		}
		if _, err := g.Sink.Wait(ctx, n+1); err != nil {
			t.Fatalf("no approval mail to %s for session %s: %v", to, id, err)
		}
	}
}

// approvalLinks returns the Approve and Deny links of an approval mail, as
// its text part names them; both must also be among the mail's links.
func approvalLinks(t *testing.T, g *local.Gateway, m mailboxMessage) (approve, deny string) {
	t.Helper()
	a := approveLineRE.FindStringSubmatch(m.Text)
	d := denyLineRE.FindStringSubmatch(m.Text)
	if a == nil || d == nil {
		t.Fatalf("mail to %s has no Approve and Deny lines:\n%s", m.To, m.Text)
	}
	approve, deny = a[1], d[1]
	for _, l := range []string{approve, deny} {
		if !strings.HasPrefix(l, g.URL+"/approval?token=") || !slices.Contains(m.Links, l) {
			t.Fatalf("mail to %s: link %q is not an approval link among %v", m.To, l, m.Links)
		}
	}
	return approve, deny
}

var (
	approveLineRE = regexp.MustCompile(`(?m)^Approve:\s+(\S+)`)
	denyLineRE    = regexp.MustCompile(`(?m)^Deny:\s+(\S+)`)
)

// formPage is an approval page fetched over plain HTTP.
type formPage struct {
	status int
	body   string
	fields url.Values // hidden inputs
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	codeRE   = regexp.MustCompile(`data-code="([a-z_]*)"`)
)

func (p formPage) code() string {
	if m := codeRE.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

// httpBrowser is an HTTP client with a cookie jar: the approver's browser
// where Chromium is not the point of the test.
type httpBrowser struct {
	t *testing.T
	c *http.Client
}

func newHTTPBrowser(t *testing.T) *httpBrowser {
	jar, _ := cookiejar.New(nil)
	return &httpBrowser{t: t, c: &http.Client{Jar: jar, Timeout: time.Minute}}
}

func (b *httpBrowser) do(req *http.Request) formPage {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := formPage{status: resp.StatusCode, body: string(body), fields: url.Values{}}
	un := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		p.fields.Set(m[1], un.Replace(m[2]))
	}
	return p
}

func (b *httpBrowser) get(u string) formPage {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// decide opens link, then posts the page's form (CSRF field and cookie
// included) with decision "approve" or "deny". It returns both pages.
func (b *httpBrowser) decide(g *local.Gateway, link, decision, comment string) (page, result formPage) {
	b.t.Helper()
	page = b.get(link)
	if page.status != http.StatusOK || page.fields.Get("csrf") == "" {
		b.t.Fatalf("approval page = %d (code %q), csrf %q", page.status, page.code(), page.fields.Get("csrf"))
	}
	f := url.Values{}
	for k, v := range page.fields {
		f[k] = v
	}
	f.Set("decision", decision)
	f.Set("comment", comment)
	req, err := http.NewRequest(http.MethodPost, g.URL+"/approval/decide", strings.NewReader(f.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return page, b.do(req)
}

func browserText(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return strings.TrimSpace(v)
}

func browserAttr(t *testing.T, ctx context.Context, css, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(css), name))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, css, err)
	}
	return v.Value
}

// timelineTypes lists the event types of a GET /v1/sessions/{id} body.
func timelineTypes(body map[string]any) []string {
	var types []string
	tl, _ := body["timeline"].([]any)
	for _, e := range tl {
		if m, ok := e.(map[string]any); ok {
			types = append(types, fmt.Sprint(m["type"]))
		}
	}
	return types
}

func stringsOf(v any) []string {
	var out []string
	arr, _ := v.([]any)
	for _, e := range arr {
		out = append(out, fmt.Sprint(e))
	}
	return out
}
