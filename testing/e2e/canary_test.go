package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/demodata"
	"github.com/querygate/querygate/internal/gateway/local"
)

// canary is one seeded raw value: a demo customer's PII, directly or in a
// form a query derives from it.
type canary struct {
	label string // e.g. "customer 3 REVERSE(ssn)"
	value string
}

// canaryIDs are the demo customers whose values are seeded. 1..5 covers
// every kind of free-text note (email and SSN, card, phone, none).
const canaryWhere = "customer_id BETWEEN 1 AND 5"

// canaries returns the raw values of customers 1..5 and the raw forms of
// every function of them that the canary queries compute.
func canaries(t *testing.T) []canary {
	t.Helper()
	var out []canary
	add := func(id int64, label, v string) {
		if len(v) < 6 {
			t.Fatalf("canary %q of customer %d is too short to scan for: %q", label, id, v)
		}
		out = append(out, canary{label: fmt.Sprintf("customer %d %s", id, label), value: v})
	}
	for _, r := range demodata.Customers().Rows {
		id := r["customer_id"].(int64)
		if id < 1 || id > 5 {
			continue
		}
		s := func(col string) string { return r[col].(string) }
		add(id, "email", s("email"))
		add(id, "UPPER(email)", strings.ToUpper(s("email")))
		add(id, "phone", s("phone"))
		add(id, "ssn", s("ssn"))
		add(id, "REVERSE(ssn)", reverse(s("ssn")))
		add(id, "REPLACE(ssn, '-', '')", digits(s("ssn")))
		local, _, _ := strings.Cut(s("email"), "@")
		add(id, "SPLIT(email, '@')[OFFSET(0)]", local)
		add(id, "card_number", s("card_number"))
		add(id, "card_number digits", digits(s("card_number")))
		if prefix := s("card_number")[:8]; len(digits(prefix)) >= 6 {
			add(id, "SUBSTR(card_number, 1, 8)", prefix)
		}
		add(id, "street_address", s("street_address"))
		add(id, "full_name", s("full_name"))
		add(id, "CONCAT(full_name, ' ', phone)", s("full_name")+" "+s("phone"))
		if n := s("notes"); strings.ContainsAny(n, "0123456789@") {
			add(id, "notes", n)
		}
	}
	if len(out) < 5*11 {
		t.Fatalf("only %d canaries", len(out))
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// leaks reports every canary found in data, with some context.
func leaks(data []byte, cs []canary) []string {
	var out []string
	for _, c := range cs {
		i := bytes.Index(data, []byte(c.value))
		if i < 0 {
			continue
		}
		lo, hi := max(0, i-200), min(len(data), i+len(c.value)+80)
		out = append(out, fmt.Sprintf("%s %q at byte %d: …%q…", c.label, c.value, i, data[lo:hi]))
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// captureStderr points file descriptor 2 at a file, so whatever the process
// writes to stderr (slog's and log's defaults, the emulator, C++ code) is
// kept. The returned function restores stderr, copies the captured bytes
// to it so nothing is hidden from the test's output, and returns them.
func captureStderr(t *testing.T) func() []byte {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatalf("dup stderr: %v", err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatalf("redirect stderr: %v", err)
	}
	var once sync.Once
	var out []byte
	restore := func() []byte {
		once.Do(func() {
			if err := syscall.Dup3(saved, 2, 0); err != nil {
				t.Errorf("restore stderr: %v", err)
			}
			syscall.Close(saved)
			out, _ = os.ReadFile(f.Name())
			f.Close()
			os.Stderr.Write(out)
		})
		return out
	}
	t.Cleanup(func() { restore() })
	return restore
}

// TestCanaryPIINeverLeaks is issue 4's canary: the demo customers' real
// PII passes through the local gateway, directly and through functions of
// the sensitive columns, and none of the seeded raw values appears in the
// HTTP responses, the gateway's files (sessions, workflows and approval
// SQLite databases with their WAL files; only the emulator's own database
// is exempt), the logs or stderr, or the audit table.
func TestCanaryPIINeverLeaks(t *testing.T) {
	runCanary(t, []canaryQuery{
		{"direct", "SELECT customer_id, full_name, email, phone, ssn, card_number, street_address, notes FROM demo.customers WHERE " + canaryWhere, 5},
		{"lower email", "SELECT customer_id, LOWER(email) AS email_lower FROM demo.customers WHERE " + canaryWhere, 5},
		{"upper email", "SELECT customer_id, UPPER(email) AS email_upper FROM demo.customers WHERE " + canaryWhere, 5},
		{"reverse ssn", "SELECT customer_id, REVERSE(ssn) AS ssn_reversed FROM demo.customers WHERE " + canaryWhere, 5},
		{"card prefix", "SELECT customer_id, SUBSTR(card_number, 1, 8) AS card_prefix FROM demo.customers WHERE " + canaryWhere, 5},
		{"name and phone", "SELECT customer_id, CONCAT(full_name, ' ', phone) AS contact FROM demo.customers WHERE " + canaryWhere, 5},
		{"row as json", "SELECT TO_JSON_STRING(c) AS j FROM demo.customers AS c WHERE c." + canaryWhere, 5},
		{"notes", "SELECT customer_id, notes FROM demo.customers WHERE " + canaryWhere, 5},
		{"ssn digits", "SELECT customer_id, REPLACE(ssn, '-', '') AS ssn_digits, REPLACE(card_number, ' ', '') AS card_digits FROM demo.customers WHERE " + canaryWhere, 5},
		{"email local part", "SELECT customer_id, SPLIT(email, '@')[OFFSET(0)] AS who FROM demo.customers WHERE " + canaryWhere, 5},
		{"through a CTE", "WITH x AS (SELECT customer_id, phone AS p, street_address AS a FROM demo.customers) SELECT customer_id, p, a FROM x WHERE " + canaryWhere, 5},
		{"aggregate", "SELECT STRING_AGG(email, ',') AS emails, STRING_AGG(ssn, ' ') AS ssns FROM demo.customers WHERE " + canaryWhere, 1},
		{"star with approval", "SELECT * FROM demo.customers WHERE " + canaryWhere, 5},
	})
}

// TestCanaryQueryErrors is the canary through BigQuery's error messages: a
// query can put cell values into its own error text (a failed CAST, or
// ERROR() over a sensitive column), which no masking sees. The agent gets
// no rows; the values must not reach the logs, stores or audit either.
func TestCanaryQueryErrors(t *testing.T) {
	runCanary(t, []canaryQuery{
		{"cast error", "SELECT CAST(ssn AS INT64) AS n FROM demo.customers WHERE " + canaryWhere, 0},
		{"cast name", "SELECT CAST(full_name AS INT64) AS n FROM demo.customers WHERE " + canaryWhere, 0},
		{"cast address", "SELECT CAST(street_address AS DATE) AS d FROM demo.customers WHERE " + canaryWhere, 0},
		{"parse notes", "SELECT PARSE_DATE('%Y-%m-%d', notes) AS d FROM demo.customers WHERE " + canaryWhere, 0},
		{"error message", "SELECT ERROR(CONCAT('no match for ', full_name, ' ', email, ' ', ssn)) AS x FROM demo.customers WHERE customer_id = 1", 0},
	})
}

type canaryQuery struct {
	name, sql string
	// wantRows > 0: the query must succeed with that many rows; 0: it
	// must end without rows (failed or denied).
	wantRows int
}

// runCanary sends queries as an analyst (approving over plain HTTP where
// policy holds one), then scans every place the gateway writes for the
// seeded values.
func runCanary(t *testing.T, queries []canaryQuery) {
	restoreStderr := captureStderr(t)
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	g, stop := startGatewayConfig(t, local.Config{DataDir: dir, Logger: logger})
	cs := canaries(t)
	// control is stored verbatim (it is in each prompt), so every scan
	// below must find it where prompts are kept: proof that the scan reads
	// what the gateway stores.
	control := canary{label: "control marker", value: fmt.Sprintf("control-marker-%d", time.Now().UnixNano())}
	alice := token(t, g, "alice@example.com", "analysts")
	var responses bytes.Buffer // every byte the gateway answered
	keep := func(what string, raw []byte) { fmt.Fprintf(&responses, "\n== %s\n%s", what, raw) }

	// Control: the seeds are what the warehouse holds (read directly from
	// the emulator, around the gateway), so a leak could not hide behind
	// canaries that never pass through.
	t.Run("control: seeds are the warehouse's values", func(t *testing.T) {
		raw := queryDirect(t, g, "SELECT email, phone, ssn, card_number, street_address, full_name, notes FROM `querygate-local.demo.customers` WHERE "+canaryWhere)
		found := map[string]bool{}
		for _, c := range cs {
			if bytes.Contains(raw, []byte(c.value)) {
				found[c.label] = true
			}
		}
		for _, c := range cs {
			if strings.Contains(c.label, "(") || strings.Contains(c.label, "digits") {
				continue // derived forms are not stored as such
			}
			if !found[c.label] {
				t.Errorf("seed %s %q is not in demo.customers", c.label, c.value)
			}
		}
	})
	var ids []string
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"sql": q.sql, "prompt": "canary: " + q.name + " " + control.value, "agent": map[string]string{"name": "canary"}})
			r := do(t, "POST", g.URL+"/v1/queries", alice, body)
			keep("POST "+q.name, r.raw)
			id, _ := r.body["session_id"].(string)
			if id == "" {
				t.Fatalf("POST = %d %s", r.code, r.raw)
			}
			ids = append(ids, id)
			if r.body["status"] == "pending_approval" {
				m := waitMail(t, g, "approver1@example.com", id)
				approve, _ := approvalLinks(t, g, m)
				page, result := newHTTPBrowser(t).decide(g, approve, "approve", "canary")
				keep("approval page", []byte(page.body))
				keep("approval result", []byte(result.body))
				if result.code() != "approved" {
					t.Fatalf("approval by HTTP form: %d code %q", result.status, result.code())
				}
			}
			final := waitSession(t, g, alice, id)
			keep("GET session "+q.name, final.raw)
			rows, _ := final.body["rows"].([]any)
			switch {
			case q.wantRows > 0 && (final.body["status"] != "succeeded" || len(rows) != q.wantRows):
				t.Errorf("status %v with %d rows, want succeeded with %d: %s", final.body["status"], len(rows), q.wantRows, final.raw)
			case q.wantRows == 0 && (final.body["status"] == "succeeded" || len(rows) != 0):
				t.Errorf("status %v with %d rows, want an error without rows: %s", final.body["status"], len(rows), final.raw)
			case q.wantRows == 0:
				t.Logf("ended %v with errors %v", final.body["status"], final.body["errors"])
			}
			page := do(t, "GET", g.URL+"/sessions/"+id, alice, nil)
			if page.code != http.StatusOK {
				t.Errorf("GET /sessions/%s = %d", id, page.code)
			}
			keep("session page "+q.name, page.raw)
		})
	}
	list := do(t, "GET", g.URL+"/v1/sessions", alice, nil)
	keep("list sessions", list.raw)
	for _, a := range approvers {
		_, raw := mailbox(t, g, a)
		keep("mailbox "+a, raw)
	}

	t.Run("http responses", func(t *testing.T) {
		want := []string{control.value}
		if queries[0].wantRows > 0 {
			want = append(want, "[EMAIL_ADDRESS]", "[US_SOCIAL_SECURITY_NUMBER]", "[CREDIT_CARD_NUMBER]")
		}
		for _, want := range want {
			if !bytes.Contains(responses.Bytes(), []byte(want)) {
				t.Errorf("control: the responses never show %q", want)
			}
		}
		for _, l := range leaks(responses.Bytes(), cs) {
			t.Errorf("in an HTTP response: %s", l)
		}
	})

	t.Run("audit table", func(t *testing.T) {
		dump := dumpAudit(t, g)
		for _, id := range ids {
			if !bytes.Contains(dump, []byte(id)) {
				t.Errorf("audit table has no row of session %s", id)
			}
		}
		for _, l := range leaks(dump, cs) {
			t.Errorf("in the audit table: %s", l)
		}
	})

	scanFiles := func(t *testing.T, when string) {
		files, controls := 0, 0
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path == filepath.Join(dir, "bigquery") {
					return fs.SkipDir // the emulator's own database holds the raw table
				}
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			rel, _ := filepath.Rel(dir, path)
			if len(leaks(b, []canary{control})) > 0 {
				controls++
			}
			for _, l := range leaks(b, cs) {
				t.Errorf("in %s (%s): %s", rel, when, l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"sessions.db", "workflows.db", "approval.db"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if controls == 0 {
			t.Errorf("control: no file holds the prompts' marker %q: the scan does not see what sessions.db stores", control.value)
		}
		t.Logf("%s: scanned %d files, %d hold the control marker", when, files, controls)
	}
	t.Run("files while running", func(t *testing.T) { scanFiles(t, "while running") })
	stop()
	t.Run("files after close", func(t *testing.T) { scanFiles(t, "after close") })

	stderr := restoreStderr()
	t.Run("logs", func(t *testing.T) {
		lb := logs.Bytes()
		if len(ids) == 0 || !bytes.Contains(lb, []byte(ids[0])) {
			t.Errorf("the captured logs do not mention session %v; is the logger wired? (%d bytes)", ids, len(lb))
		}
		for _, l := range leaks(lb, cs) {
			t.Errorf("in the gateway's logs: %s", l)
		}
		for _, l := range leaks(stderr, cs) {
			t.Errorf("on stderr: %s", l)
		}
		t.Logf("scanned %d bytes of logs and %d bytes of stderr", len(lb), len(stderr))
	})
}

// dumpAudit reads every row of the audit table through a BigQuery client
// and prints each as text.
func dumpAudit(t *testing.T, g *local.Gateway) []byte {
	t.Helper()
	dump := queryDirect(t, g, fmt.Sprintf("SELECT * FROM `querygate-local.%s.%s`", local.AuditDataset, local.AuditTable))
	if len(dump) == 0 {
		t.Fatal("the audit table is empty")
	}
	return dump
}

// queryDirect runs sql on the embedded BigQuery with its own client, not
// through the gateway, and prints each row as text.
func queryDirect(t *testing.T, g *local.Gateway, sql string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := bqlocal.ClientWithToken(ctx, g.BigQueryEndpoint, "querygate-local", g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	it, err := client.Query(sql).Read(ctx)
	if err != nil {
		t.Fatalf("query %s: %v", sql, err)
	}
	var dump bytes.Buffer
	for {
		var row map[string]bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("query %s: %v", sql, err)
		}
		for k, v := range row {
			fmt.Fprintf(&dump, "%s=%v\t", k, v)
		}
		dump.WriteByte('\n')
	}
	return dump.Bytes()
}
