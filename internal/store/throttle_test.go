package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestParallelAttemptsCountedOnce is AUTH-7: a burst of parallel attempts
// on one key lets exactly FreeFailures through and counts each of them;
// the check and the increment are one atomic step on both backends.
func TestParallelAttemptsCountedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		key := store.FailureKey("user", "acme", "owner@acme.example")
		const n = 60
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed, limited := 0, 0
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := f.Attempt(ctx, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					allowed++
				case bulwark.ErrorCode(err) == bulwark.ERateLimited:
					limited++
				default:
					t.Errorf("attempt: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		got, err := f.Failures(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if allowed != store.FreeFailures || limited != n-store.FreeFailures || got != store.FreeFailures {
			t.Fatalf("%d parallel attempts: %d allowed, %d limited, counter %d; want %d allowed and counted", n, allowed, limited, got, store.FreeFailures)
		}
	})
}

// TestAttemptSchedule is AUTH-7: after FreeFailures the delay doubles from
// 1 s up to 15 minutes, a throttled attempt is not counted, and at
// LockoutFailures the key stays locked however long one waits (short of
// the thirty days after which a lockout lapses); a success clears it.
func TestAttemptSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		key := store.FailureKey("user", "acme", "ghost@acme.example")
		delay := func(n int) time.Duration {
			if n < store.FreeFailures {
				return 0
			}
			return min(time.Second<<min(n-store.FreeFailures, 20), store.MaxThrottleDelay)
		}
		for i := 1; i < store.LockoutFailures; i++ {
			if err := f.Attempt(ctx, key); err != nil {
				t.Fatalf("attempt %d: %v", i, err)
			}
			if d := delay(i); d > 0 {
				if d > time.Microsecond {
					f.Clock.Advance(d - time.Microsecond)
					wantCode(t, f.Attempt(ctx, key), bulwark.ERateLimited)
				}
				f.Clock.Advance(time.Microsecond)
			}
			if got, _ := f.Failures(ctx, key); got != i {
				t.Fatalf("after attempt %d the counter is %d", i, got)
			}
		}
		if err := f.Attempt(ctx, key); err != nil {
			t.Fatalf("attempt %d: %v", store.LockoutFailures, err)
		}
		f.Clock.Advance(29 * 24 * time.Hour)
		wantCode(t, f.Attempt(ctx, key), bulwark.ERateLimited)
		if got, _ := f.Failures(ctx, key); got != store.LockoutFailures {
			t.Fatalf("locked counter %d, want %d", got, store.LockoutFailures)
		}
		if err := f.ClearFailures(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := f.Attempt(ctx, key); err != nil {
			t.Fatalf("after clearing: %v", err)
		}
		if got, _ := f.Failures(ctx, key); got != 1 {
			t.Fatalf("counter %d after clearing and one attempt", got)
		}
	})
}
