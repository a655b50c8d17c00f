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
// One Writer serializes its writes, because each row extends its day's
// chain. Two Writers in different processes writing the same day would fork
// the chain (two rows with one chain_seq), which Verify reports as broken;
// deploy the record step with at most one instance (terraform: the record
// service's max instance count is 1), or give each instance its own table.
type Writer struct {
	client  *bigquery.Client
	dataset string
	table   string
	now     func() time.Time

	mu    sync.Mutex
	heads map[civil.Date]chainHead // day chain heads known to be current
	// put inserts one row; tests wrap it to crash mid-write.
	put func(ctx context.Context, r *Row) error
}

type chainHead struct {
	seq  int64
	hash string
}

// NewWriter returns a Writer for dataset.table in client's project.
func NewWriter(client *bigquery.Client, dataset, table string) *Writer {
	w := &Writer{client: client, dataset: dataset, table: table, now: time.Now, heads: map[civil.Date]chainHead{}}
	ins := client.Dataset(dataset).Table(table).Inserter()
	w.put = func(ctx context.Context, r *Row) error { return ins.Put(ctx, r) }
	return w
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

// WriteSession writes one row for every event of s that the table does not
// hold yet, in seq order, and returns nil only when all of them are stored.
// It is idempotent: a rerun after a crash or a partial failure writes only
// the missing events, so each event ends with exactly one row. It refuses a
// session whose own chain is broken, and fails with ErrDiverged when the
// table already holds an event of s with another hash.
//
// Results must not be released until WriteSession returned nil (fail
// closed). Pass a session as stored: append the events to the session store
// first, then WriteSession, then mark the session terminal. Written the
// other way round, a crash between the audit write and the store update
// makes the retry rebuild those events with new times, and WriteSession
// then fails with ErrDiverged for them, on every retry.
func (w *Writer) WriteSession(ctx context.Context, s *session.Session) error {
	if len(s.Timeline) == 0 {
		return nil
	}
	if n := s.VerifyChain(); n != 0 {
		return fmt.Errorf("audit session %s: its timeline chain is broken at event %d", s.ID, n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()

	var written []*Row
	have, err := w.storedHashes(ctx, s, false)
	if err != nil {
		return err
	}
	for _, e := range s.Timeline {
		if h, ok := have[e.Seq]; ok {
			if h != e.Hash {
				return fmt.Errorf("audit session %s event %d: table has hash %s, store has %s: %w", s.ID, e.Seq, h, e.Hash, ErrDiverged)
			}
			continue
		}
		r, err := eventRow(s, e)
		if err != nil {
			return fmt.Errorf("audit session %s: %w", s.ID, err)
		}
		head, err := w.head(ctx, r.ChainDay)
		if err != nil {
			return err
		}
		r.ChainSeq = head.seq + 1
		r.ChainPrev = head.hash
		r.RecordedAt = w.now().UTC().Truncate(time.Microsecond)
		r.RowHash = RowHash(r)
		if err := w.put(ctx, r); err != nil {
			// The row may or may not have landed: forget the head so the
			// next write reads it from the table.
			clear(w.heads)
			return fmt.Errorf("audit session %s event %d: insert: %w", s.ID, e.Seq, err)
		}
		w.heads[r.ChainDay] = chainHead{seq: r.ChainSeq, hash: r.RowHash}
		written = append(written, r)
	}
	// The log is a second, independent copy of each day chain's head: the
	// chains alone cannot show that the newest rows of a day were removed,
	// a logged head that the table no longer reaches can.
	for i, r := range written {
		if i == len(written)-1 || written[i+1].ChainDay != r.ChainDay {
			logging.FromContext(ctx).InfoContext(ctx, "audit chain head",
				"chain_day", r.ChainDay.String(), "chain_seq", r.ChainSeq, "row_hash", r.RowHash,
				"session_id", r.SessionID, "seq", r.Seq)
		}
	}
	return nil
}

// storedHashes returns seq -> hash of the rows the table holds for s. The
// event_time range lets BigQuery prune partitions; openEnded drops its upper
// bound (and filters on the clustering column instead), for CompareSession,
// which must also find events the store no longer has.
func (w *Writer) storedHashes(ctx context.Context, s *session.Session, openEnded bool) (map[int64]string, error) {
	lo, hi := s.Timeline[0].Time, s.Timeline[0].Time
	for _, e := range s.Timeline {
		lo, hi = minTime(lo, e.Time), maxTime(hi, e.Time)
	}
	sql := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s = @session_id AND %s >= @lo`,
		colSeq, colHash, w.fqtn(), colSessionID, colEventTime)
	params := []bigquery.QueryParameter{
		{Name: "session_id", Value: s.ID},
		{Name: "lo", Value: lo.UTC().Truncate(time.Microsecond)},
	}
	if openEnded {
		sql += fmt.Sprintf(" AND %s = @principal", colPrincipal)
		params = append(params, bigquery.QueryParameter{Name: "principal", Value: principalKey(s.Principal)})
	} else {
		sql += fmt.Sprintf(" AND %s <= @hi", colEventTime)
		params = append(params, bigquery.QueryParameter{Name: "hi", Value: hi.UTC().Truncate(time.Microsecond)})
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
		if _, dup := out[seq]; dup {
			return nil, fmt.Errorf("audit session %s event %d: the table holds it twice: %w", s.ID, seq, ErrChainBroken)
		}
		out[seq] = h
	}
}

// head returns the last row of day's chain.
func (w *Writer) head(ctx context.Context, day civil.Date) (chainHead, error) {
	if h, ok := w.heads[day]; ok {
		return h, nil
	}
	start := day.In(time.UTC)
	q := w.client.Query(fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s = @day AND %s >= @start AND %s < @end ORDER BY %s DESC LIMIT 1`,
		colChainSeq, colRowHash, w.fqtn(), colChainDay, colEventTime, colEventTime, colChainSeq))
	q.Parameters = []bigquery.QueryParameter{
		{Name: "day", Value: day},
		{Name: "start", Value: start},
		{Name: "end", Value: start.AddDate(0, 0, 1)},
	}
	it, err := q.Read(ctx)
	if err != nil {
		return chainHead{}, fmt.Errorf("audit: read day chain head %s: %w", day, err)
	}
	var v []bigquery.Value
	err = it.Next(&v)
	if errors.Is(err, iterator.Done) {
		h := chainHead{seq: 0, hash: session.GenesisHash}
		w.heads[day] = h
		return h, nil
	}
	if err != nil {
		return chainHead{}, fmt.Errorf("audit: read day chain head %s: %w", day, err)
	}
	seq, _ := v[0].(int64)
	hash, _ := v[1].(string)
	h := chainHead{seq: seq, hash: hash}
	w.heads[day] = h
	return h, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
