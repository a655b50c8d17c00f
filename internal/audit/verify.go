package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/session"
)

// Problem is one broken link found by Verify, located by the row where the
// chain stops holding, or by the day whose anchor fails (Seq 0).
type Problem struct {
	ChainDay civil.Date
	// ChainSeq is the row's day chain position: 0 on rows written without
	// a day chain and on a day's anchor problem.
	ChainSeq  int64
	SessionID string
	Seq       int64
	Reason    string
}

// InsertID is the insertId the row was written with.
func (p Problem) InsertID() string { return fmt.Sprintf("%s:%d", p.SessionID, p.Seq) }

func (p Problem) String() string {
	switch {
	case p.SessionID == "":
		return fmt.Sprintf("day %s: %s", p.ChainDay, p.Reason)
	case p.ChainSeq == 0:
		return fmt.Sprintf("day %s: session %s event %d (insert id %s): %s",
			p.ChainDay, p.SessionID, p.Seq, p.InsertID(), p.Reason)
	}
	return fmt.Sprintf("day %s chain_seq %d: session %s event %d (insert id %s): %s",
		p.ChainDay, p.ChainSeq, p.SessionID, p.Seq, p.InsertID(), p.Reason)
}

// Report is the outcome of Verify.
type Report struct {
	Rows     int
	Days     int
	Sessions int
	// Anchors is the number of day anchors recomputed; Unanchored lists the
	// days with rows but no anchor (today's, or a day the anchor job has
	// not run for), whose completeness rests on the session chains alone.
	Anchors    int
	Unanchored []civil.Date
	// NoAnchorsTable is set when the dataset has no anchors table (local
	// mode).
	NoAnchorsTable bool
	// Problems are sorted by (day, chain_seq, session, seq); the first is
	// the first broken link.
	Problems []Problem
}

// OK reports whether every chain and anchor holds.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify is VerifyDays over the whole table.
func Verify(ctx context.Context, client *bigquery.Client, dataset, table string) (*Report, error) {
	return VerifyDays(ctx, client, dataset, table, civil.Date{}, civil.Date{})
}

// VerifyDays reads the audit rows of the UTC days from through to
// (inclusive; a zero date leaves that end open), reading only those
// partitions, and the anchors of those days from the dataset's anchors
// table (AnchorsTable), and checks:
//   - every row's row_hash over its columns;
//   - every session's event chain: seq from 1 without gaps, prev_hash
//     links, session.EventHash of the stored columns; exact duplicates of
//     a row (a retried insert BigQuery kept) count once, two different
//     rows for one event are a problem;
//   - the day chain of rows written with one (chain_seq >= 1), by the old
//     rule: each day's chain is checked whole;
//   - for each anchored day, the anchor recomputed exactly as
//     terraform/audit_anchor.tf computes it (AnchorHash) over the rows
//     recorded up to the anchor's computed_at, and every row recorded after
//     it that adds an event the anchor does not cover.
//
// A session that began before from is checked from its first event in
// range, whose prev_hash is taken as given.
//
// The session chains alone cannot show that the last events of a session,
// or a whole session, were removed; the anchor of a closed day can. The
// rows of a day not yet anchored (Report.Unanchored) rest on the session
// chains only.
func VerifyDays(ctx context.Context, client *bigquery.Client, dataset, table string, from, to civil.Date) (*Report, error) {
	return verifyDays(ctx, client, dataset, table, AnchorsTable, from, to)
}

func verifyDays(ctx context.Context, client *bigquery.Client, dataset, table, anchorsTable string, from, to civil.Date) (*Report, error) {
	var where []string
	var params []bigquery.QueryParameter
	if from.IsValid() {
		where = append(where, fmt.Sprintf("%s >= @from AND %s >= @from_ts", colChainDay, colEventTime))
		params = append(params, bigquery.QueryParameter{Name: "from", Value: from},
			bigquery.QueryParameter{Name: "from_ts", Value: from.In(time.UTC)})
	}
	if to.IsValid() {
		where = append(where, fmt.Sprintf("%s <= @to AND %s < @to_ts", colChainDay, colEventTime))
		params = append(params, bigquery.QueryParameter{Name: "to", Value: to},
			bigquery.QueryParameter{Name: "to_ts", Value: to.AddDays(1).In(time.UTC)})
	}
	sql := fmt.Sprintf("SELECT * FROM `%s.%s.%s`", client.Project(), dataset, table)
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	q := client.Query(sql + fmt.Sprintf(" ORDER BY %s, %s", colChainDay, colChainSeq))
	q.Parameters = params
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit verify: read table: %w", err)
	}
	var rows []*Row
	for {
		m := map[string]bigquery.Value{}
		err := it.Next(&m)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit verify: read table: %w", err)
		}
		rows = append(rows, rowFromValues(m))
	}
	anchors, err := readAnchors(ctx, client, dataset, anchorsTable, from, to)
	if errors.Is(err, errNoAnchorsTable) {
		rep := verifyRows(rows, from.IsValid())
		rep.NoAnchorsTable = true
		rep.Unanchored = rowDays(rows)
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	rep := verifyRows(rows, from.IsValid())
	checkAnchors(rep, rows, anchors)
	return rep, nil
}

func rowFromValues(m map[string]bigquery.Value) *Row {
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) int64 { n, _ := m[k].(int64); return n }
	ts := func(k string) time.Time { t, _ := m[k].(time.Time); return t.UTC() }
	day, _ := m[colChainDay].(civil.Date)
	return &Row{
		EventTime: ts(colEventTime), EventTimeText: str(colEventTimeText), SessionID: str(colSessionID),
		Seq: num(colSeq), EventType: str(colEventType), Actor: str(colActor), Data: str(colData),
		PrevHash: str(colPrevHash), Hash: str(colHash), Principal: str(colPrincipal),
		PrincipalIssuer: str(colPrincipalIssuer), PrincipalSubject: str(colPrincipalSubject),
		ConversationID: str(colConversationID), AgentName: str(colAgentName), AgentModel: str(colAgentModel),
		SQLSHA256: str(colSQLSHA256), ChainDay: day, ChainSeq: num(colChainSeq), ChainPrev: str(colChainPrev),
		RecordedAt: ts(colRecordedAt), RowHash: str(colRowHash), HashVersion: num(colHashVersion),
	}
}

// verifyRows checks rows. When partial, sessions may have begun before the
// first row.
func verifyRows(rows []*Row, partial bool) *Report {
	rep := &Report{Rows: len(rows), Days: len(rowDays(rows))}
	bad := func(r *Row, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{
			ChainDay: r.ChainDay, ChainSeq: r.ChainSeq, SessionID: r.SessionID, Seq: r.Seq,
			Reason: fmt.Sprintf(format, args...),
		})
	}

	bySession := map[string][]*Row{}
	var chained []*Row
	for _, r := range rows {
		bySession[r.SessionID] = append(bySession[r.SessionID], r)
		if got := RowHash(r); got != r.RowHash {
			bad(r, "row changed: its columns hash to %s, row_hash says %s", got, r.RowHash)
		}
		if civil.DateOf(r.EventTime) != r.ChainDay {
			bad(r, "chain_day %s is not the date of event_time %s", r.ChainDay, tsText(r.EventTime))
		}
		if t, err := time.Parse(time.RFC3339Nano, r.EventTimeText); err != nil || !t.UTC().Truncate(time.Microsecond).Equal(r.EventTime) {
			bad(r, "event_time %s does not match event_time_text %q", tsText(r.EventTime), r.EventTimeText)
		}
		switch {
		case r.ChainSeq > 0:
			chained = append(chained, r)
		case r.ChainSeq < 0 || r.ChainPrev != "":
			bad(r, "chain_seq %d with chain_prev %q: neither a day chain row nor a row without one", r.ChainSeq, r.ChainPrev)
		}
	}

	// Day chains of the rows written with one.
	slices.SortStableFunc(chained, func(a, b *Row) int {
		if c := a.ChainDay.Compare(b.ChainDay); c != 0 {
			return c
		}
		return cmp.Compare(a.ChainSeq, b.ChainSeq)
	})
	var day civil.Date
	var prevSeq int64
	prevHash := session.GenesisHash
	for i, r := range chained {
		if i == 0 || r.ChainDay != day {
			day, prevSeq, prevHash = r.ChainDay, 0, session.GenesisHash
		}
		switch {
		case r.ChainSeq == prevSeq:
			bad(r, "chain_seq %d appears twice (a duplicated row or a forked chain)", r.ChainSeq)
		case r.ChainSeq != prevSeq+1:
			bad(r, "rows missing before this one: chain_seq jumps from %d to %d", prevSeq, r.ChainSeq)
		case r.ChainPrev != prevHash:
			bad(r, "chain_prev %s is not the previous row's row_hash %s", r.ChainPrev, prevHash)
		}
		prevSeq, prevHash = r.ChainSeq, r.RowHash
	}

	// Session chains.
	rep.Sessions = len(bySession)
	for id, rs := range bySession {
		slices.SortStableFunc(rs, func(a, b *Row) int { return cmp.Compare(a.Seq, b.Seq) })
		prev, first := session.GenesisHash, int64(1)
		if partial && rs[0].Seq > 1 {
			prev, first = rs[0].PrevHash, rs[0].Seq
		}
		i := int64(0)
		for k, r := range rs {
			if k > 0 && r.Seq == rs[k-1].Seq {
				if r.RowHash != rs[k-1].RowHash || r.Hash != rs[k-1].Hash || r.ChainSeq > 0 {
					bad(r, "session %s holds event %d twice, with different contents", id, r.Seq)
				}
				// Else an exact duplicate of a retried insert: one event.
				continue
			}
			if want := first + i; r.Seq != want {
				bad(r, "session %s is missing events: expected event %d, found %d", id, want, r.Seq)
				break
			}
			i++
			if r.PrevHash != prev {
				bad(r, "prev_hash %s is not the hash of event %d (%s)", r.PrevHash, r.Seq-1, prev)
			}
			e, err := r.event()
			if err != nil {
				bad(r, "cannot rebuild the event: %v", err)
			} else if got := session.EventHash(id, e); got != r.Hash {
				bad(r, "event changed: it hashes to %s, hash says %s", got, r.Hash)
			}
			prev = r.Hash
		}
	}
	sortProblems(rep.Problems)
	return rep
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := a.ChainDay.Compare(b.ChainDay); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ChainSeq, b.ChainSeq); c != 0 {
			return c
		}
		if c := cmp.Compare(a.SessionID, b.SessionID); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
}

// rowDays returns the distinct UTC days of the rows' event_time, sorted.
func rowDays(rows []*Row) []civil.Date {
	seen := map[civil.Date]bool{}
	for _, r := range rows {
		seen[civil.DateOf(r.EventTime)] = true
	}
	return slices.SortedFunc(maps.Keys(seen), func(a, b civil.Date) int { return a.Compare(b) })
}

// RunVerify is `querygate audit verify`: it verifies the table, prints what
// it checked and every problem to w, and returns an error wrapping
// ErrChainBroken that names the first broken row when a chain is broken.
func RunVerify(ctx context.Context, client *bigquery.Client, dataset, table string, w io.Writer) error {
	return RunVerifyDays(ctx, client, dataset, table, civil.Date{}, civil.Date{}, w)
}

// RunVerifyDays is RunVerify over the day chains from through to (see
// VerifyDays): `querygate audit verify --from --to`.
func RunVerifyDays(ctx context.Context, client *bigquery.Client, dataset, table string, from, to civil.Date, w io.Writer) error {
	return runVerifyDays(ctx, client, dataset, table, AnchorsTable, from, to, w)
}

func runVerifyDays(ctx context.Context, client *bigquery.Client, dataset, table, anchorsTable string, from, to civil.Date, w io.Writer) error {
	rep, err := verifyDays(ctx, client, dataset, table, anchorsTable, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "checked %d rows, %d days, %d sessions, %d day anchors in %s.%s.%s\n",
		rep.Rows, rep.Days, rep.Sessions, rep.Anchors, client.Project(), dataset, table)
	switch {
	case rep.NoAnchorsTable:
		fmt.Fprintf(w, "no %s table in %s: no day anchors checked; removed whole sessions or session tails are not detectable\n", anchorsTable, dataset)
	case len(rep.Unanchored) > 0:
		fmt.Fprintf(w, "days without an anchor (checked by the session chains only): %s\n", joinDates(rep.Unanchored))
	}
	if rep.OK() {
		fmt.Fprintln(w, "all chains and anchors intact")
		return nil
	}
	const maxShown = 50
	for i, p := range rep.Problems {
		if i == maxShown {
			fmt.Fprintf(w, "... and %d more\n", len(rep.Problems)-maxShown)
			break
		}
		fmt.Fprintf(w, "BROKEN %s\n", p)
	}
	return fmt.Errorf("%w: first broken link at %s", ErrChainBroken, rep.Problems[0])
}

func joinDates(ds []civil.Date) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// CompareSession checks session s, as the session store holds it, against
// the audit table: every event of s must have exactly one row with the same
// hash, and the table must hold no other event of s. It returns nil when
// they agree and an error wrapping ErrDiverged that names the first event
// that differs. Replay and the sessions API can call it to show that a
// stored session is the one that was audited: a session store rewritten
// with a consistent new chain passes VerifyChain but not this.
func CompareSession(ctx context.Context, client *bigquery.Client, dataset, table string, s *session.Session) error {
	w := NewWriter(client, dataset, table)
	if len(s.Timeline) == 0 {
		return nil
	}
	have, err := w.storedHashes(ctx, s)
	if err != nil {
		return err
	}
	for _, e := range s.Timeline {
		h, ok := have[e.Seq]
		switch {
		case !ok:
			return fmt.Errorf("session %s event %d has no audit row: %w", s.ID, e.Seq, ErrDiverged)
		case h != e.Hash:
			return fmt.Errorf("session %s event %d: audit row has hash %s, store has %s: %w", s.ID, e.Seq, h, e.Hash, ErrDiverged)
		}
		delete(have, e.Seq)
	}
	if len(have) > 0 {
		extra := slices.Sorted(maps.Keys(have))
		return fmt.Errorf("session %s: the audit table holds event %d, which the store lacks: %w", s.ID, extra[0], ErrDiverged)
	}
	return nil
}
