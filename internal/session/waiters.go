package session

import "sync"

// waiters wakes the in-process callers of Store.Wait when a session
// changes. Both stores use it; changes made by other processes are caught
// by each store's own polling or listener.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// add registers a waiter for id; the channel closes on the next notify.
func (w *waiters) add(id string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch
}

// notify wakes every waiter of id.
func (w *waiters) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[id] {
		close(ch)
	}
	delete(w.m, id)
}

// drop unregisters ch (a waiter that stopped waiting).
func (w *waiters) drop(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.m[id]
	for i, c := range ws {
		if c == ch {
			w.m[id] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(w.m[id]) == 0 {
		delete(w.m, id)
	}
}
