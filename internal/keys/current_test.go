package keys_test

import (
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/keys/keystest"
)

// TestRingCurrent: Current gives a tenant's cached keys without versions
// and without the keeper, only while the cache entry lives: never for a
// tenant not cached, after its TTL, or after Forget (a tenant's deletion).
func TestRingCurrent(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, kms := keystest.Ring(t, "production", clock)
	if _, ok := r.Current("tenant-a"); ok {
		t.Fatal("keys of a tenant never unwrapped")
	}
	k, _, _ := tenantKeys(t, r, "tenant-a")
	kms.Down.Store(true) // Current never asks the keeper
	calls := kms.Calls.Load()
	got, ok := r.Current("tenant-a")
	if !ok || got != k {
		t.Fatal("cached keys not returned")
	}
	mu.Lock()
	now = now.Add(11 * time.Minute) // past the default TTL
	mu.Unlock()
	if _, ok := r.Current("tenant-a"); ok {
		t.Fatal("expired keys returned")
	}
	if kms.Calls.Load() != calls {
		t.Fatal("Current called the keeper")
	}
	kms.Down.Store(false)
	tenantKeys(t, r, "tenant-b")
	r.Forget("tenant-b")
	if _, ok := r.Current("tenant-b"); ok {
		t.Fatal("forgotten keys returned")
	}
}
