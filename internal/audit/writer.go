package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/session"
)

// Writer appends session events to the audit table.
//
// It never reads the table: each row carries its session's chain
// (prev_hash, event_hash), which the session store already serialized, and
// the day is anchored afterwards by one scheduled query over the distinct
// (session_id, seq, event_hash) of that day (terraform/audit_anchor.tf).
// Any number of Writers, in any number of processes, may therefore write at
// once. A session's events go in one insertAll request per WriteSession,
// each row with the insertId session:seq so that BigQuery drops a retried
// duplicate; a duplicate it keeps anyway is an identical row, which Verify
// and the anchor treat as one.
type Writer struct {
	client  *bigquery.Client
	dataset string
	table   string
	now     func() time.Time
	// sleep waits between attempts; tests replace it so that no test
	// depends on the wall clock.
	sleep func(ctx context.Context, d time.Duration) error
	retry RetryPolicy

	mu sync.Mutex
	// written holds, per session, how many leading events this Writer has
	// stored and the hash of the last of them, so that a retry of the
	// record step in this process sends only the new events.
	written map[string]writtenHead
	// put inserts rows in one insertAll request; tests wrap it to crash
	// mid-write or to hold an attempt back.
	put func(ctx context.Context, rows []*Row) error
}

// RetryPolicy bounds how a Writer retries a failed insert.
type RetryPolicy struct {
	// Attempts is the number of insertAll requests per batch, first
	// included.
	Attempts int
	// Initial is the wait before the second attempt; each later wait
	// doubles, up to Max.
	Initial, Max time.Duration
	// PerAttempt bounds one request, including the client library's own
	// retries inside it.
	PerAttempt time.Duration
}

// DefaultRetry is the retry policy of NewWriter: at most 4 requests and
// about 1.4 s of waiting, each request bounded to 20 s.
var DefaultRetry = RetryPolicy{Attempts: 4, Initial: 200 * time.Millisecond, Max: 800 * time.Millisecond, PerAttempt: 20 * time.Second}

// maxBatchRows is the rows per insertAll request; BigQuery recommends at
// most 500 (and refuses requests over 10 MB; a row is a few KB at most,
// bounded by the session document limit).
const maxBatchRows = 500

// maxWrittenSessions bounds Writer.written; past it the map is cleared,
// which costs only a re-sent (deduplicated) batch.
const maxWrittenSessions = 10000

type writtenHead struct {
	n    int
	hash string
}

// NewWriter returns a Writer for dataset.table in client's project.
func NewWriter(client *bigquery.Client, dataset, table string) *Writer {
	w := &Writer{
		client: client, dataset: dataset, table: table, now: time.Now,
		sleep: sleepCtx, retry: DefaultRetry, written: map[string]writtenHead{},
	}
	ins := client.Dataset(dataset).Table(table).Inserter()
	w.put = func(ctx context.Context, rows []*Row) error { return ins.Put(ctx, rows) }
	return w
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) fqtn() string {
	return fmt.Sprintf("`%s.%s.%s`", w.client.Project(), w.dataset, w.table)
}

// EnsureTable creates the dataset and the table (partitioned by day on
// event_time, clustered by principal) when they do not exist, and checks
// the schema of a table that does; a table created before the
// hash_version column gets it added. Local mode calls it; in the cloud
// Terraform creates the table and the record step's service account may not
// create tables.
func (w *Writer) EnsureTable(ctx context.Context) error {
	ds := w.client.Dataset(w.dataset)
	if _, err := ds.Metadata(ctx); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("audit dataset: %w", err)
		}
		if err := ds.Create(ctx, &bigquery.DatasetMetadata{Description: "querygate audit events"}); err != nil && !isConflict(err) {
			return fmt.Errorf("create audit dataset: %w", err)
		}
	}
	t := ds.Table(w.table)
	md, err := t.Metadata(ctx)
	if err == nil {
		if !isLegacySchema(md.Schema) {
			return checkSchema(md.Schema)
		}
		// A table created before hash_version: add the column (NULLABLE,
		// so every existing row reads as legacy), then read the schema
		// back, since an update that is silently ignored (the local
		// emulator's) must not pass.
		if _, err := t.Update(ctx, bigquery.TableMetadataToUpdate{Schema: Schema()}, md.ETag); err != nil {
			return fmt.Errorf("audit table: add column %s: %w", colHashVersion, err)
		}
		if md, err = t.Metadata(ctx); err != nil {
			return fmt.Errorf("audit table: %w", err)
		}
		if isLegacySchema(md.Schema) {
			return fmt.Errorf("%w: the table predates column %s and adding it did not take; add it (terraform apply, or bq update with the schema of audit.Schema); the local BigQuery emulator cannot add columns: move the data dir's emulator.db aside to start a new audit table", ErrSchemaMismatch, colHashVersion)
		}
		return checkSchema(md.Schema)
	}
	if !isNotFound(err) {
		return fmt.Errorf("audit table: %w", err)
	}
	err = t.Create(ctx, &bigquery.TableMetadata{
		Description:      "querygate audit events: one row per session event, hash chained (docs/audit.md)",
		Schema:           Schema(),
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: PartitionField},
		Clustering:       &bigquery.Clustering{Fields: ClusteringFields},
	})
	if err != nil && !isConflict(err) {
		return fmt.Errorf("create audit table: %w", err)
	}
	return nil
}

// isLegacySchema reports whether s is the schema before hash_version.
func isLegacySchema(s bigquery.Schema) bool {
	return len(s) == legacyColumns && checkSchema(append(s[:legacyColumns:legacyColumns], Schema()[legacyColumns:]...)) == nil
}

func checkSchema(got bigquery.Schema) error {
	want := Schema()
	if len(got) != len(want) {
		return fmt.Errorf("%w: %d columns, want %d", ErrSchemaMismatch, len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type || got[i].Required != want[i].Required || got[i].Repeated {
			return fmt.Errorf("%w: column %d is %s %s (required %t), want %s %s (required %t)", ErrSchemaMismatch,
				i, got[i].Name, got[i].Type, got[i].Required, want[i].Name, want[i].Type, want[i].Required)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}

func isConflict(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusConflict
}

// WriteSession writes one row for every event of s and returns nil only
// when all of them are stored. It is idempotent: a rerun after a crash or a
// partial failure writes the rows again with the same insertIds and the
// same content (row_hash leaves out recorded_at), so a row BigQuery keeps
// twice is an exact duplicate, which Verify and the day anchor count once.
// It refuses a session whose own chain is broken. It does not read the
// table: a table row that differs from the store is found by Verify (two
// rows for one event with different hashes) and by CompareSession.
//
// Results must not be released until WriteSession returned nil (fail
// closed). Pass a session as stored: append the events to the session store
// first, then WriteSession, then mark the session terminal, so that a
// retry re-sends the very rows the first attempt may have stored.
func (w *Writer) WriteSession(ctx context.Context, s *session.Session) error {
	if len(s.Timeline) == 0 {
		return nil
	}
	if n := s.VerifyChain(); n != 0 {
		return fmt.Errorf("audit session %s: its timeline chain is broken at event %d", s.ID, n)
	}
	skip := 0
	w.mu.Lock()
	if h, ok := w.written[s.ID]; ok && h.n <= len(s.Timeline) && s.Timeline[h.n-1].Hash == h.hash {
		skip = h.n
	}
	w.mu.Unlock()
	if skip == len(s.Timeline) {
		return nil
	}
	// Build every row before sending any, so that an event that cannot be
	// audited stops the write before a row of the session is stored.
	recorded := w.now().UTC().Truncate(time.Microsecond)
	rows := make([]*Row, 0, len(s.Timeline)-skip)
	for _, e := range s.Timeline[skip:] {
		r, err := eventRow(s, e)
		if err != nil {
			return fmt.Errorf("audit session %s: %w", s.ID, err)
		}
		r.RecordedAt = recorded
		r.RowHash = RowHash(r)
		rows = append(rows, r)
	}
	for len(rows) > 0 {
		n := min(len(rows), maxBatchRows)
		if err := w.insert(ctx, rows[:n]); err != nil {
			return fmt.Errorf("audit session %s events %d-%d: insert: %w", s.ID, rows[0].Seq, rows[n-1].Seq, err)
		}
		rows = rows[n:]
	}
	last := s.Timeline[len(s.Timeline)-1]
	w.mu.Lock()
	if len(w.written) >= maxWrittenSessions {
		clear(w.written)
	}
	w.written[s.ID] = writtenHead{n: len(s.Timeline), hash: last.Hash}
	w.mu.Unlock()
	// The log is a second, independent copy of each session chain's head
	// (terraform/logging.tf sends these entries to a locked bucket): the
	// session chain alone cannot show that its last events were removed, a
	// logged head the table no longer holds can, on a day not anchored yet
	// too.
	logging.FromContext(ctx).InfoContext(ctx, "audit chain head",
		"chain_day", civil.DateOf(last.Time.UTC()).String(), "session_id", s.ID, "seq", last.Seq,
		"event_hash", last.Hash, "rows", len(s.Timeline)-skip)
	return nil
}

// WriteRemaining is WriteSession for a retry after a crash or a lost
// answer, when an earlier attempt, perhaps in another process, may have
// stored some of the session's rows: it reads which events the table
// already holds (one query, on this path only) and inserts the others, so
// that each event keeps exactly one row even where insertAll's best-effort
// deduplication (or the emulator, which has none) would keep two. A stored
// row whose hash differs from the store's is an error, never overwritten.
func (w *Writer) WriteRemaining(ctx context.Context, s *session.Session) error {
	if len(s.Timeline) == 0 {
		return nil
	}
	stored, err := w.storedHashes(ctx, s)
	if err != nil {
		return err
	}
	n := 0
	for n < len(s.Timeline) {
		e := s.Timeline[n]
		h, ok := stored[e.Seq]
		if !ok {
			break
		}
		if h != e.Hash {
			return fmt.Errorf("audit session %s: the table holds another row for event %d", s.ID, e.Seq)
		}
		n++
	}
	if n > 0 {
		w.mu.Lock()
		w.written[s.ID] = writtenHead{n: n, hash: s.Timeline[n-1].Hash}
		w.mu.Unlock()
	}
	return w.WriteSession(ctx, s)
}

// insert sends rows in one insertAll request, retried with the same
// insertIds up to w.retry.Attempts times with doubling waits. A request
// that failed may have landed: the retry's duplicates are dropped by
// BigQuery or are identical rows.
func (w *Writer) insert(ctx context.Context, rows []*Row) error {
	p := w.retry
	wait := p.Initial
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if p.PerAttempt > 0 {
			actx, cancel = context.WithTimeout(ctx, p.PerAttempt)
		}
		err = w.put(actx, rows)
		cancel()
		if err == nil {
			return nil
		}
		if attempt >= p.Attempts || ctx.Err() != nil || !retryable(err) {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		if serr := w.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		wait = min(2*wait, p.Max)
	}
}

// retryable reports whether another attempt may succeed: not when
// BigQuery refused the request itself as invalid (a 4xx other than 408 and
// 429), which a retry would only repeat.
func retryable(err error) bool {
	var e *googleapi.Error
	if errors.As(err, &e) {
		return e.Code >= 500 || e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests
	}
	return true
}

// storedHashes returns seq -> hash of the rows the table holds for s, for
// CompareSession (the Writer itself never reads the table). The lower
// event_time bound lets BigQuery prune partitions; there is no upper bound
// (the clustering column narrows instead), since CompareSession must also
// find events the store no longer has.
func (w *Writer) storedHashes(ctx context.Context, s *session.Session) (map[int64]string, error) {
	lo := s.Timeline[0].Time
	for _, e := range s.Timeline {
		lo = minTime(lo, e.Time)
	}
	sql := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s = @session_id AND %s >= @lo AND %s = @principal`,
		colSeq, colHash, w.fqtn(), colSessionID, colEventTime, colPrincipal)
	params := []bigquery.QueryParameter{
		{Name: "session_id", Value: s.ID},
		{Name: "lo", Value: lo.UTC().Truncate(time.Microsecond)},
		{Name: "principal", Value: principalKey(s.Principal)},
	}
	q := w.client.Query(sql)
	q.Parameters = params
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit session %s: read stored rows: %w", s.ID, err)
	}
	out := map[int64]string{}
	for {
		var v []bigquery.Value
		err := it.Next(&v)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit session %s: read stored rows: %w", s.ID, err)
		}
		seq, _ := v[0].(int64)
		h, _ := v[1].(string)
		if prev, dup := out[seq]; dup && prev != h {
			// An exact duplicate is a retried insert BigQuery kept; two
			// different hashes for one event are not.
			return nil, fmt.Errorf("audit session %s event %d: the table holds it twice, with hashes %s and %s: %w", s.ID, seq, prev, h, ErrDiverged)
		}
		out[seq] = h
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
