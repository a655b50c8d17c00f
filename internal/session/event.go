package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// GenesisHash is the PrevHash of the first event of a session.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AddEvent appends an event to s's timeline, assigning its sequence number
// and chaining its hash to the previous event. It is meant to be called
// inside Store.Update.
func (s *Session) AddEvent(typ EventType, at time.Time, actor string, data map[string]any) Event {
	prev := GenesisHash
	if n := len(s.Timeline); n > 0 {
		prev = s.Timeline[n-1].Hash
	}
	e := Event{
		Seq:      int64(len(s.Timeline)) + 1,
		Type:     typ,
		Time:     at.UTC(),
		Actor:    actor,
		Data:     data,
		PrevHash: prev,
	}
	e.Hash = EventHash(s.ID, e)
	s.Timeline = append(s.Timeline, e)
	return e
}

// EventHash computes the chained hash of e in session id: SHA-256 over the
// canonical JSON of (session id, seq, type, time, actor, data, prev hash).
// encoding/json sorts map keys, which makes the encoding canonical.
func EventHash(sessionID string, e Event) string {
	canon := struct {
		SessionID string         `json:"session_id"`
		Seq       int64          `json:"seq"`
		Type      EventType      `json:"type"`
		Time      string         `json:"time"`
		Actor     string         `json:"actor"`
		Data      map[string]any `json:"data"`
		PrevHash  string         `json:"prev_hash"`
	}{sessionID, e.Seq, e.Type, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Data, e.PrevHash}
	b, err := json.Marshal(canon)
	if err != nil {
		// Data holds only JSON-encodable values by construction.
		panic(fmt.Sprintf("session: event data not encodable: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// VerifyChain recomputes the hash chain of the timeline and returns the
// sequence number of the first broken event, or 0 when the chain holds.
func (s *Session) VerifyChain() int64 {
	prev := GenesisHash
	for i, e := range s.Timeline {
		if e.Seq != int64(i)+1 || e.PrevHash != prev || EventHash(s.ID, e) != e.Hash {
			return e.Seq
		}
		prev = e.Hash
	}
	return 0
}
