package devcert_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/devcert"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ensure(t *testing.T, dir string, now time.Time) *devcert.Cert {
	t.Helper()
	c, err := devcert.Ensure(dir, now)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return c
}

func readCA(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, devcert.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("ca.pem: no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestEnsureCreatesFilesWithModes(t *testing.T) {
	dir := t.TempDir()
	c := ensure(t, dir, t0)
	if !slices.Equal(c.Created, []string{"ca", "leaf"}) {
		t.Errorf("Created = %v, want [ca leaf]", c.Created)
	}
	for name, want := range map[string]os.FileMode{
		devcert.CAFile: 0o644, devcert.CAKeyFile: 0o600, devcert.CertFile: 0o644, devcert.KeyFile: 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %04o, want %04o", name, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want 4 (no temp files left)", len(entries))
	}
	if c.CAPath != filepath.Join(dir, devcert.CAFile) {
		t.Errorf("CAPath = %q", c.CAPath)
	}
}

func TestCAIsP256AndConstrained(t *testing.T) {
	dir := t.TempDir()
	ensure(t, dir, t0)
	ca := readCA(t, dir)
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("CA key is %T, want ECDSA P-256", ca.PublicKey)
	}
	if !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("IsCA=%v MaxPathLenZero=%v", ca.IsCA, ca.MaxPathLenZero)
	}
	if !slices.Equal(ca.PermittedDNSDomains, []string{"localhost"}) || len(ca.PermittedIPRanges) != 2 {
		t.Errorf("name constraints: dns %v ip %v", ca.PermittedDNSDomains, ca.PermittedIPRanges)
	}
}

func TestFingerprintIsSHA256OfCA(t *testing.T) {
	dir := t.TempDir()
	c := ensure(t, dir, t0)
	sum := sha256.Sum256(readCA(t, dir).Raw)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := strings.ReplaceAll(c.CAFingerprint, ":", ""); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	if len(c.CAFingerprint) != 32*3-1 {
		t.Errorf("fingerprint %q is not 32 colon-separated bytes", c.CAFingerprint)
	}
}

func TestLeafVerifiesForLoopbackNamesOnly(t *testing.T) {
	dir := t.TempDir()
	c := ensure(t, dir, t0)
	pool := x509.NewCertPool()
	pool.AddCert(readCA(t, dir))
	leaf := c.TLS.Leaf
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true}, {"127.0.0.1", true}, {"::1", true},
		{"example.com", false}, {"10.0.0.1", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			_, err := leaf.Verify(x509.VerifyOptions{
				DNSName: tc.host, Roots: pool, CurrentTime: t0,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if (err == nil) != tc.ok {
				t.Errorf("verify %s: err = %v, want ok=%v", tc.host, err, tc.ok)
			}
		})
	}
}

// A leaf for another name, signed with the CA key, must not verify: the
// name constraints keep a leaked dev CA from impersonating real sites.
func TestCAKeyCannotSignOtherNames(t *testing.T) {
	dir := t.TempDir()
	ensure(t, dir, t0)
	ca := readCA(t, dir)
	kb, err := os.ReadFile(filepath.Join(dir, devcert.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kb)
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		DNSNames: []string{"bank.example"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := evil.Verify(x509.VerifyOptions{DNSName: "bank.example", Roots: pool, CurrentTime: t0}); err == nil {
		t.Fatal("a certificate for bank.example signed by the dev CA verified")
	}
}

func TestReusedOnLaterStarts(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir, t0)
	second := ensure(t, dir, t0.Add(300*24*time.Hour))
	if len(second.Created) != 0 {
		t.Errorf("second start created %v, want nothing", second.Created)
	}
	if second.CAFingerprint != first.CAFingerprint {
		t.Error("CA changed between starts")
	}
	if !bytes.Equal(second.TLS.Certificate[0], first.TLS.Certificate[0]) {
		t.Error("leaf changed between starts")
	}
}

func TestLeafRenewedWithin30DaysOfExpiry(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir, t0)
	later := first.TLS.Leaf.NotAfter.Add(-29 * 24 * time.Hour)
	second := ensure(t, dir, later)
	if !slices.Equal(second.Created, []string{"leaf"}) {
		t.Fatalf("Created = %v, want [leaf]", second.Created)
	}
	if second.CAFingerprint != first.CAFingerprint {
		t.Error("renewing the leaf changed the CA")
	}
	if !second.TLS.Leaf.NotAfter.After(first.TLS.Leaf.NotAfter) {
		t.Error("renewed leaf does not live longer")
	}
	// And the renewed leaf is what a third start finds.
	third := ensure(t, dir, later)
	if len(third.Created) != 0 || !bytes.Equal(third.TLS.Certificate[0], second.TLS.Certificate[0]) {
		t.Error("renewed leaf not reused")
	}
}

func TestBrokenLeafReplaced(t *testing.T) {
	for name, breakIt := range map[string]func(dir string) error{
		"missing key": func(dir string) error { return os.Remove(filepath.Join(dir, devcert.KeyFile)) },
		"garbage cert": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, devcert.CertFile), []byte("junk"), 0o644)
		},
		"key readable by others": func(dir string) error { return os.Chmod(filepath.Join(dir, devcert.KeyFile), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			first := ensure(t, dir, t0)
			if err := breakIt(dir); err != nil {
				t.Fatal(err)
			}
			second := ensure(t, dir, t0)
			if !slices.Equal(second.Created, []string{"leaf"}) || second.CAFingerprint != first.CAFingerprint {
				t.Errorf("Created = %v, CA same = %v; want a new leaf under the same CA", second.Created, second.CAFingerprint == first.CAFingerprint)
			}
		})
	}
}

func TestLeafFromAnotherCAReplaced(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a := ensure(t, dirA, t0)
	ensure(t, dirB, t0)
	for _, f := range []string{devcert.CertFile, devcert.KeyFile} {
		b, _ := os.ReadFile(filepath.Join(dirB, f))
		if err := os.WriteFile(filepath.Join(dirA, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again := ensure(t, dirA, t0)
	if !slices.Equal(again.Created, []string{"leaf"}) || again.CAFingerprint != a.CAFingerprint {
		t.Fatalf("Created = %v; want a new leaf signed by dir A's CA", again.Created)
	}
}

// A CA people may have trusted is never replaced behind their back.
func TestBrokenCAIsAnError(t *testing.T) {
	for name, breakIt := range map[string]func(dir string) error{
		"missing CA key":  func(dir string) error { return os.Remove(filepath.Join(dir, devcert.CAKeyFile)) },
		"missing CA cert": func(dir string) error { return os.Remove(filepath.Join(dir, devcert.CAFile)) },
		"garbage CA cert": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, devcert.CAFile), []byte("junk"), 0o644)
		},
		"CA key readable by others": func(dir string) error { return os.Chmod(filepath.Join(dir, devcert.CAKeyFile), 0o640) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ensure(t, dir, t0)
			if err := breakIt(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := devcert.Ensure(dir, t0); err == nil {
				t.Fatal("Ensure succeeded with a broken CA")
			}
		})
	}
}

func TestExpiringCAIsAnError(t *testing.T) {
	dir := t.TempDir()
	ensure(t, dir, t0)
	if _, err := devcert.Ensure(dir, t0.Add(devcert.CALifetime-29*24*time.Hour)); err == nil {
		t.Fatal("Ensure succeeded with a CA about to expire")
	}
}

// The certificate serves real TLS to a client that trusts only ca.pem.
func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	c := ensure(t, dir, time.Now())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*c.TLS}}
	srv.StartTLS()
	defer srv.Close()

	caPEM, err := os.ReadFile(c.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem did not parse")
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			t.Fatalf("GET via %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Errorf("body %q", body)
		}
	}
}
