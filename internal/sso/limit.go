package sso

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
)

// addrLimiter bounds the public SSO endpoints per client address, in
// process: each begun login stores a row and each answer costs a
// signature check, so one address cannot make either unbounded. (The
// same shape as the password login's limiter in internal/auth.)
type addrLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// Per address: a burst of 60, then one a second.
const (
	addrBurst = 60
	addrRate  = rate.Limit(1)
	maxAddrs  = 100_000
)

var errAddrLimited = bulwark.Errorf(bulwark.ERateLimited, "too many sign-in attempts from your network address; wait a minute and retry")

func (l *addrLimiter) allow(ctx context.Context, now time.Time) error {
	addr := bulwark.RequestInfoFrom(ctx).ClientIP
	if addr == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxAddrs {
		l.m = map[string]*rate.Limiter{}
	}
	lim, ok := l.m[addr]
	if !ok {
		lim = rate.NewLimiter(addrRate, addrBurst)
		l.m[addr] = lim
	}
	if !lim.AllowN(now, 1) {
		return errAddrLimited
	}
	return nil
}
