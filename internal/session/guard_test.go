package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// TestDocumentSizes pins how the document rule counts: the JSON of the
// session without its timeline plus the fields Firestore stores twice, and
// the JSON of an event plus its type and hash.
func TestDocumentSizes(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "s1", ConversationID: "c", Principal: session.Principal{Email: "e@x"}, Status: session.StatusRunning, Readers: []string{"a@x"}}
	// 302 bytes of JSON, the id twice (4), conversation id (1), email (3),
	// status (7), each reader plus one (4).
	if n, err := session.SessionDocumentBytes(s); err != nil || n != 321 {
		t.Errorf("SessionDocumentBytes = %d, %v; want 321", n, err)
	}
	e := s.AddEvent(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "", session.CompletedData{Status: "succeeded"})
	if n, _ := session.SessionDocumentBytes(s); n != 321 {
		t.Errorf("the timeline counts towards the session document: %d bytes", n)
	}
	// 266 bytes of JSON, the type (17) and the hash (64).
	if n, err := session.EventDocumentBytes(e); err != nil || n != 347 {
		t.Errorf("EventDocumentBytes = %d, %v; want 347", n, err)
	}
}

func TestCheckWriteNamesTheDocumentNotItsContent(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "s1", Prompt: strings.Repeat("secret ", session.MaxLogicalDocumentBytes/7+1)}
	err := session.CheckWrite("s1", nil, s)
	if !errors.Is(err, session.ErrDocumentTooLarge) {
		t.Fatalf("CheckWrite err = %v, want ErrDocumentTooLarge", err)
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "session s1: the session document is") {
		t.Errorf("error = %q", err)
	}
	if err := session.CheckPage("s1", &session.Page{Index: 3, Rows: []byte(strings.Repeat("x", session.MaxPageBytes+1))}); !errors.Is(err, session.ErrDocumentTooLarge) ||
		err.Error() != "session s1 page 3 holds 1032193 bytes of rows, over the limit of 1032192: session document too large" {
		t.Errorf("CheckPage err = %v", err)
	}
}
