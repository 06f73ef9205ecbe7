package devcert

import (
	"crypto/tls"
	"sync"
	"time"
)

// retryAfter spaces out renewal attempts that fail, so a broken data
// directory costs one attempt a minute, not one per handshake.
const retryAfter = time.Minute

// Source hands the data directory's certificate to a tls.Config and renews
// the leaf while the process runs: a server that is never restarted would
// otherwise serve an expired certificate one day. Use GetCertificate as
// tls.Config.GetCertificate.
type Source struct {
	dir string
	now func() time.Time
	// OnError, if set, hears about a failed renewal. The current
	// certificate goes on being served meanwhile: it still has up to
	// RenewBefore to live.
	OnError func(error)
	// OnRenew, if set, hears about a renewal.
	OnRenew func(*Cert)

	mu        sync.Mutex
	cur       *Cert
	lastTried time.Time
}

// NewSource runs Ensure on dir and returns a Source serving the result.
func NewSource(dir string, now func() time.Time) (*Source, error) {
	c, err := Ensure(dir, now())
	if err != nil {
		return nil, err
	}
	return &Source{dir: dir, now: now, cur: c}, nil
}

// Current returns the certificate being served.
func (s *Source) Current() *Cert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// GetCertificate returns the current certificate, renewing it first when it
// is within RenewBefore of its expiry.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Add(RenewBefore).After(s.cur.TLS.Leaf.NotAfter) && now.Sub(s.lastTried) >= retryAfter {
		s.lastTried = now
		c, err := Ensure(s.dir, now)
		switch {
		case err != nil:
			if s.OnError != nil {
				s.OnError(err)
			}
		default:
			s.cur = c
			if s.OnRenew != nil {
				s.OnRenew(c)
			}
		}
	}
	return s.cur.TLS, nil
}
