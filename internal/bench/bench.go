// Package bench is the load generator behind `bulwark bench`: it drives a
// running Bulwark over HTTPS with keep-alive connections and reports
// throughput and latency percentiles. It knows only the HTTP API; setting
// up tenants and data is the caller's job.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op makes one request as worker w and returns an error for any answer that
// is not the expected one.
type Op func(ctx context.Context, w int) error

// Options shape a run.
type Options struct {
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	// Progress, if set, gets a line a second while the run goes on.
	Progress io.Writer
	// ServerCPU, if set, returns the CPU time the measured server process
	// has used so far; the result then has its CPU per request, which on
	// a shared machine varies far less than throughput does.
	ServerCPU func() (time.Duration, error)
	// ClientCPU, likewise, for the load generator itself: on one machine
	// the two share the cores, and together they bound the throughput.
	ClientCPU func() (time.Duration, error)
}

// Result is what one scenario measured.
type Result struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50ms       float64 `json:"p50_ms"`
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// ServerCPUus is the server's CPU time per request in microseconds
	// (user + system), or 0 when not known.
	ServerCPUus float64 `json:"server_cpu_us_per_request,omitempty"`
	ClientCPUus float64 `json:"client_cpu_us_per_request,omitempty"`
	// FirstError is one error seen, to tell what went wrong.
	FirstError string `json:"first_error,omitempty"`

	samples []time.Duration // the measured latencies, sorted (for Merge)
}

// Run runs op from opt.Concurrency workers: first for opt.Warmup without
// measuring, then for opt.Duration, and returns the measurements.
func Run(ctx context.Context, name string, opt Options, op Op) Result {
	var (
		measuring atomic.Bool
		requests  atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
		mu        sync.Mutex
		samples   []time.Duration
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < opt.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				start := time.Now()
				err := op(ctx, w)
				took := time.Since(start)
				if !measuring.Load() || ctx.Err() != nil {
					continue
				}
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		}()
	}
	sleep(ctx, opt.Warmup)
	cpu0, cpuErr := cpuOf(opt.ServerCPU)
	ccpu0, ccpuErr := cpuOf(opt.ClientCPU)
	measuring.Store(true)
	start := time.Now()
	deadline := start.Add(opt.Duration)
	tick := time.NewTicker(time.Second)
	for now := time.Now(); now.Before(deadline) && ctx.Err() == nil; now = time.Now() {
		select {
		case <-tick.C:
			if opt.Progress != nil {
				el := time.Since(start)
				fmt.Fprintf(opt.Progress, "  %-14s %4.0fs/%.0fs  %8.0f req/s  %d errors\n",
					name, el.Seconds(), opt.Duration.Seconds(), float64(requests.Load())/el.Seconds(), errs.Load())
			}
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
		}
	}
	tick.Stop()
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, cpuErr1 := cpuOf(opt.ServerCPU)
	ccpu1, ccpuErr1 := cpuOf(opt.ClientCPU)
	cancel()
	wg.Wait()

	r := Result{Scenario: name, Concurrency: opt.Concurrency, Requests: requests.Load(), Errors: errs.Load(), Seconds: elapsed.Seconds()}
	r.PerSecond = float64(r.Requests-r.Errors) / elapsed.Seconds()
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	if cpuErr == nil && cpuErr1 == nil && r.Requests > 0 {
		r.ServerCPUus = float64((cpu1 - cpu0).Microseconds()) / float64(r.Requests)
	}
	if ccpuErr == nil && ccpuErr1 == nil && r.Requests > 0 {
		r.ClientCPUus = float64((ccpu1 - ccpu0).Microseconds()) / float64(r.Requests)
	}
	r.setLatencies(samples)
	return r
}

// setLatencies keeps samples and sets the percentiles from them.
func (r *Result) setLatencies(samples []time.Duration) {
	slices.Sort(samples)
	r.samples = samples
	r.P50ms, r.P95ms, r.P99ms = pct(samples, 0.50), pct(samples, 0.95), pct(samples, 0.99)
	r.MaxMs = 0
	if len(samples) > 0 {
		r.MaxMs = ms(samples[len(samples)-1])
	}
}

// Merge combines the results of one scenario's rounds into one, as if
// they had been a single run of their summed duration: requests, errors
// and time add up, the percentiles are over every round's latencies, and
// the CPU per request is weighted by each round's requests (0 if a round
// has none measured).
func Merge(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	m := Result{Scenario: rs[0].Scenario, Concurrency: rs[0].Concurrency}
	var samples []time.Duration
	var server, client float64
	serverOK, clientOK := true, true
	for _, r := range rs {
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Seconds += r.Seconds
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		samples = append(samples, r.samples...)
		server += r.ServerCPUus * float64(r.Requests)
		client += r.ClientCPUus * float64(r.Requests)
		serverOK = serverOK && r.ServerCPUus > 0
		clientOK = clientOK && r.ClientCPUus > 0
	}
	if m.Seconds > 0 {
		m.PerSecond = float64(m.Requests-m.Errors) / m.Seconds
	}
	if m.Requests > 0 && serverOK {
		m.ServerCPUus = server / float64(m.Requests)
	}
	if m.Requests > 0 && clientOK {
		m.ClientCPUus = client / float64(m.Requests)
	}
	m.setLatencies(samples)
	return m
}

// Ratio compares two scenarios run side by side in rounds: the throughput
// of A over B in each round where both ran, as a percentage. Rounds
// alternate the scenarios every few seconds, so that a slow drift of the
// machine's speed (other virtual machines on the host, CPU frequency)
// falls on both alike; the median of the rounds is the figure, the
// quartiles (the medians of the rounds below and above it) show the
// spread of the middle half, the minimum and maximum the whole spread.
//
// CILow and CIHigh bound the median with a confidence of at least 95 %
// (Confidence, exactly), from the order of the rounds alone: the median
// lies below the k-th smallest of n rounds with the probability that
// fewer than k of n fair coin tosses come up heads, whatever the rounds'
// distribution. This treats the rounds as independent draws of one
// machine's behaviour: it says how well the rounds pin down that day's
// median, not how another machine or day would measure. With fewer than
// six rounds no such bound exists and the three are zero.
type Ratio struct {
	A          string    `json:"a"`
	B          string    `json:"b"`
	Rounds     int       `json:"rounds"`
	Median     float64   `json:"median_percent"`
	CILow      float64   `json:"median_ci_low_percent,omitempty"`
	CIHigh     float64   `json:"median_ci_high_percent,omitempty"`
	Confidence float64   `json:"median_ci_confidence_percent,omitempty"`
	Q1         float64   `json:"lower_quartile_percent"`
	Q3         float64   `json:"upper_quartile_percent"`
	Min        float64   `json:"min_percent"`
	Max        float64   `json:"max_percent"`
	PerRound   []float64 `json:"per_round_percent"`
}

// Ratios computes A/B over rounds (each a list of results by scenario);
// ok is false if no round holds both.
func Ratios(rounds [][]Result, a, b string) (r Ratio, ok bool) {
	r.A, r.B = a, b
	for _, round := range rounds {
		ra, okA := find(round, a)
		rb, okB := find(round, b)
		if okA && okB && rb.PerSecond > 0 {
			r.PerRound = append(r.PerRound, 100*ra.PerSecond/rb.PerSecond)
		}
	}
	if len(r.PerRound) == 0 {
		return r, false
	}
	sorted := slices.Sorted(slices.Values(r.PerRound))
	n := len(sorted)
	r.Rounds, r.Min, r.Max, r.Median = n, sorted[0], sorted[n-1], median(sorted)
	// The halves below and above the median, without the median round
	// itself when there is one; a single round is its own quartiles.
	r.Q1, r.Q3 = median(sorted[:max(n/2, 1)]), median(sorted[n-max(n/2, 1):])
	if k, conf, ok := medianRank(n); ok {
		r.CILow, r.CIHigh, r.Confidence = sorted[k], sorted[n-1-k], 100*conf
	}
	return r, true
}

// Verdict judges the ratio against a floor (a target of at least floor
// percent) by its bound: "met" when the whole bound is at or above it,
// "missed" when the whole bound is below, "undecided" when the bound
// holds it, and "" without a bound (under six rounds).
func (r Ratio) Verdict(floor float64) string {
	switch {
	case r.Confidence == 0:
		return ""
	case r.CILow >= floor:
		return "met"
	case r.CIHigh < floor:
		return "missed"
	}
	return "undecided"
}

// medianRank is the index k such that sorted[k] and sorted[n-1-k], of n
// independent values in order, bound their distribution's median with a
// confidence of at least 95 %, and that confidence: the largest k for
// which P(X <= k) <= 2.5 % for X ~ Binomial(n, 1/2). ok is false for
// n < 6.
func medianRank(n int) (k int, confidence float64, ok bool) {
	lnFact := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	tail, k := 0.0, -1
	for i := 0; i <= n/2; i++ {
		// P(X = i) = C(n, i) / 2^n, in logarithms so that a large n does
		// not overflow.
		p := math.Exp(lnFact(n) - lnFact(i) - lnFact(n-i) - float64(n)*math.Ln2)
		if tail+p > 0.025 {
			break
		}
		tail, k = tail+p, i
	}
	if k < 0 {
		return 0, 0, false
	}
	return k, 1 - 2*tail, true
}

// median is the middle of sorted values (the mean of the two middle ones
// for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func find(rs []Result, name string) (Result, bool) {
	for _, r := range rs {
		if r.Scenario == name {
			return r, true
		}
	}
	return Result{}, false
}

// perRequest shows a CPU time per request, "-" when not measured.
func perRequest(us float64) string {
	if us <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", us)
}

func cpuOf(f func() (time.Duration, error)) (time.Duration, error) {
	if f == nil {
		return 0, errors.New("not measured")
	}
	return f()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTable prints results as an aligned table.
func WriteTable(w io.Writer, rs []Result) {
	width := 14 // the usual scenario names fit; longer ones widen the column
	for _, r := range rs {
		width = max(width, len(r.Scenario))
	}
	fmt.Fprintf(w, "%-*s %5s %9s %7s %10s %8s %8s %8s %8s %11s %11s\n", width, "scenario", "conc", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "server µs", "client µs")
	for _, r := range rs {
		fmt.Fprintf(w, "%-*s %5d %9d %7d %10.0f %8.2f %8.2f %8.2f %8.2f %11s %11s\n",
			width, r.Scenario, r.Concurrency, r.Requests, r.Errors, r.PerSecond, r.P50ms, r.P95ms, r.P99ms, r.MaxMs, perRequest(r.ServerCPUus), perRequest(r.ClientCPUus))
		if r.FirstError != "" {
			fmt.Fprintf(w, "%-*s first error: %s\n", width, "", r.FirstError)
		}
	}
}
