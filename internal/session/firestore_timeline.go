package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"cloud.google.com/go/firestore"
)

// errTimelineBehind means the events a session document counts were not all
// readable yet. Firestore commits a session and its events atomically; the
// npm emulator does not, so a reader may see the document before its new
// events. Update retries it; Get and Wait read again.
var errTimelineBehind = errors.New("session events not yet readable")

// eventCacheSessions and eventCacheBytes bound what one Firestore value
// keeps: timelines of that many sessions, holding that many bytes of event
// data in all. A step touches one session for a few seconds, so small
// bounds keep the hits; past either the oldest entry goes. A timeline over
// the byte bound alone is not kept.
const (
	eventCacheSessions = 256
	eventCacheBytes    = 16 << 20
)

// eventCache keeps the timelines this process has read or written, so that
// Get, Update and Wait read only the events stored since. Stored events
// never change (CheckWrite refuses an Update that would), and a session
// document carries its event count and the hash of its last event, so a
// cached prefix is used only when its length and last hash match what the
// document says; otherwise it is dropped and the whole timeline is read.
type eventCache struct {
	mu    sync.Mutex
	m     map[string][]Event
	order []string
	bytes int
}

func eventBytes(timeline []Event) int {
	n := 0
	for _, e := range timeline {
		n += len(e.Data) + len(e.Actor) + len(e.Hash) + len(e.PrevHash) + len(e.Type) + 64
	}
	return n
}

// get returns a copy of the cached timeline of id (nil when none).
func (c *eventCache) get(id string) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return copyEvents(c.m[id])
}

// copyEvents copies timeline deeply, so a caller that edits an event's
// data in place cannot change what the cache holds.
func copyEvents(timeline []Event) []Event {
	if len(timeline) == 0 {
		return nil
	}
	out := make([]Event, len(timeline))
	for i, e := range timeline {
		e.Data = append(json.RawMessage(nil), e.Data...)
		out[i] = e
	}
	return out
}

// put stores a copy of timeline as id's.
func (c *eventCache) put(id string, timeline []Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
	n := eventBytes(timeline)
	if n > eventCacheBytes {
		return
	}
	if c.m == nil {
		c.m = map[string][]Event{}
	}
	for len(c.order) > 0 && (len(c.order) >= eventCacheSessions || c.bytes+n > eventCacheBytes) {
		c.dropLocked(c.order[0])
	}
	c.m[id] = copyEvents(timeline)
	c.order = append(c.order, id)
	c.bytes += n
}

func (c *eventCache) dropLocked(id string) {
	t, ok := c.m[id]
	if !ok {
		return
	}
	c.bytes -= eventBytes(t)
	delete(c.m, id)
	for i, o := range c.order {
		if o == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// drop forgets id.
func (c *eventCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
}

// timelineHead is what a session document says about its timeline.
type timelineHead struct {
	count    int64
	lastHash string // empty on documents written before the field existed
}

func readHead(ds *firestore.DocumentSnapshot) timelineHead {
	var h timelineHead
	if v, err := ds.DataAt("event_count"); err == nil {
		h.count, _ = v.(int64)
	}
	if v, err := ds.DataAt("last_event_hash"); err == nil {
		h.lastHash, _ = v.(string)
	}
	return h
}

// matches reports whether timeline is exactly the one head describes.
func (h timelineHead) matches(timeline []Event) bool {
	if int64(len(timeline)) != h.count {
		return false
	}
	if h.count == 0 {
		return true
	}
	return h.lastHash != "" && timeline[h.count-1].Hash == h.lastHash
}

// queryRunner runs an events query, inside a transaction or not.
type queryRunner func(q firestore.Query) ([]*firestore.DocumentSnapshot, error)

// timeline returns session id's events as head describes them, reading
// only those the cache lacks. A document without last_event_hash has its
// whole timeline read and is not cached.
func (f *Firestore) timeline(id string, ref *firestore.DocumentRef, head timelineHead, run queryRunner) ([]Event, error) {
	known := f.events.get(id)
	if head.lastHash == "" || int64(len(known)) > head.count || (len(known) > 0 && known[len(known)-1].Seq != int64(len(known))) {
		known = nil
	}
	if int64(len(known)) == head.count {
		if !head.matches(known) {
			known = nil
		} else {
			return known, nil
		}
	}
	q := ref.Collection(eventsCollection).OrderBy("seq", firestore.Asc)
	if len(known) > 0 {
		q = ref.Collection(eventsCollection).Where("seq", ">", int64(len(known))).OrderBy("seq", firestore.Asc)
	}
	docs, err := run(q)
	if err != nil {
		return nil, fmt.Errorf("get session events: %w", err)
	}
	out := known
	for _, d := range docs {
		raw, err := d.DataAt("doc")
		if err != nil {
			return nil, fmt.Errorf("decode event %s/%s: %w", id, d.Ref.ID, err)
		}
		b, _ := raw.([]byte)
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("decode event %s/%s: %w", id, d.Ref.ID, err)
		}
		if e.Seq != int64(len(out))+1 {
			// A gap: an event of this version is not readable yet.
			f.events.drop(id)
			return nil, fmt.Errorf("session %s event %d: %w", id, len(out)+1, errTimelineBehind)
		}
		out = append(out, e)
	}
	if head.lastHash == "" {
		// Written before the head fields: the stored events are the timeline.
		return out, nil
	}
	if int64(len(out)) > head.count {
		// Events of a newer version than the document read (the emulator
		// is not isolated): keep the ones the document counts.
		out = out[:head.count]
	}
	if !head.matches(out) {
		f.events.drop(id)
		return nil, fmt.Errorf("session %s: %w", id, errTimelineBehind)
	}
	f.events.put(id, out)
	return out, nil
}

// fromSnapshot builds the session of a listener's snapshot: the document
// it carries, and the events it counts, of which only those this process
// has not seen are read. Events never change once stored, so reading them
// outside a transaction still gives the snapshot's timeline; when they are
// not all readable yet the session is read with Get instead.
func (f *Firestore) fromSnapshot(ctx context.Context, ds *firestore.DocumentSnapshot) (*Session, error) {
	s, err := decodeSession(ds)
	if err != nil {
		return nil, err
	}
	s.Timeline, err = f.timeline(ds.Ref.ID, ds.Ref, readHead(ds), func(q firestore.Query) ([]*firestore.DocumentSnapshot, error) {
		return q.Documents(ctx).GetAll()
	})
	if errors.Is(err, errTimelineBehind) {
		return f.Get(ctx, ds.Ref.ID)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}
