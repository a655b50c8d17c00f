package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// counterStore returns f's store as session.Counters; every Store must be
// one, since package limits keeps its counts there.
func counterStore(t *testing.T, f Factory) session.Counters {
	t.Helper()
	c, ok := f(t).(session.Counters)
	if !ok {
		t.Fatal("the store does not implement session.Counters")
	}
	return c
}

// concurrency is how many writers the concurrent cases start at once.
const concurrency = 16

// counters checks the Counters half of a store: capped increments, charges
// counted once per id, slot sets with a limit, expiry and release, and
// that none of them loses a write when many writers race.
func counters(t *testing.T, f Factory) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 5, 0, time.UTC)
	expire := now.Add(time.Hour)
	// Keys hold principals' emails and separators that ids refuse.
	const key = "rpm/alice@example.com/ü \x00/29000000"

	t.Run("IncrementToTheLimit", func(t *testing.T) {
		c := counterStore(t, f)
		if v, err := c.Counter(ctx, key); err != nil || v != 0 {
			t.Fatalf("Counter of a new key = %d, %v; want 0", v, err)
		}
		for i := int64(1); i <= 3; i++ {
			v, ok, err := c.IncrementCounter(ctx, key, 3, expire, now)
			if err != nil || !ok || v != i {
				t.Fatalf("increment %d = %d, %v, %v; want %d, true", i, v, ok, err, i)
			}
		}
		v, ok, err := c.IncrementCounter(ctx, key, 3, expire, now)
		if err != nil || ok || v != 3 {
			t.Errorf("increment past the limit = %d, %v, %v; want 3, false", v, ok, err)
		}
		if v, err := c.Counter(ctx, key); err != nil || v != 3 {
			t.Errorf("Counter = %d, %v; want 3", v, err)
		}
		if v, ok, err := c.IncrementCounter(ctx, key+"x", 3, expire, now); err != nil || !ok || v != 1 {
			t.Errorf("another key = %d, %v, %v; want 1, true", v, ok, err)
		}
		if _, _, err := c.IncrementCounter(ctx, "", 3, expire, now); !errors.Is(err, session.ErrBadCounter) {
			t.Errorf("empty key err = %v, want ErrBadCounter", err)
		}
	})

	t.Run("ConcurrentIncrementsLoseNothing", func(t *testing.T) {
		c := counterStore(t, f)
		oks := race(t, func(int) (bool, error) {
			_, ok, err := c.IncrementCounter(ctx, key, 10, expire, now)
			return ok, err
		})
		if oks != 10 {
			t.Errorf("%d of %d capped increments succeeded, want exactly 10", oks, concurrency)
		}
		race(t, func(int) (bool, error) {
			_, ok, err := c.IncrementCounter(ctx, "uncapped", 0, expire, now)
			return ok, err
		})
		if v, err := c.Counter(ctx, "uncapped"); err != nil || v != concurrency {
			t.Errorf("after %d concurrent increments the counter is %d, %v", concurrency, v, err)
		}
	})

	t.Run("ChargesCountOncePerID", func(t *testing.T) {
		c := counterStore(t, f)
		const day = "bpd/alice@example.com/2026-11-28"
		if sum, err := c.SumCharges(ctx, day); err != nil || sum != 0 {
			t.Fatalf("SumCharges of a new key = %d, %v", sum, err)
		}
		if added, err := c.AddCharge(ctx, day, "s1", 1000, expire, now); err != nil || !added {
			t.Fatalf("AddCharge = %v, %v", added, err)
		}
		if added, err := c.AddCharge(ctx, day, "s1", 1000, expire, now); err != nil || added {
			t.Errorf("repeated AddCharge = %v, %v; want false", added, err)
		}
		if _, err := c.AddCharge(ctx, day+"/other", "s1", 7, expire, now); err != nil {
			t.Fatal(err)
		}
		race(t, func(i int) (bool, error) {
			return c.AddCharge(ctx, day, fmt.Sprintf("c%d", i), int64(i+1), expire, now)
		})
		// 1000 + 1 + 2 + ... + 16
		if sum, err := c.SumCharges(ctx, day); err != nil || sum != 1000+concurrency*(concurrency+1)/2 {
			t.Errorf("SumCharges = %d, %v; want %d", sum, err, 1000+concurrency*(concurrency+1)/2)
		}
		if _, err := c.AddCharge(ctx, day, "neg", -1, expire, now); !errors.Is(err, session.ErrBadCounter) {
			t.Errorf("negative charge err = %v, want ErrBadCounter", err)
		}
	})

	t.Run("SlotsLimitExpireAndRelease", func(t *testing.T) {
		c := counterStore(t, f)
		const set = "cs/alice@example.com"
		long, short := now.Add(time.Hour), now.Add(time.Minute)
		for _, h := range []string{"a", "b"} {
			if ok, _, err := c.AcquireSlot(ctx, set, h, 3, long, now); err != nil || !ok {
				t.Fatalf("acquire %s = %v, %v", h, ok, err)
			}
		}
		if ok, _, err := c.AcquireSlot(ctx, set, "c", 3, short, now); err != nil || !ok {
			t.Fatalf("acquire c = %v, %v", ok, err)
		}
		ok, live, err := c.AcquireSlot(ctx, set, "d", 3, long, now)
		if err != nil || ok {
			t.Fatalf("acquire past the limit = %v, %v; want false", ok, err)
		}
		want := []session.Slot{{Holder: "a", Until: long}, {Holder: "b", Until: long}, {Holder: "c", Until: short}}
		if diff := cmp.Diff(want, live); diff != "" {
			t.Errorf("live slots (-want, +got):\n%s", diff)
		}
		// A holder that has a slot keeps it, at the limit too.
		if ok, _, err := c.AcquireSlot(ctx, set, "a", 3, long, now); err != nil || !ok {
			t.Errorf("re-acquire a = %v, %v; want true", ok, err)
		}
		if err := c.ReleaseSlot(ctx, set, "b"); err != nil {
			t.Fatal(err)
		}
		if err := c.ReleaseSlot(ctx, set, "b"); err != nil {
			t.Errorf("second release: %v", err)
		}
		if ok, _, err := c.AcquireSlot(ctx, set, "d", 3, long, now); err != nil || !ok {
			t.Errorf("acquire after a release = %v, %v; want true", ok, err)
		}
		// c's slot lapses after its time: a session that never released
		// it does not hold it for ever.
		later := short.Add(time.Second)
		got, err := c.Slots(ctx, set, later)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]session.Slot{{Holder: "a", Until: long}, {Holder: "d", Until: long}}, got); diff != "" {
			t.Errorf("slots after c lapsed (-want, +got):\n%s", diff)
		}
		if ok, _, err := c.AcquireSlot(ctx, set, "e", 3, long, later); err != nil || !ok {
			t.Errorf("acquire in the lapsed slot = %v, %v; want true", ok, err)
		}
	})

	t.Run("ConcurrentSlotsNeverExceedTheLimit", func(t *testing.T) {
		c := counterStore(t, f)
		const set = "cs/race"
		oks := race(t, func(i int) (bool, error) {
			ok, _, err := c.AcquireSlot(ctx, set, fmt.Sprintf("h%d", i), 5, expire, now)
			return ok, err
		})
		if oks != 5 {
			t.Errorf("%d of %d concurrent acquires succeeded, want exactly 5", oks, concurrency)
		}
		got, err := c.Slots(ctx, set, now)
		if err != nil || len(got) != 5 {
			t.Errorf("Slots holds %d, %v; want 5", len(got), err)
		}
		race(t, func(i int) (bool, error) {
			return true, c.ReleaseSlot(ctx, set, fmt.Sprintf("h%d", i))
		})
		if got, err := c.Slots(ctx, set, now); err != nil || len(got) != 0 {
			t.Errorf("after every holder released, Slots holds %v, %v", got, err)
		}
	})
}

// race runs fn in concurrency goroutines released together and returns how
// many reported true; any error fails the test.
func race(t *testing.T, fn func(i int) (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	n := 0
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			if ok {
				n++
			}
		}()
	}
	close(start)
	wg.Wait()
	return n
}
