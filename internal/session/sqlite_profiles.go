package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// The profiles table lives beside the sessions in the same file. It is
// created on first use so that opening a store does not change.
const profilesSchema = `CREATE TABLE IF NOT EXISTS table_profiles (
  table_ref TEXT PRIMARY KEY,
  doc TEXT NOT NULL
)`

// GetProfile implements ProfileStore.
func (s *SQLite) GetProfile(ctx context.Context, table string) (*TableProfile, error) {
	if _, err := s.db.ExecContext(ctx, profilesSchema); err != nil {
		return nil, fmt.Errorf("get profile: %w", err)
	}
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM table_profiles WHERE table_ref = ?`, table).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get profile: %w", err)
	}
	var p TableProfile
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode profile of %s: %w", table, err)
	}
	return &p, nil
}

// PutProfile implements ProfileStore.
func (s *SQLite) PutProfile(ctx context.Context, p *TableProfile) error {
	if err := checkProfile(p); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if len(b) > MaxProfileBytes {
		return fmt.Errorf("put profile of %s: %w: %d bytes", p.Table, ErrDocumentTooLarge, len(b))
	}
	if _, err := s.db.ExecContext(ctx, profilesSchema); err != nil {
		return fmt.Errorf("put profile: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO table_profiles (table_ref, doc) VALUES (?, ?)
ON CONFLICT(table_ref) DO UPDATE SET doc = excluded.doc`, p.Table, string(b))
	if err != nil {
		return fmt.Errorf("put profile: %w", err)
	}
	return nil
}
