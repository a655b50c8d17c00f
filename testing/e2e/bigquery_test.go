package e2e

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
)

// The BigQuery front door, driven by Google's own Go client
// (cloud.google.com/go/bigquery), unmodified: only its endpoint and token
// source point it at querygate.

const bqProject = "querygate-local"

// bqClient returns Google's BigQuery client pointed at the gateway with
// tok (a dev ID token) as the bearer. header, when set, is added to every
// request (the prompt header).
func bqClient(t *testing.T, g *local.Gateway, tok string, header http.Header) *bigquery.Client {
	t.Helper()
	opts := []option.ClientOption{option.WithEndpoint(g.URL + bqapi.Prefix + "/")}
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	if header != nil {
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: headerTransport{header: header,
			next: &oauth2.Transport{Source: ts}}}))
	} else {
		opts = append(opts, option.WithTokenSource(ts))
	}
	c, err := bigquery.NewClient(context.Background(), bqProject, opts...)
	if err != nil {
		t.Fatalf("bigquery.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type headerTransport struct {
	header http.Header
	next   http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	return h.next.RoundTrip(r)
}

func readAll(t *testing.T, it *bigquery.RowIterator) [][]bigquery.Value {
	t.Helper()
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("read rows: %v", err)
		}
		out = append(out, row)
	}
}

// onlySession returns the caller's one session through the sessions API.
func onlySession(t *testing.T, g *local.Gateway, tok string) map[string]any {
	t.Helper()
	r := do(t, "GET", g.URL+"/v1/sessions", tok, nil)
	list, _ := r.body["sessions"].([]any)
	if r.code != http.StatusOK || len(list) != 1 {
		t.Fatalf("GET /v1/sessions = %d, want one session: %s", r.code, r.raw)
	}
	id, _ := list[0].(map[string]any)["session_id"].(string)
	return do(t, "GET", g.URL+"/v1/sessions/"+id, tok, nil).body
}

func TestBigQueryGoClientAllowedMasked(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "alice@example.com", "analysts")
	c := bqClient(t, g, tok, nil)

	sql := "-- prompt: three customers for the churn report\nSELECT customer_id, full_name, email, created_at FROM demo.customers WHERE customer_id <= 3 ORDER BY customer_id"
	q := c.Query(sql)
	q.Labels = map[string]string{bqapi.LabelConversation: "conv-7", bqapi.LabelAgent: "my-agent", bqapi.LabelModel: "gemini-x"}
	it, err := q.Read(ctx) // jobs.query, the client's fast path
	if err != nil {
		t.Fatalf("Query.Read: %v", err)
	}
	rows := readAll(t, it)
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	var want [][]bigquery.Value
	for i := int64(1); i <= 3; i++ {
		want = append(want, []bigquery.Value{i, "[PERSON_NAME]", "[EMAIL_ADDRESS]", base.Add(time.Duration(i) * 97 * time.Minute)})
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	gotSchema := map[string]bigquery.FieldType{}
	for _, f := range it.Schema {
		gotSchema[f.Name] = f.Type
	}
	wantSchema := map[string]bigquery.FieldType{"customer_id": bigquery.IntegerFieldType, "full_name": bigquery.StringFieldType,
		"email": bigquery.StringFieldType, "created_at": bigquery.TimestampFieldType}
	if diff := cmp.Diff(wantSchema, gotSchema); diff != "" {
		t.Errorf("schema (-want, +got):\n%s", diff)
	}

	// The same session the /v1 API records, with the prompt from the SQL
	// comment and conversation, agent and model from the labels.
	s := onlySession(t, g, tok)
	if s["status"] != "succeeded" || s["prompt"] != "three customers for the churn report" || s["conversation_id"] != "conv-7" || s["sql"] != sql {
		t.Errorf("session = %v %q %v", s["status"], s["prompt"], s["conversation_id"])
	}
	if ag, _ := s["agent"].(map[string]any); ag["name"] != "my-agent" || ag["model"] != "gemini-x" {
		t.Errorf("session agent = %v", s["agent"])
	}
	if got := timelineTypes(s); !cmp.Equal(got, []string{"session.received", "policy.decided", "query.started", "query.finished", "result.masked", "session.completed"}) {
		t.Errorf("timeline = %v", got)
	}

	// The job's destination table is the masked result; tables.get marks
	// the masked columns, tabledata.list serves the same rows.
	job, err := c.Query(sql).Run(ctx) // jobs.insert
	if err != nil {
		t.Fatalf("Query.Run: %v", err)
	}
	st, err := job.Wait(ctx) // jobs.get until DONE
	if err != nil || st.Err() != nil {
		t.Fatalf("job.Wait: %v %v", err, st.Err())
	}
	cfg, err := job.Config()
	if err != nil {
		t.Fatal(err)
	}
	dst := cfg.(*bigquery.QueryConfig).Dst
	if dst == nil || dst.DatasetID != bqapi.ResultsDataset {
		t.Fatalf("destination table = %+v", dst)
	}
	md, err := c.Dataset(dst.DatasetID).Table(dst.TableID).Metadata(ctx)
	if err != nil {
		t.Fatalf("tables.get: %v", err)
	}
	desc := map[string]string{}
	for _, f := range md.Schema {
		desc[f.Name] = f.Description
	}
	for _, col := range []string{"full_name", "email"} {
		if !strings.Contains(desc[col], "querygate: masked") {
			t.Errorf("tables.get: %s description = %q, want it marked masked", col, desc[col])
		}
	}
	for _, col := range []string{"customer_id", "created_at"} {
		if desc[col] != "" {
			t.Errorf("tables.get: unmasked %s has description %q", col, desc[col])
		}
	}
	if md.NumRows != 3 {
		t.Errorf("tables.get numRows = %d", md.NumRows)
	}
	trows := readAll(t, c.Dataset(dst.DatasetID).Table(dst.TableID).Read(ctx))
	if diff := cmp.Diff(want, trows); diff != "" {
		t.Errorf("tabledata.list rows (-want, +got):\n%s", diff)
	}
	// Pages of one row: pageToken through getQueryResults.
	jit, err := job.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jit.PageInfo().MaxSize = 1
	if diff := cmp.Diff(want, readAll(t, jit)); diff != "" {
		t.Errorf("paged getQueryResults rows (-want, +got):\n%s", diff)
	}
	// datasets.list shows the results dataset; tables.list the two results.
	dit := c.Datasets(ctx)
	var dsIDs []string
	for {
		d, err := dit.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("datasets.list: %v", err)
		}
		dsIDs = append(dsIDs, d.DatasetID)
	}
	if !cmp.Equal(dsIDs, []string{bqapi.ResultsDataset}) {
		t.Errorf("datasets = %v", dsIDs)
	}
	tit := c.Dataset(bqapi.ResultsDataset).Tables(ctx)
	n := 0
	for {
		_, err := tit.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("tables.list: %v", err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("tables.list = %d tables, want 2", n)
	}
	// Another principal reads neither the job nor its table.
	bob := bqClient(t, g, token(t, g, "bob@example.com", "analysts"), nil)
	if _, err := bob.JobFromID(ctx, job.ID()); httpCode(err) != http.StatusNotFound {
		t.Errorf("bob jobs.get alice's job: %v, want 404", err)
	}
	if _, err := bob.Dataset(dst.DatasetID).Table(dst.TableID).Metadata(ctx); httpCode(err) != http.StatusNotFound {
		t.Errorf("bob tables.get alice's result: %v, want 404", err)
	}
}

func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// TestBigQueryGoClientEncodings checks BigQuery's REST encodings through
// the Go client's own decoding: INT64, FLOAT64, BOOL, NUMERIC, BYTES,
// TIMESTAMP, DATE, ARRAY and STRUCT, and the prompt header winning over
// the SQL comment.
func TestBigQueryGoClientEncodings(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "alice@example.com", "analysts")
	c := bqClient(t, g, tok, http.Header{bqapi.PromptHeader: {"typed%20values%0Aline%20two"}})
	q := c.Query(`/* the comment loses to the header */
SELECT 42 AS i, 1.5 AS f, TRUE AS b, NUMERIC '12.5' AS n, b'ab' AS bs,
  TIMESTAMP '2024-01-02 03:04:05.123456 UTC' AS ts, DATE '2024-01-02' AS d,
  [1, 2, 3] AS arr, STRUCT(7 AS x, 'why' AS y) AS st, CAST(NULL AS STRING) AS nothing`)
	it, err := q.Read(ctx)
	if err != nil {
		t.Fatalf("Query.Read: %v", err)
	}
	rows := readAll(t, it)
	want := [][]bigquery.Value{{
		int64(42), 1.5, true, big.NewRat(25, 2), []byte("ab"),
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), civil.Date{Year: 2024, Month: 1, Day: 2},
		[]bigquery.Value{int64(1), int64(2), int64(3)}, []bigquery.Value{int64(7), "why"}, nil,
	}}
	if diff := cmp.Diff(want, rows, cmp.Comparer(func(a, b *big.Rat) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	if s := onlySession(t, g, tok); s["prompt"] != "typed values\nline two" {
		t.Errorf("prompt = %q, want the header's", s["prompt"])
	}
}

func TestBigQueryGoClientApproval(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "alice@example.com", "analysts")
	c := bqClient(t, g, tok, nil)

	q := c.Query("-- every column of five customers\n" + starSQL)
	q.JobID = "alice-star-1"
	job, err := q.Run(ctx) // jobs.insert answers once policy decided
	if err != nil {
		t.Fatalf("Query.Run: %v", err)
	}
	st, err := job.Status(ctx)
	if err != nil || st.State != bigquery.Running {
		t.Fatalf("job status while awaiting approval = %+v, %v; want RUNNING", st, err)
	}
	// A client retrying jobs.insert with its own job id gets the same job,
	// not a second session; the id reused for other SQL is a 409.
	again := c.Query("-- every column of five customers\n" + starSQL)
	again.JobID = "alice-star-1"
	if j2, err := again.Run(ctx); err != nil || j2.ID() != job.ID() {
		t.Fatalf("retried jobs.insert = %v, %v", j2, err)
	}
	if n := countSessions(t, g); n != 1 {
		t.Errorf("sessions after a retried insert = %d, want 1", n)
	}
	other := c.Query("SELECT 1")
	other.JobID = "alice-star-1"
	if _, err := other.Run(ctx); httpCode(err) != http.StatusConflict {
		t.Errorf("job id reused for other SQL: %v, want 409", err)
	}

	// The approver approves through the mailed link; the client's Read,
	// which polls getQueryResults, then returns the masked rows.
	s := onlySession(t, g, tok)
	id, _ := s["session_id"].(string)
	if s["status"] != "pending_approval" || id != bqapi.SessionID(&session.Principal{Issuer: g.DevIssuer.Issuer, Subject: "alice@example.com"}, bqProject, "alice-star-1") {
		t.Fatalf("session %s status %v, want pending_approval under the job's session id", id, s["status"])
	}
	approve, _ := approvalLinks(t, g, waitMail(t, g, approvers[0], id))
	type result struct {
		rows [][]bigquery.Value
		err  error
	}
	done := make(chan result, 1)
	go func() {
		it, err := job.Read(ctx)
		if err != nil {
			done <- result{err: err}
			return
		}
		var rows [][]bigquery.Value
		for {
			var row []bigquery.Value
			err := it.Next(&row)
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				done <- result{err: err}
				return
			}
			rows = append(rows, row)
		}
		done <- result{rows: rows}
	}()
	if _, res := newHTTPBrowser(t).decide(g, approve, "approve", ""); res.status != http.StatusOK {
		t.Fatalf("approve = %d %s", res.status, res.code())
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(4 * time.Minute): // bounds a hang, measures nothing
		t.Fatal("job.Read did not return after approval")
	}
	if r.err != nil {
		t.Fatalf("job.Read after approval: %v", r.err)
	}
	if len(r.rows) != 5 {
		t.Fatalf("rows = %d, want 5", len(r.rows))
	}
	customers := customerByID()
	for _, row := range r.rows {
		id, _ := row[0].(int64)
		raw := customers[id]
		for i, v := range row {
			if s, ok := v.(string); ok && (s == raw["ssn"] || s == raw["email"] || s == raw["full_name"] || s == raw["phone"]) {
				t.Errorf("row %d column %d holds a raw value", id, i)
			}
		}
	}
	st, err = job.Status(ctx)
	if err != nil || st.State != bigquery.Done || st.Err() != nil {
		t.Errorf("job status after approval = %+v, %v", st, err)
	}
}

func TestBigQueryGoClientDenied(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "alice@example.com", "analysts")
	c := bqClient(t, g, tok, nil)
	for _, tc := range []struct {
		name, sql, reason string
	}{
		{"dml via jobs.query", "DELETE FROM demo.customers WHERE TRUE", "Data modification"},
		{"ddl via jobs.query", "DROP TABLE demo.customers", "dropping objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(tc.sql).Read(ctx)
			var ge *googleapi.Error
			if !errors.As(err, &ge) || ge.Code != http.StatusForbidden || len(ge.Errors) == 0 || ge.Errors[0].Reason != "accessDenied" {
				t.Fatalf("err = %v, want 403 accessDenied", err)
			}
			if !strings.Contains(ge.Message, tc.reason) {
				t.Errorf("message %q lacks querygate's reason %q", ge.Message, tc.reason)
			}
		})
	}
	t.Run("dml via jobs.insert", func(t *testing.T) {
		q := c.Query("UPDATE demo.customers SET email = 'x' WHERE TRUE")
		q.JobID = "alice-update"
		_, err := q.Run(ctx)
		if httpCode(err) != http.StatusForbidden {
			t.Fatalf("err = %v, want 403", err)
		}
		// The job exists, DONE with the denial as its errorResult.
		job, err := c.JobFromID(ctx, "alice-update")
		if err != nil {
			t.Fatalf("jobs.get: %v", err)
		}
		st := job.LastStatus()
		if st.State != bigquery.Done || st.Err() == nil || !strings.Contains(st.Err().Error(), "accessDenied") {
			t.Errorf("status = %+v, want DONE with accessDenied", st)
		}
	})
	// Options that would change what runs are refused before a session.
	for _, tc := range []struct {
		name string
		set  func(q *bigquery.Query)
	}{
		{"legacy sql", func(q *bigquery.Query) { q.UseLegacySQL = true }},
		{"dry run", func(q *bigquery.Query) { q.DryRun = true }},
		{"destination table", func(q *bigquery.Query) { q.Dst = c.Dataset("demo").Table("copy") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countSessions(t, g)
			q := c.Query("SELECT 1")
			tc.set(q)
			if _, err := q.Run(ctx); httpCode(err) != http.StatusBadRequest {
				t.Errorf("err = %v, want 400", err)
			}
			if after := countSessions(t, g); after != before {
				t.Errorf("sessions %d -> %d", before, after)
			}
		})
	}
	// No token, a bad token: 401 in BigQuery's shape, no session.
	noauth, err := bigquery.NewClient(ctx, bqProject, option.WithEndpoint(g.URL+bqapi.Prefix+"/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer noauth.Close()
	if _, err := noauth.Query("SELECT 1").Read(ctx); httpCode(err) != http.StatusUnauthorized {
		t.Errorf("no token: %v, want 401", err)
	}
	if _, err := bqClient(t, g, "garbage", nil).Query("SELECT 1").Read(ctx); httpCode(err) != http.StatusUnauthorized {
		t.Errorf("bad token: %v, want 401", err)
	}
}

// TestBigQueryGoClientRejected: an approver denies the held query; the job
// ends DONE with an accessDenied errorResult that carries the comment, and
// reading it is a 403.
func TestBigQueryGoClientRejected(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "alice@example.com", "analysts")
	c := bqClient(t, g, tok, nil)
	q := c.Query(starSQL)
	q.JobID = "alice-star-rejected"
	job, err := q.Run(ctx)
	if err != nil {
		t.Fatalf("Query.Run: %v", err)
	}
	id := bqapi.SessionID(&session.Principal{Issuer: g.DevIssuer.Issuer, Subject: "alice@example.com"}, bqProject, q.JobID)
	_, deny := approvalLinks(t, g, waitMail(t, g, approvers[1], id))
	if _, res := newHTTPBrowser(t).decide(g, deny, "deny", "name the columns you need"); res.status != http.StatusOK {
		t.Fatalf("deny = %d %s", res.status, res.code())
	}
	// The client waits for a query job through getQueryResults, which
	// answers a rejected job with its error, as BigQuery does.
	_, err = job.Wait(ctx)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusForbidden || !strings.Contains(ge.Message, "name the columns you need") {
		t.Fatalf("job.Wait: %v, want 403 with the approver's comment", err)
	}
	st, err := job.Status(ctx) // jobs.get
	if err != nil {
		t.Fatalf("jobs.get: %v", err)
	}
	var be *bigquery.Error
	if st.State != bigquery.Done || !errors.As(st.Err(), &be) || be.Reason != "accessDenied" || !strings.Contains(be.Message, "an approver rejected the query") {
		t.Fatalf("status = %+v (err %v), want DONE with accessDenied", st, st.Err())
	}
	if _, err := job.Read(ctx); httpCode(err) != http.StatusForbidden {
		t.Errorf("job.Read of a rejected job: %v, want 403", err)
	}
	if r := waitSession(t, g, tok, id); r.body["status"] != "rejected" {
		t.Errorf("session status = %v", r.body["status"])
	}
}
