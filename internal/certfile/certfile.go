// Package certfile serves a TLS certificate and key kept in two PEM files
// (from an ACME client, a corporate CA, a Kubernetes secret mount) and
// picks up new files without a restart (DATA-2): each handshake asks
// GetCertificate, which looks at the files at most once a second and
// reloads them when they changed. A half-written pair (a new certificate
// with the old key) is not adopted: the previous pair is served and the
// error reported, until both files match again.
package certfile

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// checkEvery bounds how often the files are looked at.
const checkEvery = time.Second

// Pair is a certificate and key loaded from files.
type Pair struct {
	certPath, keyPath string
	now               func() time.Time
	// OnReload and OnError, if set, are told about reloads and about
	// files that could not be adopted (the old pair is kept).
	OnReload func(leaf *x509.Certificate)
	OnError  func(error)

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp
	checked time.Time
}

type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path) // follows symlinks: Kubernetes swaps a link
	if err != nil {
		return stamp{}, err
	}
	s := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s, nil
}

// Load reads the pair. The key file must not be readable by others (group
// read is allowed, for the ssl-cert group convention); the certificate
// must match the key and be valid now.
func Load(certPath, keyPath string, now func() time.Time) (*Pair, error) {
	if now == nil {
		now = time.Now
	}
	p := &Pair{certPath: certPath, keyPath: keyPath, now: now}
	c, st, err := p.read()
	if err != nil {
		return nil, err
	}
	p.cert, p.stamp, p.checked = c, st, now()
	return p, nil
}

func (p *Pair) read() (*tls.Certificate, [2]stamp, error) {
	var st [2]stamp
	var err error
	for i, path := range []string{p.certPath, p.keyPath} {
		if st[i], err = stampOf(path); err != nil {
			return nil, st, fmt.Errorf("TLS files: %w", err)
		}
	}
	fi, err := os.Stat(p.keyPath)
	if err != nil {
		return nil, st, fmt.Errorf("TLS key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		return nil, st, fmt.Errorf("the TLS key %s has mode %04o: others can read it, so it may have leaked; it must be 0600 (or 0640 for a group), then replace the certificate if it leaked: chmod 600 %s", p.keyPath, perm, p.keyPath)
	}
	c, err := tls.LoadX509KeyPair(p.certPath, p.keyPath)
	if err != nil {
		return nil, st, fmt.Errorf("TLS files %s and %s: %w", p.certPath, p.keyPath, err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, st, fmt.Errorf("TLS certificate %s: %w", p.certPath, err)
		}
		c.Leaf = leaf
	}
	now := p.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, st, fmt.Errorf("the TLS certificate %s is valid from %s to %s, not now", p.certPath, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	return &c, st, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.checked) < checkEvery && !now.Before(p.checked) {
		return p.cert, nil
	}
	p.checked = now
	var st [2]stamp
	for i, path := range []string{p.certPath, p.keyPath} {
		s, err := stampOf(path)
		if err != nil {
			p.report(fmt.Errorf("TLS files: %w; serving the previous certificate", err))
			return p.cert, nil
		}
		st[i] = s
	}
	if st == p.stamp {
		return p.cert, nil
	}
	c, st, err := p.read()
	if err != nil {
		// Not recorded as seen: tried again at the next check, so the
		// second file of a pair being replaced is picked up.
		p.report(fmt.Errorf("%w; serving the previous certificate", err))
		return p.cert, nil
	}
	p.cert, p.stamp = c, st
	if p.OnReload != nil {
		p.OnReload(c.Leaf)
	}
	return p.cert, nil
}

func (p *Pair) report(err error) {
	if p.OnError != nil {
		p.OnError(err)
	}
}

// Leaf is the certificate served now.
func (p *Pair) Leaf() *x509.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cert.Leaf
}

// Fingerprint is the SHA-256 of a certificate (DER), colon-separated
// upper-case hex, as `openssl x509 -fingerprint -sha256` prints it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
