package secrets

import (
	"context"
	"errors"
	"sync"
	"time"
)

// version is one accessed secret version.
type version struct {
	// name is the resource name Secret Manager answered with: the version
	// number in place of an alias such as "latest", and the project
	// number in place of the project id.
	name    string
	payload []byte
}

// accessor reads one secret version by resource name.
type accessor interface {
	access(ctx context.Context, name string) (version, error)
}

// cachingAccessor wraps an accessor and reuses its answers for ttl: values,
// and definite misses (ErrUnavailable), so a flood of links naming unknown
// keys costs one lookup per key and ttl. Transient errors are not kept.
// At most maxEntries names are kept; past that the expired ones are
// dropped, and if none had expired, all are.
type cachingAccessor struct {
	next       accessor
	ttl        time.Duration
	now        func() time.Time
	maxEntries int

	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	v   version
	err error
	at  time.Time
}

func newCachingAccessor(next accessor, ttl time.Duration, now func() time.Time) *cachingAccessor {
	return &cachingAccessor{next: next, ttl: ttl, now: now, maxEntries: 1024, m: map[string]cacheEntry{}}
}

func (c *cachingAccessor) access(ctx context.Context, name string) (version, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, e.err
	}
	v, err := c.next.access(ctx, name)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		return version{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.maxEntries {
		for k, old := range c.m {
			if now.Sub(old.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.maxEntries {
			clear(c.m)
		}
	}
	c.m[name] = cacheEntry{v: v, err: err, at: now}
	return v, err
}
