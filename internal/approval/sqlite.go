package approval

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	// Pure Go SQLite, the same driver as the session store: no cgo.
	_ "modernc.org/sqlite"
)

// SQLite is the embedded StateStore used by the local gateway.
type SQLite struct {
	db *sql.DB
}

var _ StateStore = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the approval state database at path.
func OpenSQLite(path string) (*SQLite, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open approval db: %w", err)
	}
	db.SetMaxOpenConns(1)
	const schema = `
CREATE TABLE IF NOT EXISTS approval_requests (
  session_id TEXT PRIMARY KEY,
  callback_url TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS approval_notified (
  session_id TEXT NOT NULL REFERENCES approval_requests(session_id),
  approver TEXT NOT NULL,
  PRIMARY KEY (session_id, approver)
);
CREATE TABLE IF NOT EXISTS approval_marks (
  session_id TEXT NOT NULL REFERENCES approval_requests(session_id),
  mark TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (session_id, mark)
);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create approval schema: %w", err)
	}
	return &SQLite{db: db}, nil
}

// Close implements StateStore.
func (s *SQLite) Close() error { return s.db.Close() }

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Begin implements StateStore.
func (s *SQLite) Begin(ctx context.Context, r Request) (Request, error) {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO approval_requests (session_id, callback_url, expires_at, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT(session_id) DO UPDATE SET callback_url = excluded.callback_url`,
		r.SessionID, r.CallbackURL, toNanos(r.ExpiresAt), toNanos(r.CreatedAt))
	if err != nil {
		return Request{}, fmt.Errorf("begin approval request: %w", err)
	}
	return s.Get(ctx, r.SessionID)
}

// Get implements StateStore.
func (s *SQLite) Get(ctx context.Context, id string) (Request, error) {
	r := Request{SessionID: id}
	var exp, created, delivered int64
	err := s.db.QueryRowContext(ctx,
		`SELECT callback_url, expires_at, created_at, delivered_at FROM approval_requests WHERE session_id = ?`, id).
		Scan(&r.CallbackURL, &exp, &created, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("get approval request: %w", err)
	}
	r.ExpiresAt, r.CreatedAt, r.DeliveredAt = fromNanos(exp), fromNanos(created), fromNanos(delivered)
	rows, err := s.db.QueryContext(ctx, `SELECT approver FROM approval_notified WHERE session_id = ? ORDER BY approver`, id)
	if err != nil {
		return Request{}, fmt.Errorf("get notified approvers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return Request{}, err
		}
		r.Notified = append(r.Notified, a)
	}
	return r, rows.Err()
}

// MarkNotified implements StateStore.
func (s *SQLite) MarkNotified(ctx context.Context, id, approver string) error {
	res, err := s.db.ExecContext(ctx, `
INSERT INTO approval_notified (session_id, approver)
SELECT session_id, ? FROM approval_requests WHERE session_id = ?
ON CONFLICT DO NOTHING`, approver, id)
	if err != nil {
		return fmt.Errorf("mark notified: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// MarkDelivered implements StateStore.
func (s *SQLite) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE approval_requests SET delivered_at = ? WHERE session_id = ? AND delivered_at = 0`, toNanos(at), id)
	if err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Open implements StateStore.
func (s *SQLite) Open(ctx context.Context, now time.Time, limit int) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT session_id FROM approval_requests WHERE delivered_at = 0 AND expires_at > ?
ORDER BY expires_at, session_id LIMIT ?`, toNanos(now), max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("list open approval requests: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list open approval requests: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list open approval requests: %w", err)
	}
	out := make([]Request, 0, len(ids))
	for _, id := range ids {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Claim implements StateStore: the primary key makes the insert the
// compare-and-set.
func (s *SQLite) Claim(ctx context.Context, id, mark string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
INSERT INTO approval_marks (session_id, mark, at)
SELECT session_id, ?, ? FROM approval_requests WHERE session_id = ?
ON CONFLICT DO NOTHING`, mark, toNanos(at), id)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", mark, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	if _, err := s.Get(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}
