package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
)

// BenchmarkQueryEndToEnd measures one allowed query through the whole local
// gateway: token verification, session creation, the workflow runtime
// running the real YAML (policy with ZetaSQL analysis, execute on the
// emulator, de-identification, record with audit writes), and the 200
// answer. scripts/bench.sh prints it with the component benchmarks.
func BenchmarkQueryEndToEnd(b *testing.B) {
	// The audit writer logs each chain head through the default logger;
	// keep those lines out of the benchmark's output.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(prev)
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"sql":"SELECT full_name, city FROM demo.customers WHERE customer_id < 50","prompt":"bench"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", g.URL+"/v1/queries", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkOverhead measures, in one run on one gateway, the same aggregate
// sent through the gateway (POST /v1/queries, whole session) and sent
// straight to the embedded BigQuery (jobs.query with the gateway's token),
// alternating, and reports both medians, their ratio and the gateway's
// added milliseconds (issue 13 item 3). scripts/bench.sh prints them.
func BenchmarkOverhead(b *testing.B) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(prev)
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	if err != nil {
		b.Fatal(err)
	}
	bq, err := bqlocal.ClientWithToken(context.Background(), g.BigQueryEndpoint, "querygate-local", g.BigQueryToken)
	if err != nil {
		b.Fatal(err)
	}
	defer bq.Close()
	// An aggregate that the embedded BigQuery answers in 50 to 90 ms on
	// the two-core development machine when it is not loaded (issue 13
	// item 3): a join of 1,000 orders with 30 customers, by city.
	const sql = "SELECT c.city, COUNT(*) AS orders, ROUND(SUM(o.amount), 2) AS total FROM demo.orders o " +
		"JOIN demo.customers c ON o.customer_id = c.customer_id WHERE c.customer_id <= 30 GROUP BY c.city ORDER BY c.city"
	body := []byte(`{"sql":"` + sql + `","prompt":"overhead"}`)
	var ids []string
	// viaGateway returns the time to the answer.
	viaGateway := func() (took time.Duration) {
		req, _ := http.NewRequest("POST", g.URL+"/v1/queries", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			SessionID string `json:"session_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		took = time.Since(t0)
		if resp.StatusCode != http.StatusOK || err != nil {
			b.Fatalf("gateway status %d, %v", resp.StatusCode, err)
		}
		ids = append(ids, out.SessionID)
		// The answer is released before record's cleanup (deleting the
		// job's result) ends; wait for the execution to finish, untimed,
		// so that the emulator, which serves one request at a time, is
		// idle when the direct query starts.
		sess, err := g.Store.Get(context.Background(), out.SessionID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.Runtime.Wait(context.Background(), sess.ExecutionName); err != nil {
			b.Fatal(err)
		}
		return took
	}
	direct := func() {
		q := bq.Query(sql)
		q.DefaultProjectID, q.DefaultDatasetID = "querygate-local", "demo"
		it, err := q.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var row []bigquery.Value
		for {
			if err := it.Next(&row); err == iterator.Done {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	viaGateway() // warm both paths: the first analysis and catalog load
	direct()
	ids = nil
	var gw, dr, starts []time.Duration
	var t00 time.Time
	b.ResetTimer()
	t00 = time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		took := viaGateway()
		t1 := time.Now()
		direct()
		gw, dr = append(gw, took), append(dr, time.Since(t1))
		starts = append(starts, t0.Sub(t00))
	}
	b.StopTimer()
	reportSteps(b, g, t00, ids, starts, gw)
	b.ReportMetric(float64(timerResolution()), "timer-resolution-ns")
	mg, md := median(gw), median(dr)
	b.ReportMetric(float64(mg.Microseconds())/1000, "gateway-p50-ms")
	b.ReportMetric(float64(md.Microseconds())/1000, "direct-p50-ms")
	b.ReportMetric(float64(mg)/float64(md), "ratio")
	b.ReportMetric(float64((mg-md).Microseconds())/1000, "added-p50-ms")
}

// sessionSteps are the segments of a session's time, between the request
// and the timeline events in order, then the answer; reportSteps reports
// each one's median, the profile of where the gateway's time goes.
var sessionSteps = []struct {
	metric string
	until  session.EventType // "" is the answer
}{
	{"intake-ms", session.EventReceived},
	{"policy-ms", session.EventPolicyDecided},
	{"to-execute-ms", session.EventQueryStarted},
	{"job-ms", session.EventQueryFinished},
	{"deidentify-ms", session.EventResultMasked},
	{"to-record-ms", session.EventCompleted},
	{"audit-and-answer-ms", ""},
}

// reportSteps splits each session (started at starts[i] after t00 and
// answered took[i] later) by its timeline events, and reports the median
// of each segment.
func reportSteps(b *testing.B, g *local.Gateway, t00 time.Time, ids []string, starts, took []time.Duration) {
	seg := make([][]time.Duration, len(sessionSteps))
	for i, id := range ids {
		s, err := g.Store.Get(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		at := map[session.EventType]time.Time{}
		for _, e := range s.Timeline {
			if _, ok := at[e.Type]; !ok {
				at[e.Type] = e.Time
			}
		}
		prev := t00.Add(starts[i])
		for j, st := range sessionSteps {
			end := prev
			if st.until == "" {
				end = t00.Add(starts[i] + took[i])
			} else if t, ok := at[st.until]; ok {
				end = t
			} else {
				b.Fatalf("session %s has no %s event", id, st.until)
			}
			seg[j] = append(seg[j], end.Sub(prev))
			prev = end
		}
	}
	for j, st := range sessionSteps {
		b.ReportMetric(float64(median(seg[j]).Microseconds())/1000, st.metric)
	}
}

// timerResolution is the smallest step of the monotonic clock seen between
// successive readings: the resolution the figures above are read with.
func timerResolution() time.Duration {
	best := time.Duration(1 << 62)
	for i := 0; i < 10000; i++ {
		t0 := time.Now()
		t1 := time.Now()
		for t1 == t0 {
			t1 = time.Now()
		}
		if d := t1.Sub(t0); d > 0 && d < best {
			best = d
		}
	}
	return best
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[len(s)/2]
}
