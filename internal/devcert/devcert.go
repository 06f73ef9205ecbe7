// Package devcert makes and keeps the development TLS certificate of a
// Bulwark data directory: a private certificate authority (ca.pem, ca.key)
// and a leaf certificate for localhost, 127.0.0.1 and ::1 signed by it
// (tls.crt, tls.key). A person trusts ca.pem once (curl --cacert, or the
// system trust store); the leaf then renews itself without breaking that
// trust. Standard library crypto only.
package devcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark/internal/certfile"
)

// File names inside the data directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca.key"
	CertFile  = "tls.crt"
	KeyFile   = "tls.key"
)

// Lifetimes. The leaf stays under the 398 days browsers accept for any
// server certificate, so the same file works in a browser that trusts the CA.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	LeafLifetime = 397 * 24 * time.Hour
	// RenewBefore is how close to its expiry a certificate is replaced.
	RenewBefore = 30 * 24 * time.Hour
)

// Hosts are the names the leaf is valid for.
var (
	DNSNames    = []string{"localhost"}
	IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
)

// Cert is the loaded development certificate.
type Cert struct {
	// TLS is the leaf with its key and the CA certificate, ready for a
	// tls.Config.
	TLS *tls.Certificate
	// CAFingerprint is the SHA-256 of the CA certificate (DER), as
	// colon-separated upper-case hex, the way `openssl x509 -fingerprint
	// -sha256` prints it.
	CAFingerprint string
	// CAPath is the absolute path of ca.pem.
	CAPath string
	// Created reports which files this call wrote: "ca", "leaf".
	Created []string
}

// Ensure loads the development certificate kept in dir, making what is
// missing: the CA on first start, the leaf on first start and whenever it is
// within RenewBefore of its expiry, no longer matches the CA, or cannot be
// read. now is the clock. dir must exist.
//
// An existing CA is never replaced silently: people may have trusted it, so
// a CA that cannot be read, lacks its key, or is about to expire is an
// error telling them what to do.
func Ensure(dir string, now time.Time) (*Cert, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("dev certificate: %w", err)
	}
	out := &Cert{CAPath: filepath.Join(dir, CAFile)}

	ca, caKey, err := loadCA(dir, now)
	if errors.Is(err, errNoCA) {
		ca, caKey, err = createCA(dir, now)
		out.Created = append(out.Created, "ca")
	}
	if err != nil {
		return nil, err
	}

	leaf, err := loadLeaf(dir, ca, now)
	if err != nil {
		// A missing, unreadable, mismatched or expiring leaf is replaced:
		// nobody trusts the leaf itself, only the CA.
		leaf, err = createLeaf(dir, ca, caKey, now)
		if err != nil {
			return nil, err
		}
		out.Created = append(out.Created, "leaf")
	}
	leaf.Certificate = append(leaf.Certificate, ca.Raw)
	out.TLS = leaf
	out.CAFingerprint = certfile.Fingerprint(ca)
	return out, nil
}

// errNoCA means neither CA file exists: a first start.
var errNoCA = errors.New("no CA yet")

func loadCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := readKey(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return nil, nil, errNoCA
	case certErr != nil:
		return nil, nil, fmt.Errorf("dev certificate: read %s: %w (remove %s too to make a new CA)", certPath, certErr, keyPath)
	case keyErr != nil:
		return nil, nil, fmt.Errorf("dev certificate: read %s: %w (remove %s too to make a new CA)", keyPath, keyErr, certPath)
	}
	ca, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("dev certificate: %s: %w", certPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("dev certificate: %s: %w", keyPath, err)
	}
	if !ca.IsCA || !samePublicKey(ca.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("dev certificate: %s and %s do not belong together; remove both to make a new CA", certPath, keyPath)
	}
	if now.Add(RenewBefore).After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("dev certificate: the CA in %s expires on %s; remove %s and %s to make a new one (and trust the new ca.pem)",
			certPath, ca.NotAfter.UTC().Format(time.DateOnly), certPath, keyPath)
	}
	return ca, key, nil
}

func loadLeaf(dir string, ca *x509.Certificate, now time.Time) (*tls.Certificate, error) {
	// A leaf key that others could read is replaced, not trusted.
	if _, err := readKey(filepath.Join(dir, KeyFile)); err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if now.Add(RenewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, errors.New("leaf expires soon")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, err
	}
	if !slices.Equal(leaf.DNSNames, DNSNames) || !slices.EqualFunc(leaf.IPAddresses, IPAddresses, net.IP.Equal) {
		return nil, errors.New("leaf names changed")
	}
	// Keep only the leaf; Ensure appends the CA.
	pair.Certificate = pair.Certificate[:1]
	pair.Leaf = leaf
	return &pair, nil
}

func createCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("dev certificate: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization:       []string{"Bulwark development CA"},
			OrganizationalUnit: []string{host},
			CommonName:         "Bulwark development CA " + serial.Text(16)[:8],
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// People add this CA to their trust store. Name constraints make it
		// useless for anything but the loopback names, so a stolen ca.key
		// cannot impersonate a real site to them.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         DNSNames,
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("dev certificate: create CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("dev certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	// Key first: a ca.pem without its key would block the next start.
	if err := writeFile(dir, CAKeyFile, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFile(dir, CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func createLeaf(dir string, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev certificate: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(LeafLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Bulwark development certificate"}, CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     DNSNames,
		IPAddresses:  IPAddresses,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("dev certificate: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("dev certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(dir, KeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(dir, CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// readKey reads a private key file, refusing one that others may read: a
// key that was exposed is not worth trusting.
func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: group and others can read it (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return s, nil
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("dev certificate: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ka, ok := a.(*ecdsa.PublicKey)
	return ok && ka.Equal(b)
}

func randomSerial() (*big.Int, error) {
	// 128 random bits, positive: RFC 5280 allows up to 20 octets.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("dev certificate: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// writeFile writes name in dir atomically with mode perm: a crash leaves
// the old file or the new one, never half of one, and a key is never
// readable by others, not even for a moment.
func writeFile(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("dev certificate: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("dev certificate: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("dev certificate: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("dev certificate: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dev certificate: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("dev certificate: %w", err)
	}
	return nil
}
