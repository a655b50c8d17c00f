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

// Hash versions: how EventHash computes an event's hash. Event.HashVersion
// records the version each event was written with, so events written
// before a change keep verifying. A stored event never changes version.
const (
	// HashVersionLegacy (0, no hash_version key) is an event written
	// before typed payloads: Data was a free JSON map whose numbers were
	// float64, and the hash covers its json.Marshal re-encoding.
	HashVersionLegacy = 0
	// HashVersionTyped is an event whose Data is the canonical encoding of
	// its type's payload (EncodePayload), hashed as stored. Every event
	// written now has it.
	HashVersionTyped = 2
)

// AddEvent appends an event carrying payload p to s's timeline: its type is
// p's, its data p's canonical encoding, its sequence number the next one,
// and its hash chained to the previous event. It is meant to be called
// inside Store.Update.
func (s *Session) AddEvent(at time.Time, actor string, p Payload) Event {
	prev := GenesisHash
	if n := len(s.Timeline); n > 0 {
		prev = s.Timeline[n-1].Hash
	}
	e := Event{
		Seq:         int64(len(s.Timeline)) + 1,
		Type:        p.EventType(),
		Time:        at.UTC(),
		Actor:       actor,
		Data:        EncodePayload(p),
		PrevHash:    prev,
		HashVersion: HashVersionTyped,
	}
	e.Hash = EventHash(s.ID, e)
	s.Timeline = append(s.Timeline, e)
	return e
}

// EventHash computes the chained hash of e in session id, by e's
// HashVersion:
//
//   - HashVersionTyped: SHA-256 over the JSON of (hash version, session
//     id, seq, type, time, actor, data, prev hash), with data exactly the
//     stored canonical bytes.
//   - HashVersionLegacy: SHA-256 over the JSON of (session id, seq, type,
//     time, actor, data, prev hash), with data decoded into a map and
//     re-encoded by encoding/json (sorted keys, float64 numbers), which is
//     how those events were hashed when they were written.
//
// It returns "" (which matches no stored hash) for an unknown version or
// data that is not JSON.
func EventHash(sessionID string, e Event) string {
	var b []byte
	var err error
	t := e.Time.UTC().Format(time.RFC3339Nano)
	switch e.HashVersion {
	case HashVersionTyped:
		b, err = json.Marshal(struct {
			HashVersion int             `json:"hash_version"`
			SessionID   string          `json:"session_id"`
			Seq         int64           `json:"seq"`
			Type        EventType       `json:"type"`
			Time        string          `json:"time"`
			Actor       string          `json:"actor"`
			Data        json.RawMessage `json:"data"`
			PrevHash    string          `json:"prev_hash"`
		}{e.HashVersion, sessionID, e.Seq, e.Type, t, e.Actor, e.Data, e.PrevHash})
	case HashVersionLegacy:
		var data map[string]any
		if len(e.Data) > 0 {
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return ""
			}
		}
		b, err = json.Marshal(struct {
			SessionID string         `json:"session_id"`
			Seq       int64          `json:"seq"`
			Type      EventType      `json:"type"`
			Time      string         `json:"time"`
			Actor     string         `json:"actor"`
			Data      map[string]any `json:"data"`
			PrevHash  string         `json:"prev_hash"`
		}{sessionID, e.Seq, e.Type, t, e.Actor, data, e.PrevHash})
	default:
		return ""
	}
	if err != nil {
		return ""
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

// CheckNewEvent is the rule for an event about to be written as event i
// (from 0) of session id, after prev (the previous event's hash, or
// GenesisHash): the current hash version, the next seq, the chain link,
// its hash, and data that is exactly the canonical encoding of its type's
// payload. It fails with ErrInvalidEvent.
func CheckNewEvent(id string, i int, prev string, e Event) error {
	switch {
	case e.HashVersion != HashVersionTyped:
		return fmt.Errorf("session %s event %d: %w: hash version %d, want %d", id, e.Seq, ErrInvalidEvent, e.HashVersion, HashVersionTyped)
	case e.Seq != int64(i)+1:
		return fmt.Errorf("session %s event %d: %w: it is event %d of the timeline", id, e.Seq, ErrInvalidEvent, i+1)
	case e.PrevHash != prev:
		return fmt.Errorf("session %s event %d: %w: prev_hash is not the previous event's hash", id, e.Seq, ErrInvalidEvent)
	}
	if _, err := DecodePayload(e.Type, e.Data); err != nil {
		return fmt.Errorf("session %s event %d: %w", id, e.Seq, err)
	}
	if EventHash(id, e) != e.Hash {
		return fmt.Errorf("session %s event %d: %w: its hash does not match its content", id, e.Seq, ErrInvalidEvent)
	}
	return nil
}
