package auth

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
)

// addrLimiter bounds unauthenticated credential attempts per client
// address, in process (password spraying from one address). Per-account
// limits, which must hold across nodes, are in the store.
type addrLimiter struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

// maxAddrs bounds the limiter's memory: past it, the table starts over
// (an attacker with that many addresses is past per-address limits).
const maxAddrs = 100_000

func newAddrLimiter(r float64, burst int) *addrLimiter {
	return &addrLimiter{r: rate.Limit(r), burst: burst, m: map[string]*rate.Limiter{}}
}

var errAddrLimited = bulwark.Errorf(bulwark.ERateLimited, "too many attempts from your network address; wait a minute and retry")

func (l *addrLimiter) allow(ctx context.Context, now time.Time) error {
	addr := bulwark.RequestInfoFrom(ctx).ClientIP
	if addr == "" {
		return nil // not from the network (the CLI, a library caller)
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
		return errAddrLimited
	}
	return nil
}
