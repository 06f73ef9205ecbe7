// Package addrlimit bounds the requests of each client address, in
// process: the first line against one address trying many passwords,
// codes or sign-ins. Limits that must hold across nodes (per account)
// live in the store.
package addrlimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
)

// maxAddrs bounds a limiter's memory: past it, the table starts over (an
// attacker with that many addresses is past per-address limits).
const maxAddrs = 100_000

// Limiter allows each address a burst of requests, then a steady rate.
type Limiter struct {
	r     rate.Limit
	burst int
	err   error

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// New allows each address burst requests at once, then perSecond a
// second; a request over the limit gets err.
func New(perSecond float64, burst int, err error) *Limiter {
	return &Limiter{r: rate.Limit(perSecond), burst: burst, err: err, m: map[string]*rate.Limiter{}}
}

// Allow counts a request from ctx's client address (bulwark.RequestInfo)
// at now, and returns the limiter's error if the address is over its
// limit. A request that did not come from the network (the CLI, a
// library caller) has no address and is always allowed.
func (l *Limiter) Allow(ctx context.Context, now time.Time) error {
	addr := bulwark.RequestInfoFrom(ctx).ClientIP
	if addr == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[addr]
	if !ok {
		if len(l.m) >= maxAddrs {
			l.m = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(l.r, l.burst)
		l.m[addr] = lim
	}
	if !lim.AllowN(now, 1) {
		return l.err
	}
	return nil
}
