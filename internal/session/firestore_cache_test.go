package session

import (
	"fmt"
	"strings"
	"testing"
)

// TestEventCacheBounds checks both bounds of the event cache: the oldest
// session goes past eventCacheSessions or eventCacheBytes, a timeline over
// the byte bound is not kept, and what get returns is a copy.
func TestEventCacheBounds(t *testing.T) {
	ev := func(data string) []Event { return []Event{{Seq: 1, Hash: "h", Data: []byte(`"` + data + `"`)}} }
	var c eventCache
	for i := 0; i < eventCacheSessions+1; i++ {
		c.put(fmt.Sprint("s", i), ev("x"))
	}
	if len(c.m) != eventCacheSessions || c.get("s0") != nil || c.get(fmt.Sprint("s", eventCacheSessions)) == nil {
		t.Errorf("after %d puts: %d kept, s0 kept %v; want %d, s0 gone", eventCacheSessions+1, len(c.m), c.get("s0") != nil, eventCacheSessions)
	}

	var b eventCache
	big := strings.Repeat("y", eventCacheBytes/2)
	b.put("a", ev(big))
	b.put("b", ev(big))
	if b.get("a") != nil || b.get("b") == nil || b.bytes > eventCacheBytes {
		t.Errorf("two half-bound timelines: a kept %v, b kept %v, %d bytes; want a gone, b kept, at most %d", b.get("a") != nil, b.get("b") != nil, b.bytes, eventCacheBytes)
	}
	b.put("huge", ev(strings.Repeat("z", eventCacheBytes)))
	if b.get("huge") != nil {
		t.Error("a timeline over the byte bound was kept")
	}
	b.put("b", ev("small"))
	if want := eventBytes(ev("small")); b.bytes != want {
		t.Errorf("after replacing b: %d bytes accounted, want %d", b.bytes, want)
	}

	got := b.get("b")
	got[0].Data[1] = 'X'
	if again := b.get("b"); string(again[0].Data) != `"small"` {
		t.Errorf("editing what get returned changed the cache: %s", again[0].Data)
	}
}
