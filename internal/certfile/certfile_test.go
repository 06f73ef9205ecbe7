package certfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// writePair writes a self-signed certificate for 127.0.0.1 and its key.
func writePair(t *testing.T, dir, name string, notAfter time.Time) (certPath, keyPath string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath+".new", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyPath+".new", keyPath); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, der
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLoadAndReload(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t0}
	cp, kp, der1 := writePair(t, dir, "one", t0.Add(90*24*time.Hour))
	p, err := Load(cp, kp, c.now)
	if err != nil {
		t.Fatal(err)
	}
	var reloaded, failed int
	p.OnReload = func(*x509.Certificate) { reloaded++ }
	p.OnError = func(error) { failed++ }
	got, _ := p.GetCertificate(nil)
	if string(got.Certificate[0]) != string(der1) {
		t.Fatal("not the first certificate")
	}
	// New files: served after the next check, without a restart.
	_, _, der2 := writePair(t, dir, "two", t0.Add(90*24*time.Hour))
	c.t = c.t.Add(2 * time.Second)
	got, _ = p.GetCertificate(nil)
	if string(got.Certificate[0]) != string(der2) || reloaded != 1 {
		t.Fatalf("the renewed certificate is not served (reloads %d)", reloaded)
	}
	// A half-written pair (certificate of one key, the key of another) is
	// not adopted: the previous pair goes on being served.
	good := got
	keyOfTwo, _ := os.ReadFile(kp)
	writePair(t, dir, "three", t0.Add(90*24*time.Hour))
	os.WriteFile(kp, keyOfTwo, 0o600)
	c.t = c.t.Add(2 * time.Second)
	got, _ = p.GetCertificate(nil)
	if got != good || failed == 0 {
		t.Fatalf("a mismatched pair was adopted (errors %d)", failed)
	}
	if Fingerprint(p.Leaf()) == "" {
		t.Fatal("no fingerprint")
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	cp, kp, _ := writePair(t, dir, "x", t0.Add(time.Hour))
	os.Chmod(kp, 0o644)
	if _, err := Load(cp, kp, func() time.Time { return t0 }); err == nil {
		t.Error("a world-readable key was accepted")
	}
	os.Chmod(kp, 0o600)
	if _, err := Load(cp, kp, func() time.Time { return t0.Add(2 * time.Hour) }); err == nil {
		t.Error("an expired certificate was accepted")
	}
	if _, err := Load(filepath.Join(dir, "missing.crt"), kp, nil); err == nil {
		t.Error("a missing file was accepted")
	}
	if _, err := Load(cp, kp, func() time.Time { return t0 }); err != nil {
		t.Errorf("a good pair was refused: %v", err)
	}
}
