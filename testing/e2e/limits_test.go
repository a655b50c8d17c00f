package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/policy"
)

// shiftClock is the gateway's injected clock: the real time plus an offset
// the test moves, so that "a minute later" needs no sleeping.
type shiftClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftClock) add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// limitsPolicy is the default policy with limits added under defaults.
func limitsPolicy(t *testing.T, limits string) string {
	t.Helper()
	src := string(policy.DefaultYAML())
	const anchor = "  job_timeout: 5m\n"
	if !strings.Contains(src, anchor) {
		t.Fatalf("default policy lacks %q", anchor)
	}
	src = strings.Replace(src, anchor, anchor+"  limits:\n"+limits, 1)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

const limitsSQL = "SELECT full_name FROM demo.customers LIMIT 3"

func postQuery(t *testing.T, g *local.Gateway, tok, sql string, wait int) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sql": sql, "prompt": "limits", "wait_seconds": wait, "agent": map[string]string{"name": "claude-code", "model": "m"}})
	return do(t, "POST", g.URL+"/v1/queries", tok, body)
}

// TestRequestsPerMinuteAndConcurrentSessions: with requests_per_minute: 8
// the ninth request of a minute gets 429 with Retry-After on the /v1 API
// and on the BigQuery front door, creates no session, and a minute later
// requests pass again; with concurrent_sessions: 1 a second open session is
// refused until the first has ended.
func TestRequestsPerMinuteAndConcurrentSessions(t *testing.T) {
	clock := &shiftClock{}
	// Start at the beginning of a minute, so nine requests fall in one.
	now := time.Now()
	clock.add(now.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(now))
	file := limitsPolicy(t, "    requests_per_minute: 8\n    groups:\n      single:\n        concurrent_sessions: 1\n")
	g, _ := startGatewayConfig(t, local.Config{PolicyFile: file, Now: clock.now})

	t.Run("ninth request in a minute", func(t *testing.T) {
		alice := token(t, g, "alice@example.com", "analysts")
		for i := 1; i <= 8; i++ {
			if r := postQuery(t, g, alice, limitsSQL, 0); r.code != http.StatusAccepted && r.code != http.StatusOK {
				t.Fatalf("request %d = %d %s", i, r.code, r.raw)
			}
		}
		before := countSessions(t, g)
		req, _ := http.NewRequest("POST", g.URL+"/v1/queries", strings.NewReader(`{"sql":"`+limitsSQL+`"}`))
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("ninth request = %d %v, want 429", resp.StatusCode, body)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After = %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
		}
		if body["limit"] != "requests_per_minute" || body["max"] != float64(8) || body["retry_after_seconds"] != float64(ra) {
			t.Errorf("429 body = %v, want limit requests_per_minute, max 8, retry_after_seconds %d", body, ra)
		}
		if msg, _ := body["error"].(string); !strings.Contains(msg, "retry after") || strings.Contains(msg, limitsSQL) {
			t.Errorf("429 error %q must say when to retry and must not quote the SQL", msg)
		}
		if after := countSessions(t, g); after != before {
			t.Errorf("the refused request created a session: %d sessions, were %d", after, before)
		}

		// The BigQuery front door answers as BigQuery does over a quota.
		bq := do(t, "POST", g.URL+bqapi.Prefix+"/projects/"+bqProject+"/queries", alice, []byte(`{"query":"`+limitsSQL+`","useLegacySql":false}`))
		errBody, _ := bq.body["error"].(map[string]any)
		errs, _ := errBody["errors"].([]any)
		if bq.code != http.StatusTooManyRequests || len(errs) != 1 || errs[0].(map[string]any)["reason"] != "rateLimitExceeded" {
			t.Errorf("jobs.query over the limit = %d %s, want 429 rateLimitExceeded", bq.code, bq.raw)
		}

		ins, err := http.NewRequest("POST", g.URL+bqapi.Prefix+"/projects/"+bqProject+"/jobs",
			strings.NewReader(`{"configuration":{"query":{"query":"`+limitsSQL+`","useLegacySql":false}}}`))
		if err != nil {
			t.Fatal(err)
		}
		ins.Header.Set("Authorization", "Bearer "+alice)
		insResp, err := http.DefaultClient.Do(ins)
		if err != nil {
			t.Fatal(err)
		}
		insResp.Body.Close()
		if ra, _ := strconv.Atoi(insResp.Header.Get("Retry-After")); insResp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 60 {
			t.Errorf("jobs.insert over the limit = %d, Retry-After %q; want 429 with 1 to 60 seconds", insResp.StatusCode, insResp.Header.Get("Retry-After"))
		}

		// The sessions list shows the counter.
		list := do(t, "GET", g.URL+"/v1/sessions?page_size=1", alice, nil)
		rpm, _ := list.body["limits"].(map[string]any)["requests_per_minute"].(map[string]any)
		if list.code != http.StatusOK || rpm["used"] != float64(8) || rpm["limit"] != float64(8) || rpm["source"] != "defaults" {
			t.Errorf("GET /v1/sessions limits = %v (%d)", list.body["limits"], list.code)
		}

		// After the window, requests pass again.
		clock.add(time.Duration(ra) * time.Second)
		if r := postQuery(t, g, alice, limitsSQL, 0); r.code != http.StatusAccepted && r.code != http.StatusOK {
			t.Errorf("request after Retry-After = %d %s, want it accepted", r.code, r.raw)
		}
	})

	t.Run("concurrent sessions", func(t *testing.T) {
		carol := token(t, g, "carol@example.com", "analysts", "single")
		a1 := token(t, g, "approver1@example.com")
		// A query that waits for approval keeps its session open.
		id := submitForApproval(t, g, carol, "held open")
		r := postQuery(t, g, carol, limitsSQL, 0)
		if r.code != http.StatusTooManyRequests || r.body["limit"] != "concurrent_sessions" || r.body["used"] != float64(1) {
			t.Fatalf("second open session = %d %s, want 429 concurrent_sessions", r.code, r.raw)
		}
		// The approver denies; the record step frees the slot.
		pending := do(t, "GET", g.URL+"/v1/approvals?status=pending", a1, nil)
		var held map[string]any
		for _, x := range pending.body["approvals"].([]any) {
			if m := x.(map[string]any); m["session_id"] == id {
				held = m
			}
		}
		if held == nil {
			t.Fatalf("approver1 does not see %s waiting: %s", id, pending.raw)
		}
		body, _ := json.Marshal(map[string]any{"decision": "deny", "sql_sha256": held["sql_sha256"], "run_sha256": held["run_sha256"]})
		if d := do(t, "POST", g.URL+"/v1/approvals/"+id+"/decision", a1, body); d.code != http.StatusOK {
			t.Fatalf("deny = %d %s", d.code, d.raw)
		}
		if s := waitSession(t, g, carol, id); s.body["status"] != "rejected" {
			t.Fatalf("denied session = %v", s.body["status"])
		}
		// The slot is freed by the record step, after the status is set.
		deadline := time.Now().Add(time.Minute)
		for {
			r := postQuery(t, g, carol, limitsSQL, 30)
			if r.code == http.StatusOK && r.body["status"] == "succeeded" {
				break
			}
			if r.code != http.StatusTooManyRequests || time.Now().After(deadline) {
				t.Fatalf("after the first session ended = %d %s, want 200 succeeded", r.code, r.raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// TestBytesPerDaySurvivesRestart: the job's billed bytes are charged to the
// principal's day in the data dir. After a restart on the same data dir, with
// a budget that leaves less than the next query's estimate, the query is
// denied by builtin.bytes_per_day with the remaining budget in the reason:
// had the counter been lost, the budget would cover it.
func TestBytesPerDaySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	// The dev issuer is the gateway's URL, and a principal is its issuer
	// and subject: the restart keeps the address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g, stop := startGatewayConfig(t, local.Config{DataDir: dir, Addr: addr, PolicyFile: limitsPolicy(t, "    bytes_per_day: 1TB\n")})
	bob := token(t, g, "bob@example.com", "analysts")
	r := postQuery(t, g, bob, limitsSQL, 30)
	if r.code != http.StatusOK || r.body["status"] != "succeeded" {
		t.Fatalf("first query = %d %s", r.code, r.raw)
	}
	id, _ := r.body["session_id"].(string)
	sess, err := g.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	billed, estimate := sess.Execution.BytesBilled, sess.Decision.EstimatedBytes
	if billed <= 0 || estimate <= 0 {
		t.Fatalf("billed %d, estimated %d: the emulator reports no bytes, so the budget cannot be tested", billed, estimate)
	}
	// The charge is made by the record step, just after the status.
	deadline := time.Now().Add(time.Minute)
	var used float64
	for used != float64(billed) && time.Now().Before(deadline) {
		list := do(t, "GET", g.URL+"/v1/sessions?page_size=1", bob, nil)
		bpd, _ := list.body["limits"].(map[string]any)["bytes_per_day"].(map[string]any)
		used, _ = bpd["used"].(float64)
		time.Sleep(100 * time.Millisecond)
	}
	if used != float64(billed) {
		t.Fatalf("bytes_per_day used = %v, want the job's %d billed bytes", used, billed)
	}
	stop()

	budget := billed + estimate - 1 // one byte short of the next query
	g2, _ := startGatewayConfig(t, local.Config{DataDir: dir, Addr: addr, PolicyFile: limitsPolicy(t, fmt.Sprintf("    bytes_per_day: %d\n", budget))})
	bob2 := token(t, g2, "bob@example.com", "analysts")
	r2 := postQuery(t, g2, bob2, limitsSQL, 30)
	if r2.code != http.StatusForbidden || r2.body["status"] != "denied" {
		t.Fatalf("query over the remaining budget after restart = %d %s, want 403 denied", r2.code, r2.raw)
	}
	if ids := stringsOf(r2.body["rule_ids"]); len(ids) != 1 || ids[0] != "builtin.bytes_per_day" {
		t.Errorf("rule_ids = %v, want [builtin.bytes_per_day] (%s)", ids, r2.raw)
	}
	left := fmt.Sprintf("more than the %d bytes left of your daily budget", estimate-1)
	if reasons := stringsOf(r2.body["reasons"]); len(reasons) != 1 || !strings.Contains(reasons[0], left) {
		t.Errorf("reasons = %v, want one containing %q", reasons, left)
	}
	// Another principal's budget is untouched.
	carol := token(t, g2, "carol@example.com", "analysts")
	if r := postQuery(t, g2, carol, limitsSQL, 30); r.code != http.StatusOK {
		t.Errorf("carol's query = %d %s", r.code, r.raw)
	}
}
