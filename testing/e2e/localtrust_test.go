package e2e

// Local mode keeps the cloud's trust boundaries (issue 10, finding 4): the
// agent holds only its own dev token, and with it can neither read an
// approver's mail, nor reach the embedded BigQuery, nor plant mail in the
// SMTP sink, nor let a web page reach any listener by DNS rebinding.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/workflow"
)

// get sends a GET with an optional bearer token and Host header and
// returns the status and body.
func get(t *testing.T, u, bearer, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAttackAgentReadsApproverMailbox: the agent, with its own token or
// none, cannot read an approver's approval link; the approver's own token
// (or the link `querygate dev` prints) shows exactly their mail.
func TestAttackAgentReadsApproverMailbox(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	alice := token(t, g, "alice@example.com", "analysts")
	id := submitForApproval(t, g, alice, "five customers, every column")
	m := waitMail(t, g, "approver1@example.com", id)
	approve, _ := approvalLinks(t, g, m)
	secret := approve[strings.Index(approve, "token=")+len("token="):]

	other, err := auth.LoadOrCreateDevIssuer(t.TempDir(), g.DevIssuer.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Mint(auth.MintOptions{Subject: "approver1@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := g.DevIssuer.Mint(auth.MintOptions{Subject: "approver1@example.com", TTL: -time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, bearer string
	}{
		{"no token", "/dev/mailbox", ""},
		{"no token, to= the approver", "/dev/mailbox?to=approver1@example.com", ""},
		{"key of another issuer", "/dev/mailbox", forged},
		{"expired", "/dev/mailbox", expired},
		{"garbage query token", "/dev/mailbox?token=x.y.z", ""},
	} {
		code, body := get(t, g.URL+tc.path, tc.bearer, "")
		if code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, code)
		}
		if strings.Contains(body, secret) || strings.Contains(body, id) {
			t.Errorf("%s: the refusal shows the approval mail", tc.name)
		}
	}
	// Alice's own token shows alice's mail only, whatever ?to= says.
	code, body := get(t, g.URL+"/dev/mailbox?to=approver1@example.com", alice, "")
	if code != http.StatusOK {
		t.Fatalf("alice's mailbox: status %d: %s", code, body)
	}
	var msgs []mailboxMessage
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 || strings.Contains(body, secret) {
		t.Errorf("alice's mailbox holds %d messages (%q), want none", len(msgs), body)
	}
	// approver2 sees their own copy, not approver1's link.
	mine, raw := mailbox(t, g, "approver2@example.com")
	for _, x := range mine {
		if x.To != "approver2@example.com" {
			t.Errorf("approver2's mailbox shows mail to %s", x.To)
		}
	}
	if len(mine) != 1 || strings.Contains(string(raw), secret) {
		t.Errorf("approver2's mailbox: %d messages, approver1's link shown: %v", len(mine), strings.Contains(string(raw), secret))
	}
	// The ready-to-open link `querygate dev` prints: an HTML page, no header.
	link, err := g.MailboxURL("approver1@example.com")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "(session "+id+")") {
		t.Fatalf("mailbox link: status %d, page lacks the session's mail", resp.StatusCode)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("mailbox page Referrer-Policy = %q, want no-referrer (its URL carries a token)", got)
	}
}

// TestMailboxSurvivesRestart: mail is in the data dir, so after a restart a
// session still waiting for approval has its link, and the link works.
func TestMailboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	// One address for both runs: the mailed link names it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g, stop := startGatewayConfig(t, local.Config{DataDir: dir, Addr: addr})
	alice := token(t, g, "alice@example.com", "analysts")
	id := submitForApproval(t, g, alice, "five customers, every column")
	before := waitMail(t, g, "approver1@example.com", id)
	stop()

	g2, _ := startGatewayConfig(t, local.Config{DataDir: dir, Addr: addr})
	msgs, _ := mailbox(t, g2, "approver1@example.com")
	var after *mailboxMessage
	for i := range msgs {
		if strings.Contains(msgs[i].Subject, "(session "+id+")") {
			after = &msgs[i]
		}
	}
	if after == nil {
		t.Fatalf("after restart the mailbox of approver1 lacks the mail for %s (%d messages)", id, len(msgs))
	}
	if after.Text != before.Text || strings.Join(after.Links, " ") != strings.Join(before.Links, " ") {
		t.Errorf("mail changed across the restart:\nbefore %q\nafter  %q", before.Text, after.Text)
	}
	if st, err := os.Stat(filepath.Join(dir, local.MailboxFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mailbox file: %v, mode %v, want 0600", err, st)
	}
	approve, _ := approvalLinks(t, g2, *after)
	if _, res := newHTTPBrowser(t).decide(g2, approve, "approve", "ok after restart"); res.status != http.StatusOK {
		t.Fatalf("decide after restart = %d (code %q)", res.status, res.code())
	}
	r := waitSession(t, g2, token(t, g2, "alice@example.com", "analysts"), id)
	if r.body["status"] != "succeeded" {
		t.Errorf("session after restart and approval: %v: %s", r.body["status"], r.raw)
	}
}

// TestAttackAgentReachesEmbeddedBigQuery: the embedded BigQuery answers
// only the gateway's token, which lives 0600 in the data dir.
func TestAttackAgentReachesEmbeddedBigQuery(t *testing.T) {
	dir := t.TempDir()
	g, _ := startGatewayConfig(t, local.Config{DataDir: dir})
	b, err := os.ReadFile(filepath.Join(dir, local.BigQueryTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != g.BigQueryToken || len(g.BigQueryToken) < 40 {
		t.Errorf("token file does not hold the gateway's token (or it is short)")
	}
	if st, _ := os.Stat(filepath.Join(dir, local.BigQueryTokenFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %o, want 600", st.Mode().Perm())
	}
	alice := token(t, g, "alice@example.com", "analysts")
	tables := g.BigQueryEndpoint + "/bigquery/v2/projects/querygate-local/datasets/demo/tables/customers/data"
	for _, tc := range []struct{ name, bearer string }{
		{"no token", ""},
		{"the agent's dev token", alice},
		{"a wrong token", g.BigQueryToken[:len(g.BigQueryToken)-1] + "x"},
	} {
		code, body := get(t, tables, tc.bearer, "")
		if code != http.StatusUnauthorized {
			t.Errorf("%s: tabledata.list = %d, want 401", tc.name, code)
		}
		if strings.Contains(body, "@example.") || strings.Contains(body, "rows") {
			t.Errorf("%s: the refusal carries table data: %.200s", tc.name, body)
		}
	}
	// A write to the audit table without the token.
	req, _ := http.NewRequest(http.MethodPost, g.BigQueryEndpoint+"/bigquery/v2/projects/querygate-local/datasets/"+local.AuditDataset+"/tables/"+local.AuditTable+"/insertAll",
		strings.NewReader(`{"rows":[{"json":{"session_id":"forged"}}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("insertAll without the token = %d, want 401", resp.StatusCode)
	}
	// A client without the token fails; with it, it reads.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open, err := bqlocal.Client(ctx, g.BigQueryEndpoint, "querygate-local")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Dataset("demo").Metadata(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("dataset metadata without the token: %v, want a 401", err)
	}
	if code, body := get(t, tables, g.BigQueryToken, ""); code != http.StatusOK || !strings.Contains(body, "rows") {
		t.Errorf("tabledata.list with the token = %d, want 200 with rows", code)
	}
	// DNS rebinding: the right token, a foreign Host.
	if code, _ := get(t, tables, g.BigQueryToken, "rebind.attacker.example:9050"); code != http.StatusMisdirectedRequest {
		t.Errorf("tabledata.list with Host rebind.attacker.example = %d, want 421", code)
	}
}

// TestAttackForgedMailToSink: the SMTP sink takes only the gateway's own
// authenticated mail; a forged "approval" mail never reaches a mailbox.
func TestAttackForgedMailToSink(t *testing.T) {
	dir := t.TempDir()
	g, _ := startGatewayConfig(t, local.Config{DataDir: dir})
	conn, err := net.DialTimeout("tcp", g.SMTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	rd := bufio.NewReader(conn)
	reply := func() string {
		var all string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("smtp reply: %v (%q)", err, all)
			}
			all += line
			if len(line) < 4 || line[3] != '-' {
				return all
			}
		}
	}
	say := func(cmd string) string {
		if _, err := io.WriteString(conn, cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		return reply()
	}
	reply()
	say("EHLO attacker.example")
	for _, cmd := range []string{"MAIL FROM:<querygate@querygate.local>", "RCPT TO:<approver1@example.com>", "DATA"} {
		if r := say(cmd); !strings.HasPrefix(r, "5") {
			t.Errorf("%s without AUTH = %q, want a 5xx refusal", cmd, strings.TrimSpace(r))
		}
	}
	say("QUIT")
	// An SMTP client without the secret, as a mail library would send it.
	host, port, _ := net.SplitHostPort(g.SMTPAddr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	snd, err := mail.NewSender(mail.SMTPConfig{Host: host, Port: p, TLS: mail.TLSNone, From: "querygate <querygate@querygate.local>"})
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(context.Background(), mail.Message{To: "approver1@example.com", Subject: "Approval needed (session qs_forged)",
		Text: "Approve: http://phish.example/approval?token=x\n"})
	if err == nil {
		t.Error("an unauthenticated sender's mail was accepted")
	}
	if n := len(g.Sink.Messages()); n != 0 {
		t.Errorf("the sink stored %d forged messages", n)
	}
	if msgs, _ := mailbox(t, g, "approver1@example.com"); len(msgs) != 0 {
		t.Errorf("approver1's mailbox shows %d forged messages", len(msgs))
	}
	if st, err := os.Stat(filepath.Join(dir, local.SMTPSecretFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("SMTP secret file: %v, want mode 0600", err)
	}
}

// TestAttackDNSRebinding: a page on an attacker's name rebound to 127.0.0.1
// reaches each listener with its own name in Host, and is refused.
func TestAttackDNSRebinding(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	alice := token(t, g, "alice@example.com", "analysts")
	approver := token(t, g, "approver1@example.com")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.URL, "http://"))
	for _, tc := range []struct{ name, url, bearer string }{
		{"health", g.URL + "/healthz", ""},
		{"mailbox", g.URL + "/dev/mailbox", approver},
		{"approval page", g.URL + "/approval?token=x", ""},
		{"sessions API", g.URL + "/v1/sessions", alice},
		{"BigQuery REST through the gateway's door", g.URL + "/bigquery/v2/projects/querygate-local/datasets", alice},
		{"dev issuer", g.URL + "/dev/oidc/jwks.json", ""},
		{"embedded BigQuery", g.BigQueryEndpoint + "/bigquery/v2/projects/querygate-local/datasets", g.BigQueryToken},
	} {
		for _, host := range []string{"rebind.attacker.example", "rebind.attacker.example:" + port, "127.0.0.1.nip.io:" + port} {
			if code, body := get(t, tc.url, tc.bearer, host); code != http.StatusMisdirectedRequest {
				t.Errorf("%s with Host %s = %d, want 421: %.120s", tc.name, host, code, body)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		if code, _ := get(t, g.URL+"/healthz", "", host); code != http.StatusOK {
			t.Errorf("healthz with Host %s = %d, want 200", host, code)
		}
	}
	if code, _ := get(t, g.URL+"/dev/mailbox", approver, "localhost:"+port); code != http.StatusOK {
		t.Errorf("mailbox with Host localhost = %d, want 200", code)
	}
}

// TestResultDatasetsDeleted: the emulator keeps each job's result in a
// dataset named after the job (querygate_qs_...) and in the job's record;
// both are deleted once the masked result is stored, so no unmasked copy stays behind and the
// emulator's catalog does not grow per session (issue 13).
func TestResultDatasetsDeleted(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := token(t, g, "alice@example.com", "analysts")
	for _, sql := range []string{
		"SELECT full_name FROM demo.customers LIMIT 3",
		"SELECT COUNT(*) AS n FROM demo.orders",
	} {
		body, _ := json.Marshal(map[string]any{"sql": sql, "prompt": "test", "agent": map[string]string{"name": "t", "model": "m"}})
		r := do(t, "POST", g.URL+"/v1/queries", alice, body)
		if r.code != http.StatusOK || r.body["status"] != "succeeded" {
			t.Fatalf("POST %s = %d %s", sql, r.code, r.raw)
		}
		if rows, _ := r.body["rows"].([]any); len(rows) == 0 {
			t.Fatalf("%s returned no rows: %s", sql, r.raw)
		}
		// The answer comes once the status is final; record deletes the
		// result just after. Wait for the execution to end.
		id, _ := r.body["session_id"].(string)
		sess, err := g.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := g.Runtime.Wait(ctx, sess.ExecutionName); err != nil || st.State == workflow.StateActive {
			t.Fatalf("wait for execution %s: %v %v", sess.ExecutionName, st, err)
		}
	}
	client, err := bqlocal.ClientWithToken(ctx, g.BigQueryEndpoint, "querygate-local", g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var names []string
	it := client.Datasets(ctx)
	for {
		ds, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ds.DatasetID)
	}
	if !slices.Contains(names, "demo") {
		t.Fatalf("dataset listing lacks demo: %v", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "querygate_qs_") {
			t.Errorf("per-job result dataset %s remains after its result was read", n)
		}
	}
	// The emulator's job records held the results too.
	jobs := client.Jobs(ctx)
	for {
		j, err := jobs.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(j.ID(), "querygate_qs_") {
			t.Errorf("job record %s (holding its result) remains after the result was read", j.ID())
		}
	}
}
