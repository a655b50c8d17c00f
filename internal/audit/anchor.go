package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"
)

// AnchorsTable is the table, in the audit dataset, that the daily anchor
// query writes (terraform/audit_anchor.tf).
const AnchorsTable = "anchors"

// errNoAnchorsTable means the dataset has no anchors table.
var errNoAnchorsTable = errors.New("no anchors table")

// Anchor is one row of the anchors table: the hash over one UTC day's
// distinct (session_id, seq, event_hash).
type Anchor struct {
	Day          civil.Date
	EventCount   int64
	SessionCount int64
	Hash         string
	ComputedAt   time.Time
}

// AnchorHash computes a day's anchor over rows exactly as the scheduled
// query of terraform/audit_anchor.tf does: over the distinct (session_id,
// seq, event_hash), a session hash is the hex SHA-256 of its "seq:event_hash"
// lines joined by "\n" in seq order; the anchor is the hex SHA-256 of the
// "session_id:session_hash" lines joined by "\n" in session_id order (byte
// order, as BigQuery orders STRING). It returns the distinct event count,
// the session count and the anchor. Two different hashes for one (session,
// seq) are ordered by hash here, where BigQuery's order is undefined; Verify
// reports such a pair on its own.
func AnchorHash(rows []*Row) (events, sessions int64, hash string) {
	type triple struct {
		session string
		seq     int64
		hash    string
	}
	seen := map[triple]bool{}
	var ts []triple
	for _, r := range rows {
		t := triple{r.SessionID, r.Seq, r.Hash}
		if !seen[t] {
			seen[t] = true
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b triple) int {
		if c := strings.Compare(a.session, b.session); c != 0 {
			return c
		}
		if c := cmp.Compare(a.seq, b.seq); c != 0 {
			return c
		}
		return strings.Compare(a.hash, b.hash)
	})
	var lines []string
	for i := 0; i < len(ts); {
		j := i
		var b strings.Builder
		for ; j < len(ts) && ts[j].session == ts[i].session; j++ {
			if j > i {
				b.WriteByte('\n')
			}
			b.WriteString(strconv.FormatInt(ts[j].seq, 10))
			b.WriteByte(':')
			b.WriteString(ts[j].hash)
		}
		lines = append(lines, ts[i].session+":"+hexSHA256(b.String()))
		i = j
	}
	return int64(len(ts)), int64(len(lines)), hexSHA256(strings.Join(lines, "\n"))
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// readAnchors reads the anchors of the days from through to (zero: open).
func readAnchors(ctx context.Context, client *bigquery.Client, dataset, table string, from, to civil.Date) ([]Anchor, error) {
	if _, err := client.Dataset(dataset).Table(table).Metadata(ctx); err != nil {
		if isNotFound(err) {
			return nil, errNoAnchorsTable
		}
		return nil, fmt.Errorf("audit verify: anchors table: %w", err)
	}
	sql := fmt.Sprintf("SELECT anchor_day, event_count, session_count, anchor_hash, computed_at FROM `%s.%s.%s` WHERE TRUE",
		client.Project(), dataset, table)
	var params []bigquery.QueryParameter
	if from.IsValid() {
		sql += " AND anchor_day >= @from"
		params = append(params, bigquery.QueryParameter{Name: "from", Value: from})
	}
	if to.IsValid() {
		sql += " AND anchor_day <= @to"
		params = append(params, bigquery.QueryParameter{Name: "to", Value: to})
	}
	q := client.Query(sql + " ORDER BY anchor_day")
	q.Parameters = params
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit verify: read anchors: %w", err)
	}
	var out []Anchor
	for {
		var v []bigquery.Value
		err := it.Next(&v)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit verify: read anchors: %w", err)
		}
		if len(v) != 5 {
			return nil, fmt.Errorf("audit verify: anchors row has %d columns, want 5", len(v))
		}
		a := Anchor{}
		a.Day, _ = v[0].(civil.Date)
		a.EventCount, _ = v[1].(int64)
		a.SessionCount, _ = v[2].(int64)
		a.Hash, _ = v[3].(string)
		ts, _ := v[4].(time.Time)
		a.ComputedAt = ts.UTC()
		out = append(out, a)
	}
}

// checkAnchors recomputes each anchor over the rows of its day and adds
// what does not match to rep.
func checkAnchors(rep *Report, rows []*Row, anchors []Anchor) {
	byDay := map[civil.Date][]*Row{}
	for _, r := range rows {
		d := civil.DateOf(r.EventTime)
		byDay[d] = append(byDay[d], r)
	}
	anchored := map[civil.Date]bool{}
	for _, a := range anchors {
		if anchored[a.Day] {
			rep.Problems = append(rep.Problems, Problem{ChainDay: a.Day, Reason: "the anchors table holds this day twice"})
			continue
		}
		anchored[a.Day] = true
		rep.Anchors++
		// The rows the anchor query could have seen, and those recorded
		// after it ran.
		var before, after []*Row
		for _, r := range byDay[a.Day] {
			if r.RecordedAt.After(a.ComputedAt) {
				after = append(after, r)
			} else {
				before = append(before, r)
			}
		}
		n, sess, h := AnchorHash(before)
		if n != a.EventCount || sess != a.SessionCount || h != a.Hash {
			// A row whose recorded_at was set late but was stored before
			// the anchor ran: the whole day may still match.
			if n2, s2, h2 := AnchorHash(byDay[a.Day]); n2 == a.EventCount && s2 == a.SessionCount && h2 == a.Hash {
				continue
			}
			rep.Problems = append(rep.Problems, Problem{ChainDay: a.Day, Reason: fmt.Sprintf(
				"anchor mismatch: the anchor computed at %s covers %d events in %d sessions with hash %s; the rows recorded by then are %d events in %d sessions with hash %s (a row of this day was changed, removed or added)",
				tsText(a.ComputedAt), a.EventCount, a.SessionCount, a.Hash, n, sess, h)})
			continue
		}
		covered := map[string]bool{}
		for _, r := range before {
			covered[r.InsertID()+":"+r.Hash] = true
		}
		for _, r := range after {
			if covered[r.InsertID()+":"+r.Hash] {
				continue // a late duplicate of an anchored event
			}
			rep.Problems = append(rep.Problems, Problem{
				ChainDay: r.ChainDay, ChainSeq: r.ChainSeq, SessionID: r.SessionID, Seq: r.Seq,
				Reason: fmt.Sprintf("written after its day's anchor (recorded_at %s, anchor computed at %s): the anchor does not cover it",
					tsText(r.RecordedAt), tsText(a.ComputedAt)),
			})
		}
	}
	var un []civil.Date
	for _, d := range rowDays(rows) {
		if !anchored[d] {
			un = append(un, d)
		}
	}
	rep.Unanchored = un
	sortProblems(rep.Problems)
}
