package session

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	// modernc.org/sqlite is pure Go: the session store builds without cgo,
	// so every package except the BigQuery emulator stays cgo-free and the
	// Cloud Run image does not need a C toolchain. mattn/go-sqlite3 (which
	// the emulator links) would tie the store to cgo.
	_ "modernc.org/sqlite"
)

// SQLite is the embedded Store used by the local gateway. Each session is
// one row holding its JSON document; pages of masked rows are rows of their
// own. A single process owns the database file. Writes follow the same
// document rule as Firestore (CheckWrite, CheckPage): the row is larger
// than any one Firestore document, but the session document, each event
// and each page inside it are held to Firestore's limit.
type SQLite struct {
	db  *sql.DB
	now func() time.Time

	waiters waiters
}

var _ Store = (*SQLite)(nil)

// pollInterval bounds how long Wait can miss a change written by another
// process sharing the file; changes made through this Store wake waiters at
// once.
const pollInterval = 500 * time.Millisecond

// OpenSQLite opens (creating if needed) the session database at path.
func OpenSQLite(path string) (*SQLite, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open session db: %w", err)
	}
	// One writer at a time avoids SQLITE_BUSY under concurrent Updates.
	db.SetMaxOpenConns(1)
	const schema = `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  conversation_id TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_created ON sessions(created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_conv ON sessions(conversation_id, created_at DESC);
CREATE TABLE IF NOT EXISTS session_readers (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  reader TEXT NOT NULL,
  PRIMARY KEY (session_id, reader)
);
CREATE INDEX IF NOT EXISTS readers_by_reader ON session_readers(reader);
CREATE TABLE IF NOT EXISTS pages (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (session_id, idx)
);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create session schema: %w", err)
	}
	return &SQLite{db: db, now: time.Now}, nil
}

// Close implements Store.
func (s *SQLite) Close() error { return s.db.Close() }

// Create implements Store.
func (s *SQLite) Create(ctx context.Context, sess *Session) error {
	if sess.ID == "" {
		return errors.New("create session: empty id")
	}
	sess.Version = 1
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = s.now().UTC()
	}
	sess.UpdatedAt = sess.CreatedAt
	if err := CheckWrite(sess.ID, nil, sess); err != nil {
		return err
	}
	doc, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE id = ?`, sess.ID).Scan(&n); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if n > 0 {
		return ErrExists
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions(id, created_at, conversation_id, version, doc) VALUES (?,?,?,?,?)`,
		sess.ID, sess.CreatedAt.UnixNano(), sess.ConversationID, sess.Version, string(doc)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if err := writeReaders(ctx, tx, sess); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	s.waiters.notify(sess.ID)
	return nil
}

func writeReaders(ctx context.Context, tx *sql.Tx, sess *Session) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM session_readers WHERE session_id = ?`, sess.ID); err != nil {
		return fmt.Errorf("write readers: %w", err)
	}
	for _, r := range sess.Readers {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO session_readers(session_id, reader) VALUES (?,?)`, sess.ID, r); err != nil {
			return fmt.Errorf("write readers: %w", err)
		}
	}
	return nil
}

// Get implements Store.
func (s *SQLite) Get(ctx context.Context, id string) (*Session, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM sessions WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal([]byte(doc), &sess); err != nil {
		return nil, fmt.Errorf("decode session %s: %w", id, err)
	}
	return &sess, nil
}

// Update implements Store.
func (s *SQLite) Update(ctx context.Context, id string, fn func(*Session) error) (*Session, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update session: %w", err)
	}
	defer tx.Rollback()
	var doc string
	err = tx.QueryRowContext(ctx, `SELECT doc FROM sessions WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("update session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal([]byte(doc), &sess); err != nil {
		return nil, fmt.Errorf("decode session %s: %w", id, err)
	}
	old := copyEvents(sess.Timeline) // deep: fn may edit an event's data in place
	if err := fn(&sess); err != nil {
		return nil, err
	}
	sess.ID = id
	sess.Version++
	sess.UpdatedAt = s.now().UTC()
	if err := CheckWrite(id, old, &sess); err != nil {
		return nil, err
	}
	out, err := json.Marshal(&sess)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET doc = ?, version = ?, conversation_id = ? WHERE id = ?`,
		string(out), sess.Version, sess.ConversationID, id); err != nil {
		return nil, fmt.Errorf("update session: %w", err)
	}
	if err := writeReaders(ctx, tx, &sess); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update session: %w", err)
	}
	s.waiters.notify(id)
	return &sess, nil
}

// List implements Store. The page token is an opaque cursor over
// (created_at, id).
func (s *SQLite) List(ctx context.Context, q ListQuery) (*ListResult, error) {
	size := q.PageSize
	if size <= 0 || size > 1000 {
		size = 50
	}
	curTime, curID, err := decodeCursor(q.PageToken)
	if err != nil {
		return nil, err
	}
	query := `SELECT s.id, s.created_at, s.doc FROM sessions s`
	var args []any
	where := ` WHERE 1=1`
	if q.Reader != "" {
		query += ` JOIN session_readers r ON r.session_id = s.id AND r.reader = ?`
		args = append(args, q.Reader)
	}
	if q.ConversationID != "" {
		where += ` AND s.conversation_id = ?`
		args = append(args, q.ConversationID)
	}
	if q.PageToken != "" {
		where += ` AND (s.created_at < ? OR (s.created_at = ? AND s.id < ?))`
		args = append(args, curTime, curTime, curID)
	}
	query += where + ` ORDER BY s.created_at DESC, s.id DESC LIMIT ?`
	args = append(args, size+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	res := &ListResult{}
	var lastTime int64
	var lastID string
	for rows.Next() {
		var id, doc string
		var created int64
		if err := rows.Scan(&id, &created, &doc); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		if len(res.Sessions) == size {
			res.NextPageToken = encodeCursor(lastTime, lastID)
			break
		}
		var sess Session
		if err := json.Unmarshal([]byte(doc), &sess); err != nil {
			return nil, fmt.Errorf("decode session %s: %w", id, err)
		}
		sess.Timeline = nil
		res.Sessions = append(res.Sessions, &sess)
		lastTime, lastID = created, id
	}
	return res, rows.Err()
}

// ErrBadPageToken means a List page token was not issued by this store.
var ErrBadPageToken = errors.New("invalid page_token")

func encodeCursor(t int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t, 10) + ":" + id))
}

func decodeCursor(tok string) (int64, string, error) {
	if tok == "" {
		return 0, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", ErrBadPageToken
	}
	for i := range b {
		if b[i] == ':' {
			t, err := strconv.ParseInt(string(b[:i]), 10, 64)
			if err != nil {
				return 0, "", ErrBadPageToken
			}
			return t, string(b[i+1:]), nil
		}
	}
	return 0, "", ErrBadPageToken
}

// PutPage implements Store.
func (s *SQLite) PutPage(ctx context.Context, id string, p *Page) error {
	if err := CheckPage(id, p); err != nil {
		return err
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode page: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO pages(session_id, idx, doc) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)
ON CONFLICT(session_id, idx) DO UPDATE SET doc = excluded.doc`, id, p.Index, string(doc), id)
	if err != nil {
		return fmt.Errorf("put page: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetPage implements Store.
func (s *SQLite) GetPage(ctx context.Context, id string, index int) (*Page, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM pages WHERE session_id = ? AND idx = ?`, id, index).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get page: %w", err)
	}
	var p Page
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	return &p, nil
}

// Wait implements Store.
func (s *SQLite) Wait(ctx context.Context, id string, afterVersion int64) (*Session, error) {
	for {
		ch := s.waiters.add(id)
		// Reads ignore ctx's deadline: when the wait is over, the current
		// state is the answer.
		sess, err := s.Get(context.WithoutCancel(ctx), id)
		if err != nil {
			s.waiters.drop(id, ch)
			return nil, err
		}
		if sess.Version > afterVersion || ctx.Err() != nil {
			s.waiters.drop(id, ch)
			return sess, nil
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.waiters.drop(id, ch)
			return s.Get(context.WithoutCancel(ctx), id)
		}
		t.Stop()
		s.waiters.drop(id, ch)
	}
}

// PurgeExpired deletes sessions (and their pages) whose ExpireAt is before
// now: local retention, as Firestore's TTL policy does in the cloud. It
// returns how many sessions it deleted.
func (s *SQLite) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	// json_extract reads only the expire_at field instead of decoding
	// every session document.
	rows, err := s.db.QueryContext(ctx, `SELECT id, json_extract(doc, '$.expire_at') FROM sessions`)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	var expired []string
	for rows.Next() {
		var id string
		var at sql.NullString
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("purge: %w", err)
		}
		t, err := time.Parse(time.RFC3339Nano, at.String)
		if at.Valid && err == nil && !t.IsZero() && t.Before(now) {
			expired = append(expired, id)
		}
	}
	rows.Close()
	for _, id := range expired {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
			return 0, fmt.Errorf("purge: %w", err)
		}
	}
	return len(expired), nil
}
