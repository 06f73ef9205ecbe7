package bench

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
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

func TestMergeAddsRoundsUp(t *testing.T) {
	a := Result{Scenario: "create", Concurrency: 2, Requests: 100, Errors: 10, Seconds: 1, ServerCPUus: 50, ClientCPUus: 20}
	a.setLatencies([]time.Duration{4 * time.Millisecond, time.Millisecond})
	b := Result{Scenario: "create", Concurrency: 2, Requests: 300, Seconds: 2, ServerCPUus: 90, ClientCPUus: 40, FirstError: "boom"}
	b.setLatencies([]time.Duration{2 * time.Millisecond, 3 * time.Millisecond})
	m := Merge([]Result{a, b})
	if m.Scenario != "create" || m.Requests != 400 || m.Errors != 10 || m.Seconds != 3 || m.FirstError != "boom" {
		t.Fatalf("merged = %+v", m)
	}
	if m.PerSecond != 130 { // (400-10)/3
		t.Fatalf("per second = %v, want 130", m.PerSecond)
	}
	if m.ServerCPUus != 80 || m.ClientCPUus != 35 { // weighted by requests
		t.Fatalf("cpu = %v / %v, want 80 / 35", m.ServerCPUus, m.ClientCPUus)
	}
	if m.P50ms != 2 || m.MaxMs != 4 {
		t.Fatalf("percentiles over both rounds: p50 %v max %v", m.P50ms, m.MaxMs)
	}
	// A round without a CPU reading leaves the merged CPU unknown.
	b.ServerCPUus = 0
	if m := Merge([]Result{a, b}); m.ServerCPUus != 0 {
		t.Fatalf("server cpu = %v with a round unmeasured, want 0", m.ServerCPUus)
	}
}

func TestRatiosTakeTheMedianRound(t *testing.T) {
	round := func(create, bare float64) []Result {
		return []Result{{Scenario: "create", PerSecond: create}, {Scenario: "bare", PerSecond: bare}}
	}
	rounds := [][]Result{round(60, 100), round(90, 100), round(70, 100), {{Scenario: "create", PerSecond: 10}}}
	r, ok := Ratios(rounds, "create", "bare")
	if !ok || r.Rounds != 3 || r.Median != 70 || r.Min != 60 || r.Max != 90 {
		t.Fatalf("ratio = %+v, %v", r, ok)
	}
	if r.Q1 != 60 || r.Q3 != 90 {
		t.Fatalf("quartiles of three = %v, %v, want 60, 90", r.Q1, r.Q3)
	}
	r, _ = Ratios(rounds[:2], "create", "bare")
	if r.Median != 75 || r.Q1 != 60 || r.Q3 != 90 {
		t.Fatalf("median and quartiles of two = %+v, want 75, 60, 90", r)
	}
	r, _ = Ratios(rounds[:1], "create", "bare")
	if r.Median != 60 || r.Q1 != 60 || r.Q3 != 60 {
		t.Fatalf("one round = %+v, want 60 throughout", r)
	}
	var six [][]Result
	for _, c := range []float64{50, 80, 60, 70, 90, 40} {
		six = append(six, round(c, 100))
	}
	r, _ = Ratios(six, "create", "bare")
	if r.Median != 65 || r.Q1 != 50 || r.Q3 != 80 {
		t.Fatalf("six rounds = %+v, want median 65, quartiles 50 and 80", r)
	}
	if _, ok := Ratios(rounds, "create", "get"); ok {
		t.Fatal("a ratio with a scenario that never ran")
	}
}

// The ranks and confidences are those of the exact binomial sums
// (Python's math.comb), and the bounds are the rounds of those ranks.
func TestRatiosBoundTheMedian(t *testing.T) {
	for _, c := range []struct {
		n, k int
		conf float64
	}{{6, 0, 0.96875}, {12, 2, 0.96142578125}, {20, 5, 0.9586105346679688}, {60, 21, 0.972659866131922}, {1000, 468, 0.9537088026395019}} {
		k, conf, ok := medianRank(c.n)
		if !ok || k != c.k || math.Abs(conf-c.conf) > 1e-9 {
			t.Errorf("medianRank(%d) = %d, %v, %v; want %d, %v", c.n, k, conf, ok, c.k, c.conf)
		}
	}
	if _, _, ok := medianRank(5); ok {
		t.Error("five rounds gave a 95 % bound; none exists")
	}
	var rounds [][]Result
	for i := range 12 {
		// 12 rounds of 50, 51, ..., 61 in a shuffled order.
		rounds = append(rounds, []Result{{Scenario: "create", PerSecond: float64(50 + (i*5)%12)}, {Scenario: "bare", PerSecond: 100}})
	}
	r, _ := Ratios(rounds, "create", "bare")
	if r.CILow != 52 || r.CIHigh != 59 || math.Abs(r.Confidence-96.142578125) > 1e-9 {
		t.Fatalf("twelve rounds: bound %v-%v at %v %%, want 52-59 at 96.14 %%", r.CILow, r.CIHigh, r.Confidence)
	}
	for floor, want := range map[float64]string{52: "met", 51: "met", 53: "undecided", 59: "undecided", 59.5: "missed"} {
		if got := r.Verdict(floor); got != want {
			t.Errorf("bound 52-59 against %v: %q, want %q", floor, got, want)
		}
	}
	r, _ = Ratios(rounds[:5], "create", "bare")
	if r.CILow != 0 || r.CIHigh != 0 || r.Confidence != 0 || r.Verdict(50) != "" {
		t.Fatalf("five rounds gave a bound or a verdict: %+v", r)
	}
}
