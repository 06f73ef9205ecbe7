package bench

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndPercentiles(t *testing.T) {
	var calls atomic.Int64
	op := func(ctx context.Context, w int) error {
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		if n%10 == 0 {
			return errors.New("every tenth call fails")
		}
		return nil
	}
	r := Run(context.Background(), "t", Options{Concurrency: 4, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond}, op)
	if r.Requests == 0 || r.Errors == 0 || r.Errors > r.Requests/5 {
		t.Fatalf("requests %d errors %d", r.Requests, r.Errors)
	}
	// Warm-up calls are not counted.
	if r.Requests >= calls.Load() {
		t.Fatalf("measured %d of %d calls: warm-up was counted", r.Requests, calls.Load())
	}
	if !(r.P50ms >= 1 && r.P50ms <= r.P95ms && r.P95ms <= r.P99ms && r.P99ms <= r.MaxMs) {
		t.Fatalf("percentiles out of order: %+v", r)
	}
	if r.FirstError == "" || r.PerSecond <= 0 {
		t.Fatalf("result = %+v", r)
	}
}

func TestOwnershipDealsEveryRecordOnce(t *testing.T) {
	s := &Scenarios{Concurrency: 3, Tenants: []Tenant{{Records: []string{"a", "b"}}, {Records: []string{"c", "d", "e"}}}}
	seen := map[string]int{}
	for w, rs := range s.ownership() {
		if w < 0 || w >= 3 {
			t.Fatalf("worker %d", w)
		}
		for _, r := range rs {
			seen[r.id]++
		}
	}
	if len(seen) != 5 {
		t.Fatalf("dealt %v", seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s dealt %d times", id, n)
		}
	}
}

// TestWarmReadsAsEveryTenant: Warm sends one read with each tenant's
// token, and stops with an error when the server refuses one.
func TestWarmReadsAsEveryTenant(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seen[tok]++
		mu.Unlock()
		if tok == "refused" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	c, err := NewClient(srv.URL, ca, 4)
	if err != nil {
		t.Fatal(err)
	}
	s := &Scenarios{C: c}
	for i := range 50 {
		s.Tenants = append(s.Tenants, Tenant{Slug: fmt.Sprint("t", i), Token: fmt.Sprint("tok", i)})
	}
	if err := s.Warm(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 50 {
		t.Fatalf("%d tenants read, want 50", len(seen))
	}
	for tok, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", tok, n)
		}
	}
	s.Tenants = append(s.Tenants, Tenant{Slug: "bad", Token: "refused"})
	if err := s.Warm(context.Background(), 4); err == nil {
		t.Fatal("a refused read went unreported")
	}
}
