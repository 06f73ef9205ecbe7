package sso

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestGuardRefusesInternalAddresses: loopback, private, link-local (the
// cloud metadata address) and unspecified are refused before connecting
// (ASVS V1.3.6, V13.2.4).
func TestGuardRefusesInternalAddresses(t *testing.T) {
	g := &Guard{}
	for _, a := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"fe80::1", "0.0.0.0", "::", "100.64.0.1", "::ffff:127.0.0.1", "fc00::1", "64:ff9b::7f00:1"} {
		if g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("%s allowed", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "2001:4860:4860::8888"} {
		if !g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("%s refused", a)
		}
	}
}

func TestGuardDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx := context.Background()

	t.Run("loopback refused without allow-list", func(t *testing.T) {
		_, err := (&Guard{}).Fetch(ctx, srv.URL)
		if !errors.Is(err, ErrBlockedAddress) {
			t.Fatalf("err = %v, want ErrBlockedAddress", err)
		}
	})
	t.Run("localhost name refused", func(t *testing.T) {
		_, err := (&Guard{}).Fetch(ctx, "http://localhost:"+srv.Listener.Addr().(interface{ String() string }).String()[len("127.0.0.1:"):])
		if !errors.Is(err, ErrBlockedAddress) {
			t.Fatalf("err = %v, want ErrBlockedAddress", err)
		}
	})
	allow := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	t.Run("operator allow-list", func(t *testing.T) {
		b, err := allow.Fetch(ctx, srv.URL)
		if err != nil || string(b) != "ok" {
			t.Fatalf("got %q, %v", b, err)
		}
	})
	t.Run("redirect to metadata address refused", func(t *testing.T) {
		_, err := allow.Fetch(ctx, srv.URL+"/redirect")
		if !errors.Is(err, ErrBlockedAddress) {
			t.Fatalf("err = %v, want ErrBlockedAddress", err)
		}
	})
}

// TestGuardVerifiesTLS: outbound TLS is verified (ASVS V12.3.2): an IdP
// with a certificate the system does not trust is refused, even on an
// allowed address.
func TestGuardVerifiesTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	g := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if _, err := g.Fetch(context.Background(), srv.URL); err == nil {
		t.Fatal("a self-signed certificate was accepted")
	}
}
