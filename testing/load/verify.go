package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"golang.org/x/oauth2"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// verdict is what the end-of-run check found.
type verdict struct {
	started    int // sessions the agents got an id for
	inStore    int // of those, listed exactly once in the store
	lost       int // started, but missing from the store, or not ended
	duplicates int // listed more than once
	auditOK    int // every timeline event has exactly one audit row
	auditBad   int
	auditErr   string
	notes      []string
}

// verify checks every session the agents started: listed once in the store
// (through the sessions API, as an auditor), ended, and with exactly one
// audit row per timeline event (through the embedded BigQuery).
func (l *load) verify(ctx context.Context) verdict {
	var v verdict
	ids := map[string]bool{}
	for _, r := range l.results {
		if r.id != "" {
			ids[r.id] = true
		}
	}
	v.started = len(ids)
	listed := map[string]int{}
	token := ""
	for {
		var page struct {
			Sessions []struct {
				ID string `json:"session_id"`
			} `json:"sessions"`
			Next string `json:"next_page_token"`
		}
		q := "/v1/sessions?page_size=1000"
		if token != "" {
			q += "&page_token=" + url.QueryEscape(token)
		}
		code, _, err := l.api.do(ctx, http.MethodGet, q, l.auditor, nil, &page)
		if err != nil || code != http.StatusOK {
			v.notes = append(v.notes, fmt.Sprintf("listing sessions failed: %d %v", code, err))
			break
		}
		for _, s := range page.Sessions {
			listed[s.ID]++
		}
		if page.Next == "" {
			break
		}
		token = page.Next
	}
	timelines := map[string]map[int64]bool{}
	for id := range ids {
		switch n := listed[id]; {
		case n == 0:
			v.lost++
			continue
		case n > 1:
			v.duplicates++
			continue
		}
		var s struct {
			Status   string `json:"status"`
			Timeline []struct {
				Seq int64 `json:"seq"`
			} `json:"timeline"`
		}
		code, _, err := l.api.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id), l.auditor, nil, &s)
		if err != nil || code != http.StatusOK || !terminal(s.Status) {
			v.lost++
			v.notes = append(v.notes, fmt.Sprintf("session %s: HTTP %d, status %q, %v", id, code, s.Status, err))
			continue
		}
		v.inStore++
		seqs := map[int64]bool{}
		for _, e := range s.Timeline {
			seqs[e.Seq] = true
		}
		timelines[id] = seqs
	}
	rows, err := l.auditRows(ctx)
	if err != nil {
		v.auditErr = err.Error()
		v.auditBad = len(timelines)
		return v
	}
	for id, seqs := range timelines {
		got := rows[id]
		ok := len(got) == len(seqs)
		for seq, n := range got {
			if n != 1 || !seqs[seq] {
				ok = false
			}
		}
		if ok {
			v.auditOK++
		} else {
			v.auditBad++
			if len(v.notes) < 10 {
				v.notes = append(v.notes, fmt.Sprintf("session %s: %d timeline events, audit rows %v", id, len(seqs), got))
			}
		}
	}
	return v
}

// auditRows counts the audit table's rows per (session, seq).
func (l *load) auditRows(ctx context.Context) (map[string]map[int64]int, error) {
	opts := []option.ClientOption{option.WithEndpoint(strings.TrimRight(l.c.bigquery, "/") + "/")}
	// A gateway that guards its embedded BigQuery keeps the bearer token in
	// the data dir; older ones accept anonymous calls.
	if b, err := os.ReadFile(filepath.Join(l.c.dataDir, "bigquery", "token")); err == nil {
		opts = append(opts, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: strings.TrimSpace(string(b))})))
	} else {
		opts = append(opts, option.WithoutAuthentication())
	}
	bq, err := bigquery.NewClient(ctx, l.c.project, opts...)
	if err != nil {
		return nil, err
	}
	defer bq.Close()
	q := bq.Query(fmt.Sprintf("SELECT session_id, seq, COUNT(*) AS n FROM `%s.querygate_audit.session_events` GROUP BY session_id, seq", l.c.project))
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	out := map[string]map[int64]int{}
	for {
		var r struct {
			SessionID string `bigquery:"session_id"`
			Seq       int64  `bigquery:"seq"`
			N         int64  `bigquery:"n"`
		}
		err := it.Next(&r)
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit rows: %w", err)
		}
		if out[r.SessionID] == nil {
			out[r.SessionID] = map[int64]int{}
		}
		out[r.SessionID][r.Seq] += int(r.N)
	}
	return out, nil
}

func (l *load) report(w io.Writer, elapsed time.Duration, rssStart, rssEnd int64, v verdict) {
	byKind := map[kind][]result{}
	errs := map[string]int{}
	for _, r := range l.results {
		byKind[r.kind] = append(byKind[r.kind], r)
		if r.err != "" {
			errs[shorten(r.err)]++
		}
	}
	fmt.Fprintf(w, "\n%-10s %8s %8s %8s %10s %10s\n", "kind", "sessions", "ok", "errors", "p50 ms", "p99 ms")
	total, totalOK := 0, 0
	for _, k := range allKinds {
		rs := byKind[k]
		if len(rs) == 0 {
			continue
		}
		var lat []time.Duration
		ok := 0
		for _, r := range rs {
			if r.err == "" {
				ok++
				lat = append(lat, r.latency)
			}
		}
		total += len(rs)
		totalOK += ok
		fmt.Fprintf(w, "%-10s %8d %8d %8d %10.1f %10.1f\n", k, len(rs), ok, len(rs)-ok, ms(pct(lat, 50)), ms(pct(lat, 99)))
	}
	fmt.Fprintf(w, "%-10s %8d %8d %8d\n", "all", total, totalOK, total-totalOK)
	fmt.Fprintf(w, "\nsessions per minute:   %.1f (%d in %s)\n", float64(total)/elapsed.Minutes(), total, elapsed.Round(time.Millisecond))
	// Drift: the allowed queries' p50 at the start and at the end.
	var allowed []result
	for _, r := range l.results {
		if r.kind == kindAllowed && r.err == "" {
			allowed = append(allowed, r)
		}
	}
	sort.Slice(allowed, func(i, j int) bool { return allowed[i].seq < allowed[j].seq })
	if n := len(allowed); n >= 100 {
		first, last := lat(allowed[:50]), lat(allowed[n-50:])
		fmt.Fprintf(w, "allowed p50, first 50: %.1f ms; last 50: %.1f ms; ratio %.2f\n", ms(pct(first, 50)), ms(pct(last, 50)),
			float64(pct(last, 50))/float64(pct(first, 50)))
	}
	fmt.Fprintf(w, "gateway RSS (with its children): start %.1f MiB, end %.1f MiB, peak %.1f MiB\n", mib(rssStart), mib(rssEnd), mib(l.rssPeak.Load()))
	fmt.Fprintf(w, "sessions started:      %d; in the store exactly once and ended: %d; lost: %d; listed twice: %d\n",
		v.started, v.inStore, v.lost, v.duplicates)
	if v.auditErr != "" {
		fmt.Fprintf(w, "audit check:           failed: %s\n", v.auditErr)
	} else {
		fmt.Fprintf(w, "audit rows:            exactly one per event for %d sessions; wrong for %d\n", v.auditOK, v.auditBad)
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %5d  %s\n", errs[k], k)
		}
	}
	for _, n := range v.notes {
		fmt.Fprintln(w, "  note:", n)
	}
}

func lat(rs []result) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.latency
	}
	return out
}

// shorten groups errors that differ only in a session id.
func shorten(s string) string {
	if len(s) > 160 {
		s = s[:160]
	}
	return sessionIDRE.ReplaceAllString(s, "<id>")
}

var sessionIDRE = regexp.MustCompile(`qs_[0-9a-f]{32}`)
