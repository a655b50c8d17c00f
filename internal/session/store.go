package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Sentinel errors of the Store port.
var (
	// ErrNotFound means no session (or page) with that id exists.
	ErrNotFound = errors.New("session not found")
	// ErrExists means a session with that id already exists.
	ErrExists = errors.New("session already exists")
	// ErrConflict means a concurrent writer won; the caller may retry.
	ErrConflict = errors.New("session changed concurrently")
	// ErrTimelineRewrite means an Update changed or removed an event that
	// was already stored; the timeline may only be appended to.
	ErrTimelineRewrite = errors.New("session timeline is append-only")
	// ErrDocumentTooLarge means a session document, an event or a page
	// would exceed the document limit (see CheckWrite). For pages the
	// caller should store fewer rows per page (see Paginate and
	// MaxPageBytes).
	ErrDocumentTooLarge = errors.New("session document too large")
	// ErrInvalidEvent means an event that a store or the audit writer was
	// asked to write does not follow the event rules: its data is not the
	// canonical encoding of its type's payload (an unknown key, a value of
	// the wrong type, another spelling), its type is unknown, or its
	// sequence number, chain link, hash or hash version is wrong.
	ErrInvalidEvent = errors.New("invalid session event")
)

// CheckAppendOnly is the timeline rule every Store's Update enforces: the
// events stored before the update (old) must all still be there, in order
// and unchanged (every field, data byte for byte: an edit that leaves the
// hash as it was is a change too); new events may only follow them.
func CheckAppendOnly(id string, old, timeline []Event) error {
	if len(timeline) < len(old) {
		return fmt.Errorf("update session %s: %w: %d events became %d", id, ErrTimelineRewrite, len(old), len(timeline))
	}
	for i := range old {
		if !sameEvent(timeline[i], old[i]) {
			return fmt.Errorf("update session %s: %w: event %d changed", id, ErrTimelineRewrite, old[i].Seq)
		}
	}
	return nil
}

// ListQuery selects sessions for List.
type ListQuery struct {
	// Reader restricts the result to sessions whose Readers contain this
	// email. Empty means every session (auditors).
	Reader         string
	ConversationID string
	PageSize       int
	PageToken      string
}

// ListResult is one page of List. Sessions carry no Timeline.
type ListResult struct {
	Sessions      []*Session
	NextPageToken string
}

// Store persists sessions. Implementations must pass the conformance suite in
// package sessiontest. Every method is safe for concurrent use.
type Store interface {
	// Create stores a new session. It fails with ErrExists when the id is
	// taken. Version is set to 1.
	Create(ctx context.Context, s *Session) error
	// Get returns the session with its full timeline, or ErrNotFound.
	Get(ctx context.Context, id string) (*Session, error)
	// Update reads the session, applies fn and writes it back atomically,
	// incrementing Version and setting UpdatedAt. If fn returns an error
	// nothing is written and that error is returned.
	Update(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
	// List returns sessions newest first.
	List(ctx context.Context, q ListQuery) (*ListResult, error)
	// PutPage stores a page of masked rows. Writing the same index again
	// replaces it, so a retried step is idempotent.
	PutPage(ctx context.Context, id string, p *Page) error
	// GetPage returns page index of the session's masked rows or ErrNotFound.
	GetPage(ctx context.Context, id string, index int) (*Page, error)
	// Wait blocks until the session's Version is greater than afterVersion,
	// then returns it; it returns the current session when ctx ends first.
	Wait(ctx context.Context, id string, afterVersion int64) (*Session, error)
	// Close releases resources.
	Close() error
	// ProfileStore keeps table profiles (package classify) where every
	// instance sees them.
	ProfileStore
}

func sameEvent(a, b Event) bool {
	return a.Seq == b.Seq && a.Type == b.Type && a.Time.Equal(b.Time) && a.Actor == b.Actor &&
		bytes.Equal(a.Data, b.Data) && a.PrevHash == b.PrevHash && a.Hash == b.Hash && a.HashVersion == b.HashVersion
}
