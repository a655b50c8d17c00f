package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Counters keep the per-principal limit counters of package limits in the
// session store, so that every instance sees the same counts and they
// survive a restart. Keys are opaque strings chosen by the caller (they
// may hold any byte; stores hash them where their ids need it). Every
// method is safe for concurrent use, across processes sharing the store:
// no increment, charge or slot is ever lost to a concurrent writer. The
// conformance suite (package sessiontest) checks both stores.
type Counters interface {
	// IncrementCounter adds one to the counter key unless it already
	// holds limit (limit > 0), and returns the value after the call and
	// whether it was incremented. A missing counter is 0. The counter may
	// be deleted once expireAt passes, so keys should name their window.
	// Every method that writes takes the caller's clock (now), so that a
	// store that deletes expired rows itself uses the same time as the
	// caller's windows.
	IncrementCounter(ctx context.Context, key string, limit int64, expireAt, now time.Time) (value int64, ok bool, err error)
	// Counter returns the value of counter key, 0 when it does not exist.
	Counter(ctx context.Context, key string) (int64, error)
	// AddCharge records amount under key once per id: a second charge
	// with the same key and id changes nothing and returns added false.
	// Charges may be deleted once expireAt passes.
	AddCharge(ctx context.Context, key, id string, amount int64, expireAt, now time.Time) (added bool, err error)
	// SumCharges returns the sum of the charges under key.
	SumCharges(ctx context.Context, key string) (int64, error)
	// AcquireSlot makes holder one of the holders of the slot set key
	// until the given time, unless the set already has limit holders
	// whose time is after now. A holder that already holds a slot keeps
	// it (its time is extended). It returns whether holder holds a slot
	// and the live slots after the call.
	AcquireSlot(ctx context.Context, key, holder string, limit int64, until, now time.Time) (ok bool, live []Slot, err error)
	// ReleaseSlot removes holder from the slot set; releasing a slot that
	// is not held is not an error.
	ReleaseSlot(ctx context.Context, key, holder string) error
	// Slots returns the live slots of key (time after now), oldest first.
	Slots(ctx context.Context, key string, now time.Time) ([]Slot, error)
}

// Slot is one held slot of a slot set.
type Slot struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

var (
	_ Counters = (*SQLite)(nil)
	_ Counters = (*Firestore)(nil)
)

// ErrBadCounter means a counter call had an empty key or holder, or a
// negative amount.
var ErrBadCounter = errors.New("invalid counter call")

func checkCounterKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrBadCounter)
	}
	return nil
}

// maxSlots bounds a slot set, so that its document stays far below the
// document limit whatever limit a caller passes.
const maxSlots = 10_000

// acquire is the slot rule both stores apply to the decoded set.
func acquire(slots []Slot, holder string, limit int64, until, now time.Time) (bool, []Slot) {
	live := make([]Slot, 0, len(slots)+1)
	held := false
	for _, s := range slots {
		if !s.Until.After(now) {
			continue
		}
		if s.Holder == holder {
			held = true
			if until.After(s.Until) {
				s.Until = until
			}
		}
		live = append(live, s)
	}
	if held {
		return true, live
	}
	if (limit > 0 && int64(len(live)) >= limit) || len(live) >= maxSlots {
		return false, live
	}
	return true, append(live, Slot{Holder: holder, Until: until.UTC()})
}

func liveSlots(slots []Slot, now time.Time) []Slot {
	out := []Slot{}
	for _, s := range slots {
		if s.Until.After(now) {
			out = append(out, s)
		}
	}
	return out
}

func withoutHolder(slots []Slot, holder string) ([]Slot, bool) {
	out := make([]Slot, 0, len(slots))
	found := false
	for _, s := range slots {
		if s.Holder == holder {
			found = true
			continue
		}
		out = append(out, s)
	}
	return out, found
}

func slotsExpire(slots []Slot) time.Time {
	var at time.Time
	for _, s := range slots {
		if s.Until.After(at) {
			at = s.Until
		}
	}
	return at
}
