package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	// Pure Go SQLite: the workflow package must build without cgo.
	_ "modernc.org/sqlite"
)

// SQLite is the embedded StateStore of the local gateway: one row per
// execution holding its JSON record, rewritten after every step.
type SQLite struct {
	db *sql.DB
}

var _ StateStore = (*SQLite)(nil)

// NewSQLiteStateStore opens (creating if needed) the execution database at
// path. synchronous(FULL) makes each step's state durable before the next
// step runs.
func NewSQLiteStateStore(path string) (*SQLite, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open workflow db: %w", err)
	}
	db.SetMaxOpenConns(1)
	const schema = `
CREATE TABLE IF NOT EXISTS workflow_executions (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflow_executions_state ON workflow_executions(state);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create workflow schema: %w", err)
	}
	return &SQLite{db: db}, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// SaveExecution upserts rec as one row.
func (s *SQLite) SaveExecution(ctx context.Context, rec *ExecutionRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode execution: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO workflow_executions(name, state, updated_at, doc) VALUES (?,?,?,?)
ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, doc = excluded.doc`,
		rec.Name, string(rec.State), rec.UpdatedAt.UnixNano(), string(b))
	if err != nil {
		return fmt.Errorf("save execution %s: %w", rec.Name, err)
	}
	return nil
}

// LoadExecution returns the named record or ErrNotFound.
func (s *SQLite) LoadExecution(ctx context.Context, name string) (*ExecutionRecord, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM workflow_executions WHERE name = ?`, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("execution %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load execution %s: %w", name, err)
	}
	return decodeRecord([]byte(doc))
}

// ActiveExecutions lists the names of ACTIVE executions, sorted.
func (s *SQLite) ActiveExecutions(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM workflow_executions WHERE state = ? ORDER BY name`, string(StateActive))
	if err != nil {
		return nil, fmt.Errorf("list active executions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list active executions: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
