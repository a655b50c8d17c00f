package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
)

// The counters of package limits, in two collections:
//
//	limit_counters/{sha256(key)[:32]}               key, value, slots (JSON),
//	                                                version, expire_at
//	limit_counters/{id}/versions/{version}          one marker per write
//	limit_charges/{sha256(key, charge id)[:32]}     key, amount, expire_at
//
// Ids are hashes because keys hold principals' emails and other bytes
// Firestore ids refuse; the key is stored and checked on read. A counter or
// slot set is changed the way Firestore.Update changes a session: in a
// transaction whose first write creates the version marker of the next
// version, so two writers that read the same version cannot both commit,
// on Firestore and on the npm emulator (whose transactions do not
// isolate) alike. A charge is a document of its own, created once: a
// repeated charge finds it, and concurrent charges never touch the same
// document. Every document carries expire_at, and the TTL policies in
// terraform/firestore.tf (limit_counters, limit_charges, and versions,
// which the session markers already use) delete old windows.
const (
	countersCollection = "limit_counters"
	chargesCollection  = "limit_charges"

	// counterAttempts bounds the retries of one counter write under
	// contention; each round lets at least one writer through.
	counterAttempts = 64
)

func counterID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

type counterDoc struct {
	Key      string    `firestore:"key"`
	Value    int64     `firestore:"value"`
	Slots    []byte    `firestore:"slots"`
	Version  int64     `firestore:"version"`
	ExpireAt time.Time `firestore:"expire_at"`
}

func (f *Firestore) counterRef(key string) *firestore.DocumentRef {
	return f.client.Collection(countersCollection).Doc(counterID(key))
}

// readCounter decodes the counter document of key; a missing document (or
// one of another key, a hash collision) is the zero state.
func readCounter(ds *firestore.DocumentSnapshot, err error, key string) (*counterDoc, error) {
	if grpcCode(err) == codes.NotFound {
		return &counterDoc{Key: key}, nil
	}
	if err != nil {
		return nil, err
	}
	var d counterDoc
	if err := ds.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode counter: %w", err)
	}
	if d.Key != key {
		return nil, fmt.Errorf("counter document %s holds another key", ds.Ref.ID)
	}
	return &d, nil
}

func (d *counterDoc) slots() ([]Slot, error) {
	if len(d.Slots) == 0 {
		return nil, nil
	}
	var out []Slot
	if err := json.Unmarshal(d.Slots, &out); err != nil {
		return nil, fmt.Errorf("decode slots: %w", err)
	}
	return out, nil
}

// updateCounter applies fn to the counter document of key and writes it
// back when fn asks to, retrying when another writer committed the same
// version first.
func (f *Firestore) updateCounter(ctx context.Context, key string, fn func(d *counterDoc) (bool, error)) error {
	ref := f.counterRef(key)
	for attempt := 0; attempt < counterAttempts; attempt++ {
		err := f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			ds, err := tx.Get(ref)
			d, err := readCounter(ds, err, key)
			if err != nil {
				return err
			}
			write, err := fn(d)
			if err != nil || !write {
				return err
			}
			d.Version++
			// The marker goes first; see the comment at the top.
			marker := map[string]any{"version": d.Version, "expire_at": d.ExpireAt}
			if err := tx.Create(ref.Collection(versionsCollection).Doc(versionID(d.Version)), marker); err != nil {
				return err
			}
			return tx.Set(ref, d)
		})
		if grpcCode(err) == codes.AlreadyExists {
			backoff := time.Duration(1+rand.IntN(5*(attempt+1))) * time.Millisecond
			if cerr := sleepCtx(ctx, backoff); cerr != nil {
				return cerr
			}
			continue
		}
		return err
	}
	return ErrConflict
}

// IncrementCounter implements Counters.
func (f *Firestore) IncrementCounter(ctx context.Context, key string, limit int64, expireAt, _ time.Time) (int64, bool, error) {
	if err := checkCounterKey(key); err != nil {
		return 0, false, err
	}
	var value int64
	var ok bool
	err := f.updateCounter(ctx, key, func(d *counterDoc) (bool, error) {
		value, ok = d.Value, false
		if limit > 0 && d.Value >= limit {
			return false, nil
		}
		d.Value++
		value, ok = d.Value, true
		if expireAt.After(d.ExpireAt) {
			d.ExpireAt = expireAt.UTC()
		}
		return true, nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("increment counter: %w", err)
	}
	return value, ok, nil
}

// Counter implements Counters.
func (f *Firestore) Counter(ctx context.Context, key string) (int64, error) {
	ds, err := f.counterRef(key).Get(ctx)
	d, err := readCounter(ds, err, key)
	if err != nil {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	return d.Value, nil
}

// AddCharge implements Counters.
func (f *Firestore) AddCharge(ctx context.Context, key, id string, amount int64, expireAt, _ time.Time) (bool, error) {
	if err := checkCounterKey(key); err != nil {
		return false, err
	}
	if id == "" || amount < 0 {
		return false, fmt.Errorf("%w: a charge needs an id and an amount of at least 0", ErrBadCounter)
	}
	ref := f.client.Collection(chargesCollection).Doc(counterID(key, id))
	_, err := ref.Create(ctx, map[string]any{"key": key, "charge_id": id, "amount": amount, "expire_at": expireAt.UTC()})
	if grpcCode(err) == codes.AlreadyExists {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add charge: %w", err)
	}
	return true, nil
}

// SumCharges implements Counters. It reads every charge of the key (one
// per session of the principal that day); the key's single-field index,
// which Firestore keeps by default, serves the query.
func (f *Firestore) SumCharges(ctx context.Context, key string) (int64, error) {
	it := f.client.Collection(chargesCollection).Where("key", "==", key).Select("key", "amount").Documents(ctx)
	defer it.Stop()
	var sum int64
	for {
		ds, err := it.Next()
		if err == iterator.Done {
			return sum, nil
		}
		if err != nil {
			return 0, fmt.Errorf("sum charges: %w", err)
		}
		var c struct {
			Key    string `firestore:"key"`
			Amount int64  `firestore:"amount"`
		}
		if err := ds.DataTo(&c); err != nil {
			return 0, fmt.Errorf("sum charges: decode %s: %w", ds.Ref.ID, err)
		}
		if c.Key == key {
			sum += c.Amount
		}
	}
}

// AcquireSlot implements Counters.
func (f *Firestore) AcquireSlot(ctx context.Context, key, holder string, limit int64, until, now time.Time) (bool, []Slot, error) {
	if err := checkCounterKey(key); err != nil {
		return false, nil, err
	}
	if holder == "" {
		return false, nil, fmt.Errorf("%w: empty holder", ErrBadCounter)
	}
	var ok bool
	var live []Slot
	err := f.updateCounter(ctx, key, func(d *counterDoc) (bool, error) {
		slots, err := d.slots()
		if err != nil {
			return false, err
		}
		ok, live = acquire(slots, holder, limit, until, now)
		return true, d.setSlots(live)
	})
	if err != nil {
		return false, nil, fmt.Errorf("acquire slot: %w", err)
	}
	return ok, live, nil
}

func (d *counterDoc) setSlots(slots []Slot) error {
	b, err := json.Marshal(slots)
	if err != nil {
		return err
	}
	d.Slots = b
	if at := slotsExpire(slots); at.After(d.ExpireAt) {
		d.ExpireAt = at
	}
	return nil
}

// ReleaseSlot implements Counters.
func (f *Firestore) ReleaseSlot(ctx context.Context, key, holder string) error {
	if err := checkCounterKey(key); err != nil {
		return err
	}
	err := f.updateCounter(ctx, key, func(d *counterDoc) (bool, error) {
		slots, err := d.slots()
		if err != nil {
			return false, err
		}
		rest, found := withoutHolder(slots, holder)
		if !found {
			return false, nil
		}
		return true, d.setSlots(rest)
	})
	if err != nil {
		return fmt.Errorf("release slot: %w", err)
	}
	return nil
}

// Slots implements Counters.
func (f *Firestore) Slots(ctx context.Context, key string, now time.Time) ([]Slot, error) {
	ds, err := f.counterRef(key).Get(ctx)
	d, err := readCounter(ds, err, key)
	if err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	slots, err := d.slots()
	if err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	return liveSlots(slots, now), nil
}
