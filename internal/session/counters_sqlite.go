package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The counter tables live beside the sessions in the same file, created on
// first use so that opening a store does not change. limit_counters holds
// counters (value) and slot sets (slots, JSON); limit_charges one row per
// charge. Rows whose expire_at (Unix nanoseconds) has passed are deleted
// as new ones are written: local retention, as Firestore's TTL does in
// the cloud. One connection serializes every transaction (OpenSQLite), so
// a read-modify-write inside one cannot lose an update.
const countersSchema = `CREATE TABLE IF NOT EXISTS limit_counters (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL DEFAULT 0,
  slots TEXT NOT NULL DEFAULT '[]',
  expire_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS limit_counters_expire ON limit_counters(expire_at);
CREATE TABLE IF NOT EXISTS limit_charges (
  key TEXT NOT NULL,
  id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  expire_at INTEGER NOT NULL,
  PRIMARY KEY (key, id)
);
CREATE INDEX IF NOT EXISTS limit_charges_expire ON limit_charges(expire_at);`

// counterTx runs fn in a transaction after making sure the tables exist
// and dropping expired rows.
func (s *SQLite) counterTx(ctx context.Context, what string, now time.Time, fn func(tx *sql.Tx) error) error {
	if _, err := s.db.ExecContext(ctx, countersSchema); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	if !now.IsZero() {
		for _, q := range []string{`DELETE FROM limit_counters WHERE expire_at < ?`, `DELETE FROM limit_charges WHERE expire_at < ?`} {
			if _, err := tx.ExecContext(ctx, q, now.UnixNano()); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// IncrementCounter implements Counters.
func (s *SQLite) IncrementCounter(ctx context.Context, key string, limit int64, expireAt, now time.Time) (int64, bool, error) {
	if err := checkCounterKey(key); err != nil {
		return 0, false, err
	}
	var value int64
	var ok bool
	err := s.counterTx(ctx, "increment counter", now, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM limit_counters WHERE key = ?`, key).Scan(&value)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("increment counter: %w", err)
		}
		if limit > 0 && value >= limit {
			return nil
		}
		value, ok = value+1, true
		_, err = tx.ExecContext(ctx, `INSERT INTO limit_counters (key, value, expire_at) VALUES (?, ?, ?)
ON CONFLICT(key) DO UPDATE SET value = excluded.value, expire_at = MAX(expire_at, excluded.expire_at)`, key, value, expireAt.UnixNano())
		if err != nil {
			return fmt.Errorf("increment counter: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return value, ok, nil
}

// Counter implements Counters.
func (s *SQLite) Counter(ctx context.Context, key string) (int64, error) {
	if _, err := s.db.ExecContext(ctx, countersSchema); err != nil {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	var value int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM limit_counters WHERE key = ?`, key).Scan(&value)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	return value, nil
}

// AddCharge implements Counters.
func (s *SQLite) AddCharge(ctx context.Context, key, id string, amount int64, expireAt, now time.Time) (bool, error) {
	if err := checkCounterKey(key); err != nil {
		return false, err
	}
	if id == "" || amount < 0 {
		return false, fmt.Errorf("%w: a charge needs an id and an amount of at least 0", ErrBadCounter)
	}
	var added bool
	err := s.counterTx(ctx, "add charge", now, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO limit_charges (key, id, amount, expire_at) VALUES (?, ?, ?, ?)`,
			key, id, amount, expireAt.UnixNano())
		if err != nil {
			return fmt.Errorf("add charge: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("add charge: %w", err)
		}
		added = n == 1
		return nil
	})
	return added, err
}

// SumCharges implements Counters.
func (s *SQLite) SumCharges(ctx context.Context, key string) (int64, error) {
	if _, err := s.db.ExecContext(ctx, countersSchema); err != nil {
		return 0, fmt.Errorf("sum charges: %w", err)
	}
	var sum int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM limit_charges WHERE key = ?`, key).Scan(&sum); err != nil {
		return 0, fmt.Errorf("sum charges: %w", err)
	}
	return sum, nil
}

func readSlots(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, key string) ([]Slot, error) {
	var doc string
	err := q.QueryRowContext(ctx, `SELECT slots FROM limit_counters WHERE key = ?`, key).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var slots []Slot
	if err := json.Unmarshal([]byte(doc), &slots); err != nil {
		return nil, fmt.Errorf("decode slots: %w", err)
	}
	return slots, nil
}

func writeSlots(ctx context.Context, tx *sql.Tx, key string, slots []Slot) error {
	if len(slots) == 0 {
		_, err := tx.ExecContext(ctx, `DELETE FROM limit_counters WHERE key = ?`, key)
		return err
	}
	b, err := json.Marshal(slots)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO limit_counters (key, slots, expire_at) VALUES (?, ?, ?)
ON CONFLICT(key) DO UPDATE SET slots = excluded.slots, expire_at = excluded.expire_at`, key, string(b), slotsExpire(slots).UnixNano())
	return err
}

// AcquireSlot implements Counters.
func (s *SQLite) AcquireSlot(ctx context.Context, key, holder string, limit int64, until, now time.Time) (bool, []Slot, error) {
	if err := checkCounterKey(key); err != nil {
		return false, nil, err
	}
	if holder == "" {
		return false, nil, fmt.Errorf("%w: empty holder", ErrBadCounter)
	}
	var ok bool
	var live []Slot
	err := s.counterTx(ctx, "acquire slot", now, func(tx *sql.Tx) error {
		slots, err := readSlots(ctx, tx, key)
		if err != nil {
			return fmt.Errorf("acquire slot: %w", err)
		}
		ok, live = acquire(slots, holder, limit, until, now)
		if err := writeSlots(ctx, tx, key, live); err != nil {
			return fmt.Errorf("acquire slot: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return ok, live, nil
}

// ReleaseSlot implements Counters.
func (s *SQLite) ReleaseSlot(ctx context.Context, key, holder string) error {
	if err := checkCounterKey(key); err != nil {
		return err
	}
	return s.counterTx(ctx, "release slot", time.Time{}, func(tx *sql.Tx) error {
		slots, err := readSlots(ctx, tx, key)
		if err != nil {
			return fmt.Errorf("release slot: %w", err)
		}
		rest, found := withoutHolder(slots, holder)
		if !found {
			return nil
		}
		if err := writeSlots(ctx, tx, key, rest); err != nil {
			return fmt.Errorf("release slot: %w", err)
		}
		return nil
	})
}

// Slots implements Counters.
func (s *SQLite) Slots(ctx context.Context, key string, now time.Time) ([]Slot, error) {
	if _, err := s.db.ExecContext(ctx, countersSchema); err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	slots, err := readSlots(ctx, s.db, key)
	if err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	return liveSlots(slots, now), nil
}
