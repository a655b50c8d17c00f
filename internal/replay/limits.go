package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// Limits caps what a session stores of its masked result, and how long a
// session is kept.
//
// The record (or deidentify) step applies them when it stores pages:
//
//	pages, stored, truncated := limits.Paginate(maskedRows, session.MaxPageBytes)
//	for i := range pages { store.PutPage(ctx, id, &pages[i]) }
//	result.StoredRows, result.Pages, result.Truncated = stored, len(pages), truncated
//	sess.ExpireAt = limits.ExpireAt(sess.CreatedAt)
//
// and serves the agent exactly the bytes of those pages' Rows, so a replay
// of an untruncated session is byte for byte what the agent received.
type Limits struct {
	// MaxRows caps the rows stored per session; 0 means no cap.
	MaxRows int `env:"QUERYGATE_MAX_STORED_ROWS, default=10000"`
	// MaxBytes caps the bytes of rows stored per session; 0 means no cap.
	MaxBytes int64 `env:"QUERYGATE_MAX_STORED_BYTES, default=10485760"`
	// RetentionDays is how long sessions, their pages and events are kept
	// in the session store (Firestore TTL on expire_at); 0 keeps them.
	RetentionDays int `env:"QUERYGATE_RETENTION_DAYS, default=90"`
}

// Validate reports every invalid field.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxRows < 0 {
		errs = append(errs, fmt.Errorf("max stored rows %d is negative", l.MaxRows))
	}
	if l.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max stored bytes %d is negative", l.MaxBytes))
	}
	if l.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("retention days %d is negative", l.RetentionDays))
	}
	return errors.Join(errs...)
}

// ExpireAt is the session's expire_at for a session created at created, or
// the zero time when sessions are kept forever.
func (l Limits) ExpireAt(created time.Time) time.Time {
	if l.RetentionDays <= 0 {
		return time.Time{}
	}
	return created.UTC().AddDate(0, 0, l.RetentionDays)
}

// Paginate packs masked rows (each one JSON value, usually an object) into
// pages whose Rows are JSON arrays of at most maxPageBytes bytes, stopping at
// MaxRows rows or MaxBytes bytes in all. It returns the pages, the number of
// rows they hold and whether rows were left out. A single row larger than
// maxPageBytes is never stored and makes the result truncated.
func (l Limits) Paginate(rows []json.RawMessage, maxPageBytes int) (pages []session.Page, stored int64, truncated bool) {
	var cur []byte
	count := 0
	var total int64
	flush := func() {
		if count == 0 {
			return
		}
		cur = append(cur, ']')
		pages = append(pages, session.Page{Index: len(pages), Rows: json.RawMessage(cur), Count: count})
		cur, count = nil, 0
	}
	for i, r := range rows {
		if l.MaxRows > 0 && i >= l.MaxRows {
			truncated = true
			break
		}
		if len(r)+2 > maxPageBytes || (l.MaxBytes > 0 && total+int64(len(r)) > l.MaxBytes) {
			truncated = true
			break
		}
		if count > 0 && len(cur)+1+len(r)+1 > maxPageBytes {
			flush()
		}
		if count == 0 {
			cur = append(cur, '[')
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, r...)
		count++
		stored++
		total += int64(len(r))
	}
	flush()
	return pages, stored, truncated
}
