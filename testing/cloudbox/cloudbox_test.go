package cloudbox

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/session"
)

// TestCloudInABox runs the cloud binary, one process per function with the
// environment terraform/ gives it, through three sessions: an allowed
// query (masked rows), a denied one (403 and reasons), and one approved
// from the approval mail through the workflow's callback to rows. Each
// session is checked in Firestore and in the audit table, and every line
// every process printed must be a JSON log entry with a severity.
//
// What the box cannot show is in docs/deploy.md ("The cloud in a box"):
// Cloud Run's invoker IAM, ingress and TLS, Google's token minting and
// the real services' quotas and error texts.
func TestCloudInABox(t *testing.T) {
	b := startBox(t)
	fsOpts, err := b.fs.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.OpenFirestore(context.Background(), boxProject, b.env.functions["intake"]["QUERYGATE_FIRESTORE_DATABASE"], fsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bq, err := bqlocal.Client(context.Background(), b.bq.Endpoint(), boxProject)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	analyst := b.google.agentToken(t, "alice@box.test", b.agentAudience(), "analysts")

	t.Run("allowed query returns masked rows", func(t *testing.T) {
		r := b.do("POST", b.intakeURL()+"/v1/queries", analyst, map[string]any{
			"sql": "SELECT customer_id, email FROM demo.customers ORDER BY customer_id LIMIT 3", "prompt": "three customers' contacts",
			"agent": map[string]string{"name": "claude-code", "model": "m"}})
		if r.code != http.StatusOK || r.body["status"] != "succeeded" {
			t.Fatalf("POST /v1/queries = %d %.2000s, want 200 succeeded", r.code, r.raw)
		}
		rows, _ := r.body["rows"].([]any)
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		raw := rawEmails(t, bq)
		for i, row := range rows {
			email, _ := row.(map[string]any)["email"].(string)
			if email == "" || raw[email] {
				t.Errorf("row %d: email is empty or the raw value; want it masked by DLP", i)
			}
		}
		if calls := b.dlp.Calls(); len(calls) == 0 {
			t.Error("the DLP fake saw no DeidentifyContent call; the rows were not masked by the deidentify function")
		}
		id, _ := r.body["session_id"].(string)
		checkStored(t, store, id, session.Status("succeeded"))
		checkAudit(t, bq, b.env, id, []string{"session.received", "policy.decided", "query.started", "query.finished", "result.masked", "session.completed"})
	})

	t.Run("denied query answers 403 with reasons", func(t *testing.T) {
		r := b.do("POST", b.intakeURL()+"/v1/queries", analyst, map[string]any{
			"sql": "DELETE FROM demo.customers WHERE TRUE", "prompt": "clean up", "agent": map[string]string{"name": "claude-code", "model": "m"}})
		if r.code != http.StatusForbidden || r.body["status"] != "denied" {
			t.Fatalf("POST /v1/queries = %d %.2000s, want 403 denied", r.code, r.raw)
		}
		if reasons, _ := r.body["reasons"].([]any); len(reasons) == 0 {
			t.Errorf("403 has no reasons: %s", r.raw)
		}
		id, _ := r.body["session_id"].(string)
		checkStored(t, store, id, session.Status("denied"))
		checkAudit(t, bq, b.env, id, []string{"session.received", "policy.decided", "session.completed"})
	})

	t.Run("approval from the mail to the callback to rows", func(t *testing.T) {
		r := b.do("POST", b.intakeURL()+"/v1/queries", analyst, map[string]any{
			"sql": "SELECT * FROM demo.customers ORDER BY customer_id LIMIT 2", "prompt": "two whole customers",
			"agent": map[string]string{"name": "claude-code", "model": "m"}})
		if r.code != http.StatusAccepted || r.body["status"] != "pending_approval" {
			t.Fatalf("POST /v1/queries = %d %.2000s, want 202 pending_approval", r.code, r.raw)
		}
		if got := strings_(r.body["approvers"]); !cmp.Equal(got, []string{approverEmail}) {
			t.Errorf("approvers %v, want [%s] (Cloud Identity's members of %s)", got, approverEmail, approversGroupEmail)
		}
		id, _ := r.body["session_id"].(string)
		link := b.approveLink(t, id)
		b.decide(t, link)
		s := b.waitSession(t, analyst, id)
		if s.body["status"] != "succeeded" {
			t.Fatalf("session after approval = %.2000s, want succeeded", s.raw)
		}
		if rows, _ := s.body["rows"].([]any); len(rows) != 2 {
			t.Errorf("%d rows after approval, want 2", len(rows))
		}
		// The decision reached the workflow as Google's would: with an
		// access token the approval function's key file obtained for its
		// own service account. The callback endpoint refuses a request
		// without one, or with a token it did not issue.
		if !b.google.issuedTo(b.env.serviceAccounts["approval"]) {
			t.Errorf("no access token was issued to the approval service account %s", b.env.serviceAccounts["approval"])
		}
		for name, bearer := range map[string]string{"no bearer": "", "a forged bearer": "ya29.forged"} {
			req := httptest.NewRequest("POST", "https://"+callbackHost+"/v1/projects/p/locations/l/workflows/w/executions/e/callbacks/c", strings.NewReader(`{"decision":"approve"}`))
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			rec := httptest.NewRecorder()
			b.google.cbHandler.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("callback with %s = %d, want 401", name, rec.Code)
			}
		}
		checkStored(t, store, id, session.Status("succeeded"))
		checkAudit(t, bq, b.env, id, []string{"session.received", "policy.decided", "approval.requested", "approval.decided",
			"query.started", "query.finished", "result.masked", "session.completed"})
	})

	// The steps verify the workflow's calls themselves (auth.RequireCaller
	// over Google ID tokens whose audience is QUERYGATE_SELF_URL), on top
	// of Cloud Run's invoker IAM, which the box does not have.
	t.Run("steps accept only the workflow's ID token for their own URL", func(t *testing.T) {
		policyURL := b.env.functions["policy"]["QUERYGATE_SELF_URL"]
		workflowSA := b.env.functions["policy"]["QUERYGATE_WORKFLOW_SA"]
		mint := func(email, aud string) string {
			tok, err := b.google.idToken(email, aud)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"the agent's token", analyst, http.StatusUnauthorized},
			{"the workflow's token for another service", mint(workflowSA, b.intakeURL()), http.StatusUnauthorized},
			{"another service account's token", mint(b.env.serviceAccounts["approval"], policyURL), http.StatusForbidden},
		} {
			if r := b.do("POST", policyURL, tc.token, map[string]any{"session_id": "qs_00000000000000000000000000000000"}); r.code != tc.want {
				t.Errorf("%s: POST policy = %d %.300s, want %d", tc.name, r.code, r.raw, tc.want)
			}
		}
	})

	if refused := b.google.refusedHosts(); len(refused) > 0 {
		t.Errorf("the functions tried to reach outside the box: %v", refused)
	}
	checkJSONLogs(t, procList(b.procs))
}

// rawEmails are demo.customers' emails as stored, to tell masked values
// from raw ones without printing either.
func rawEmails(t *testing.T, bq *bigquery.Client) map[string]bool {
	t.Helper()
	it, err := bq.Query("SELECT email FROM `" + boxProject + ".demo.customers`").Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := row[0].(string); ok {
			out[s] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("demo.customers has no emails")
	}
	return out
}

// checkStored checks the session as the functions stored it in Firestore.
func checkStored(t *testing.T, store session.Store, id string, want session.Status) {
	t.Helper()
	if !strings.HasPrefix(id, "qs_") {
		t.Fatalf("session id %q", id)
	}
	s, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("session %s in Firestore: %v", id, err)
	}
	if s.Status != want || s.Principal.Email != "alice@box.test" {
		t.Errorf("Firestore session %s: status %q principal %q, want %q alice@box.test", id, s.Status, s.Principal.Email, want)
	}
}

// checkAudit checks the event types of the session's rows in the audit
// table, in order; the record step writes them at the end of every path.
func checkAudit(t *testing.T, bq *bigquery.Client, env tfEnv, id string, want []string) {
	t.Helper()
	e := env.functions["record"]
	q := bq.Query("SELECT event_type FROM `" + boxProject + "." + e["QUERYGATE_AUDIT_DATASET"] + "." + e["QUERYGATE_AUDIT_TABLE"] +
		"` WHERE session_id = @id ORDER BY seq")
	q.Parameters = []bigquery.QueryParameter{{Name: "id", Value: id}}
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = nil
		it, err := q.Read(context.Background())
		if err != nil {
			t.Fatalf("read audit rows: %v", err)
		}
		for {
			var row []bigquery.Value
			err := it.Next(&row)
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, row[0].(string))
		}
		if slices.Contains(got, "session.completed") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit rows of %s (-want, +got):\n%s", id, diff)
	}
}

// waitSession long-polls the session until it ends, as an agent does.
func (b *box) waitSession(t *testing.T, tok, id string) response {
	t.Helper()
	for i := 0; i < 6; i++ {
		r := b.do("GET", b.intakeURL()+"/v1/sessions/"+id+"?wait_seconds=20", tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("GET session = %d %.1000s", r.code, r.raw)
		}
		switch r.body["status"] {
		case "succeeded", "denied", "rejected", "expired", "failed":
			return r
		}
	}
	t.Fatalf("session %s did not end after six long polls", id)
	return response{}
}

var approveLineRE = regexp.MustCompile(`(?m)^Approve:\s+(\S+)`)

// approveLink waits for notify's mail to the approver and returns its
// Approve link, which must point at the approval service's public URL.
func (b *box) approveLink(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		for _, m := range b.sink.MessagesTo(approverEmail) {
			if !strings.Contains(m.Text, id) {
				continue
			}
			a := approveLineRE.FindStringSubmatch(m.Text)
			if a == nil {
				t.Fatalf("the approval mail has no Approve line")
			}
			if base := b.env.functions["approval"]["PUBLIC_BASE_URL"]; !strings.HasPrefix(a[1], strings.TrimRight(base, "/")+"/approval?token=") {
				t.Fatalf("Approve link is not under the approval service's PUBLIC_BASE_URL %s", base)
			}
			return a[1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no approval mail to %s for %s within a minute; notify's last lines:\n%s", approverEmail, id, b.procs["notify"].tail(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// decide opens the link as the approver's browser does and posts the
// page's form with "approve".
func (b *box) decide(t *testing.T, link string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: b.client.Transport, Jar: jar, Timeout: time.Minute}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approval page = %d", resp.StatusCode)
	}
	form := url.Values{}
	un := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], un.Replace(m[2]))
	}
	if form.Get("csrf") == "" {
		t.Fatal("approval page has no csrf field")
	}
	form.Set("decision", "approve")
	form.Set("comment", "ok for the box")
	u, _ := url.Parse(link)
	u.RawQuery = ""
	u.Path += "/decide"
	resp, err = c.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST decide = %d; approval's last lines:\n%s\npage: %.500s", resp.StatusCode, b.procs["approval"].tail(20), body)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func strings_(v any) []string {
	l, _ := v.([]any)
	out := []string{}
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
