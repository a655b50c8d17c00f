package classify

import (
	"context"
	"sync"

	"github.com/querygate/querygate/internal/session"
)

// MemoryStore is a ProfileStore in memory, for one-shot tools (the
// classify command) that have no session store. Gateways use theirs.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]session.TableProfile
}

var _ session.ProfileStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string]session.TableProfile{}} }

// GetProfile implements session.ProfileStore.
func (s *MemoryStore) GetProfile(_ context.Context, table string) (*session.TableProfile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[table]
	if !ok {
		return nil, session.ErrNotFound
	}
	return &p, nil
}

// PutProfile implements session.ProfileStore.
func (s *MemoryStore) PutProfile(_ context.Context, p *session.TableProfile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[p.Table] = *p
	return nil
}
