package sso

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"time"

	dsig "github.com/russellhaering/goxmldsig"
)

// SPKeyBits is the size of a service provider's RSA key. RSA, not ECDSA,
// because every IdP Bulwark targets (Entra ID, Okta, Google, ADFS,
// Shibboleth) verifies RSA-SHA256 request signatures and encrypts
// assertions to RSA keys (RSA-OAEP key transport); many take nothing else.
const SPKeyBits = 3072

// SPKeyLifetime is how long an SP certificate says it is valid. IdPs
// seldom check it; it is a prompt to roll the key over.
const SPKeyLifetime = 5 * 365 * 24 * time.Hour

// SPKey is a tenant provider's own SAML key pair: it signs Bulwark's
// AuthnRequests, LogoutRequests and LogoutResponses, and IdPs encrypt
// assertions to its certificate. The private key never leaves the store
// unsealed except in memory; String hides it from logs.
type SPKey struct {
	key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// String never shows the private key.
func (k *SPKey) String() string { return "sso.SPKey(" + k.Cert.Subject.CommonName + ")" }

// GoString is String, for %#v.
func (k *SPKey) GoString() string { return k.String() }

// NewSPKey generates a key pair and a self-signed certificate naming the
// SP's entity id. SAML trusts the certificate itself (it is pinned in the
// IdP's configuration), not a chain, so self-signed is the norm.
func NewSPKey(entityID string, now time.Time) (*SPKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, SPKeyBits)
	if err != nil {
		return nil, errorf("generate SP key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, errorf("certificate serial: %v", err)
	}
	cn := entityID
	if len(cn) > 64 { // the X.509 upper bound for a common name
		cn = cn[len(cn)-64:]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Bulwark SAML service provider"}},
		NotBefore:    now.Add(-time.Hour).UTC(),
		NotAfter:     now.Add(SPKeyLifetime).UTC(),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, errorf("SP certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errorf("SP certificate: %v", err)
	}
	return &SPKey{key: key, Cert: cert}, nil
}

// PrivateDER is the private key in PKCS #8, for sealing.
func (k *SPKey) PrivateDER() ([]byte, error) {
	if !k.usable() {
		return nil, errorf("SP key without its private half")
	}
	return x509.MarshalPKCS8PrivateKey(k.key)
}

// ParseSPKey rebuilds a key pair from its PKCS #8 private key and DER
// certificate, checking that they belong together.
func ParseSPKey(privDER, certDER []byte) (*SPKey, error) {
	p, err := x509.ParsePKCS8PrivateKey(privDER)
	if err != nil {
		return nil, errorf("SP key: %v", err)
	}
	key, ok := p.(*rsa.PrivateKey)
	if !ok {
		return nil, errorf("SP key is not RSA")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, errorf("SP certificate: %v", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errorf("SP certificate does not match its key")
	}
	return &SPKey{key: key, Cert: cert}, nil
}

// CertPEM is the certificate as PEM, for an admin to paste into an IdP.
func (k *SPKey) CertPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw}))
}

func (k *SPKey) certBase64() string { return base64.StdEncoding.EncodeToString(k.Cert.Raw) }

// keyStore is the form goxmldsig and gosaml2 take.
func (k *SPKey) keyStore() dsig.X509KeyStore {
	return dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{k.Cert.Raw}, PrivateKey: k.key, Leaf: k.Cert})
}

// Public is k without its private key (nil stays nil), for views.
func (k *SPKey) Public() *SPKey {
	if k == nil {
		return nil
	}
	return &SPKey{Cert: k.Cert}
}

// usable reports whether k can sign and decrypt.
func (k *SPKey) usable() bool { return k != nil && k.key != nil && k.Cert != nil }

// ParseSPCert is a key holding only a certificate (views and lists).
func ParseSPCert(certDER []byte) (*SPKey, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, errorf("SP certificate: %v", err)
	}
	return &SPKey{Cert: cert}, nil
}
