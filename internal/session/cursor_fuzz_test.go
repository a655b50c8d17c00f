package session

import (
	"errors"
	"testing"
)

// FuzzPageToken feeds arbitrary page tokens, which come from the caller of
// the sessions API, to both stores' token parsers. Neither may panic; a
// token SQLite accepts means the same cursor when it is issued again, and
// one Firestore accepts has the sort key's shape.
func FuzzPageToken(f *testing.F) {
	f.Add(encodeCursor(1764324000000000000, "s-1"))
	f.Add(encodeCursor(-1, ""))
	f.Add("01764324000000000000/s-1")
	f.Add("")
	f.Add("MTIzOg")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, tok string) {
		ts, id, err := decodeCursor(tok)
		switch {
		case err != nil:
			if !errors.Is(err, ErrBadPageToken) {
				t.Fatalf("decodeCursor(%q) error %v is not ErrBadPageToken", tok, err)
			}
		case tok != "":
			ts2, id2, err := decodeCursor(encodeCursor(ts, id))
			if err != nil || ts2 != ts || id2 != id {
				t.Fatalf("cursor (%d, %q) from %q does not survive a round trip: (%d, %q), %v", ts, id, tok, ts2, id2, err)
			}
		}
		if validSortKey(tok) && (len(tok) < 22 || tok[20] != '/') {
			t.Fatalf("validSortKey accepted %q", tok)
		}
	})
}
