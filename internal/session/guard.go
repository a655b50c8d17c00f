package session

import (
	"encoding/json"
	"fmt"
)

// The document rule. Both stores keep a session as the same logical
// documents, whatever their physical layout (Firestore: one document each;
// SQLite: one row holding the session with its timeline, one row per page):
//
//   - the session document: the session without its timeline, plus the
//     fields Firestore indexes (conversation id, readers, principal, sort
//     key), which it stores a second time;
//   - one event document per timeline event;
//   - one page document per page of masked rows.
//
// Each must fit Firestore's 1 MiB document limit. The size of a logical
// document is the length of its JSON encoding (for a page: of its rows)
// plus its variable indexed fields; docOverhead is kept free for what
// Firestore adds and what is bounded (document names of bounded ids, field
// names, numbers, timestamps; Firestore's size rules count a string as its
// length plus one byte, a field name likewise, a document name as its path
// plus 16 bytes, and 32 bytes per document). CheckWrite and CheckPage apply
// the rule, and both stores call them before they write, so a session that
// one store accepts the other accepts too.
const (
	// MaxDocumentBytes is Firestore's limit on one document (1 MiB).
	MaxDocumentBytes = 1 << 20
	// docOverhead is kept free below MaxDocumentBytes for field names,
	// bounded fields and the document name.
	docOverhead = 16 << 10
	// MaxLogicalDocumentBytes is the largest size of a logical document
	// (session, event or page) as SessionDocumentBytes, EventDocumentBytes
	// and a page's len(Rows) count it.
	MaxLogicalDocumentBytes = MaxDocumentBytes - docOverhead
	// MaxPageBytes is the largest Rows a page may hold. Paginate with
	// PageBytes: MaxPageBytes builds pages that fit.
	MaxPageBytes = MaxLogicalDocumentBytes
)

// SessionDocumentBytes returns the size of s's session document under the
// document rule: its JSON without the timeline, plus the fields that
// Firestore stores a second time for its queries.
func SessionDocumentBytes(s *Session) (int, error) {
	c := *s
	c.Timeline = nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return 0, fmt.Errorf("encode session: %w", err)
	}
	n := len(doc) + 2*len(s.ID) + len(s.ConversationID) + len(s.Principal.Email) + len(s.Status)
	for _, r := range s.Readers {
		n += len(r) + 1
	}
	return n, nil
}

// EventDocumentBytes returns the size of e's event document under the
// document rule: its JSON plus the fields Firestore stores beside it.
func EventDocumentBytes(e Event) (int, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode event: %w", err)
	}
	return len(doc) + len(e.Type) + len(e.Hash), nil
}

// CheckWrite is the rule every Store applies before it writes session s
// (id) whose stored timeline was old (nil on Create): the timeline is
// append-only (CheckAppendOnly), every new event follows the event rules
// (CheckNewEvent: typed, canonical data, chained), and the session
// document and every new event fit the document rule. It fails with
// ErrTimelineRewrite, ErrInvalidEvent or ErrDocumentTooLarge; the message
// names the document and its size, never its content.
func CheckWrite(id string, old []Event, s *Session) error {
	if err := CheckAppendOnly(id, old, s.Timeline); err != nil {
		return err
	}
	n, err := SessionDocumentBytes(s)
	if err != nil {
		return fmt.Errorf("session %s: %w", id, err)
	}
	if n > MaxLogicalDocumentBytes {
		return fmt.Errorf("session %s: the session document is %d bytes, over the limit of %d: %w", id, n, MaxLogicalDocumentBytes, ErrDocumentTooLarge)
	}
	prev := GenesisHash
	if len(old) > 0 {
		prev = old[len(old)-1].Hash
	}
	for i := len(old); i < len(s.Timeline); i++ {
		e := s.Timeline[i]
		if err := CheckNewEvent(id, i, prev, e); err != nil {
			return err
		}
		prev = e.Hash
		n, err := EventDocumentBytes(e)
		if err != nil {
			return fmt.Errorf("session %s event %d: %w", id, e.Seq, err)
		}
		if n > MaxLogicalDocumentBytes {
			return fmt.Errorf("session %s event %d (%s) is %d bytes, over the limit of %d: %w", id, e.Seq, e.Type, n, MaxLogicalDocumentBytes, ErrDocumentTooLarge)
		}
	}
	return nil
}

// CheckPage is the document rule for page p of session id: its rows may
// hold at most MaxPageBytes.
func CheckPage(id string, p *Page) error {
	if len(p.Rows) > MaxPageBytes {
		return fmt.Errorf("session %s page %d holds %d bytes of rows, over the limit of %d: %w", id, p.Index, len(p.Rows), MaxPageBytes, ErrDocumentTooLarge)
	}
	return nil
}
