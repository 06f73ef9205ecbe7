package sso

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlockedAddress is returned when an outbound request would reach an
// address the SSRF guard refuses.
var ErrBlockedAddress = errors.New("sso: destination address is not allowed")

// Guard decides which addresses outbound requests (OIDC discovery, JWKS,
// token exchange, SAML metadata) may reach. By default it refuses every
// address that is not globally routable: loopback, private ranges,
// link-local (169.254.169.254, the cloud metadata endpoint, among them),
// CGNAT, multicast and unspecified. Allow lists prefixes an operator opts
// into (tests use 127.0.0.0/8); nothing a tenant admin types can widen it.
//
// The check runs in the dialer's Control hook, on the address actually
// being connected to after DNS resolution, so neither DNS rebinding nor a
// redirect to a private address gets past it (ASVS V1.3.6, V13.2.4).
type Guard struct {
	Allow []netip.Prefix
}

// Allowed reports whether ip may be dialled.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// blocked are non-global ranges netip has no predicate for.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 private space
	netip.MustParsePrefix("2002::/16"),    // 6to4, likewise
}

func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// MaxFetchBytes bounds every body read through the guarded client.
const MaxFetchBytes = 1 << 20

// Client returns an HTTP client whose every connection, redirects
// included, goes through the guard. Proxies from the environment are not
// used: a proxy would dial on our behalf and defeat the check.
func (g *Guard) Client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConns:          20,
		IdleConnTimeout:       60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: &limitedTransport{tr},
		Timeout:   15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("sso: too many redirects")
			}
			if req.URL.Scheme != "https" && via[0].URL.Scheme == "https" {
				return errors.New("sso: redirect leaves https")
			}
			return nil
		},
	}
}

// limitedTransport caps response bodies so a hostile endpoint cannot make
// us read without end.
type limitedTransport struct{ rt http.RoundTripper }

func (l *limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, MaxFetchBytes), resp.Body}
	return resp, nil
}

// Fetch GETs url through the guarded client and returns at most
// MaxFetchBytes of its body.
func (g *Guard) Fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sso: GET %s: status %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
