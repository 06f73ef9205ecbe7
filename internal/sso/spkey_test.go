package sso

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/russellhaering/gosaml2/types"
)

var (
	spKeysOnce sync.Once
	spKeys     [2]*SPKey
	spKeysErr  error
)

// testSPKeys generates two SP keys once per test binary (RSA generation is
// slow).
func testSPKeys(t *testing.T) (*SPKey, *SPKey) {
	t.Helper()
	spKeysOnce.Do(func() {
		for i := range spKeys {
			if spKeys[i], spKeysErr = NewSPKey("https://bulwark.test/sso/acme/saml/s1/metadata", time.Now()); spKeysErr != nil {
				return
			}
		}
	})
	if spKeysErr != nil {
		t.Fatal(spKeysErr)
	}
	return spKeys[0], spKeys[1]
}

func TestSPKeyRoundTrip(t *testing.T) {
	k, other := testSPKeys(t)
	if k.key.N.BitLen() < 2048 {
		t.Fatalf("key of %d bits", k.key.N.BitLen())
	}
	der, err := k.PrivateDER()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSPKey(der, k.Cert.Raw)
	if err != nil || !back.key.Equal(k.key) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseSPKey(der, other.Cert.Raw); err == nil {
		t.Fatal("a certificate of another key was accepted")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, k); strings.Contains(s, k.key.D.String()[:12]) || strings.Contains(s, "PRIVATE") {
			t.Fatalf("%s prints the private key", f)
		}
	}
}

// The metadata publishes the active and the next certificate, each for
// signing and for encryption, and says whether requests are signed.
func TestSPMetadataKeys(t *testing.T) {
	e := newSAMLEnv(t)
	k, next := testSPKeys(t)
	e.pr.SPKey, e.pr.SPNextKey, e.pr.SignRequests = k, next, true
	b, err := e.sp.Metadata(e.pr, e.u)
	if err != nil {
		t.Fatal(err)
	}
	var ed types.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, kd := range ed.SPSSODescriptor.KeyDescriptors {
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			switch c.Data {
			case base64.StdEncoding.EncodeToString(k.Cert.Raw):
				got["active "+kd.Use]++
			case base64.StdEncoding.EncodeToString(next.Cert.Raw):
				got["next "+kd.Use]++
			}
		}
	}
	for _, w := range []string{"active signing", "active encryption", "next signing", "next encryption"} {
		if got[w] != 1 {
			t.Errorf("%s certificate listed %d times", w, got[w])
		}
	}
	if !ed.SPSSODescriptor.AuthnRequestsSigned {
		t.Error("AuthnRequestsSigned false")
	}
	bindings := map[string]bool{}
	for _, s := range ed.SPSSODescriptor.SingleLogoutServices {
		bindings[s.Binding] = s.Location == e.u.SLO
	}
	if !bindings[BindingRedirect] || !bindings[BindingPOST] {
		t.Errorf("SLO endpoints %+v", ed.SPSSODescriptor.SingleLogoutServices)
	}
}

// With SignRequests, the AuthnRequest redirect carries an RSA-SHA256
// signature over the query (HTTP-Redirect binding), verified here with
// the published certificate by the standard library; without it, none.
func TestSignedAuthnRequest(t *testing.T) {
	e := newSAMLEnv(t)
	k, _ := testSPKeys(t)
	e.pr.SPKey = k
	begin := func() url.Values {
		loc, err := e.sp.Begin(context.Background(), e.st, e.pr, e.u, "/", "h")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(loc)
		return u.Query()
	}
	if q := begin(); q.Get("Signature") != "" || q.Get("SigAlg") != "" {
		t.Fatal("signed although sign_requests is off")
	}
	e.pr.SignRequests = true
	q := begin()
	if q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" {
		t.Fatalf("SigAlg %q", q.Get("SigAlg"))
	}
	signed := "SAMLRequest=" + url.QueryEscape(q.Get("SAMLRequest")) + "&SigAlg=" + url.QueryEscape(q.Get("SigAlg"))
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPKCS1v15(k.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("signature does not verify with the published certificate: %v", err)
	}
	h2 := sha256.Sum256([]byte(signed + "x"))
	if rsa.VerifyPKCS1v15(k.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, h2[:], sig) == nil {
		t.Fatal("check is vacuous")
	}
}

// Encrypted assertions (encrypted as crewjam/saml's IdP does) are
// decrypted with the provider's key, or the next one during rollover,
// and must still be signed; one encrypted to another key is refused.
func TestEncryptedAssertion(t *testing.T) {
	e := newSAMLEnv(t)
	k, next := testSPKeys(t)
	e.pr.SPKey = k
	t.Run("signed, to the active key", func(t *testing.T) {
		id, err := e.post(t, respOpts{encryptTo: k.Cert})
		if err != nil || id.Subject != "ada@example.com" {
			t.Fatalf("%+v %v", id, err)
		}
	})
	t.Run("signed response, encrypted assertion", func(t *testing.T) {
		if _, err := e.post(t, respOpts{encryptTo: k.Cert, signResponse: true}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		if _, err := e.post(t, respOpts{encryptTo: k.Cert, unsigned: true}); err == nil {
			t.Fatal("unsigned encrypted assertion accepted")
		}
	})
	t.Run("signed by another key", func(t *testing.T) {
		_, b := testKeys(t)
		if _, err := e.post(t, respOpts{encryptTo: k.Cert, signer: newTestIdP(t, e.idp.entityID, b)}); err == nil {
			t.Fatal("foreign signature accepted")
		}
	})
	t.Run("to a key not configured", func(t *testing.T) {
		if _, err := e.post(t, respOpts{encryptTo: next.Cert}); err == nil {
			t.Fatal("decrypted without the key")
		}
	})
	t.Run("RSA PKCS #1 v1.5 key transport refused", func(t *testing.T) {
		// gosaml2 would decrypt it; Bulwark's allow-list refuses it
		// (padding-oracle class).
		if _, err := e.post(t, respOpts{encryptTo: k.Cert, pkcs1: true}); err == nil {
			t.Fatal("rsa-1_5 accepted")
		}
	})
	t.Run("to the next key during rollover", func(t *testing.T) {
		e.pr.SPNextKey = next
		defer func() { e.pr.SPNextKey = nil }()
		if _, err := e.post(t, respOpts{encryptTo: next.Cert}); err != nil {
			t.Fatal(err)
		}
	})
}

// Metadata may list any encryption method an IdP supports (crewjam/saml
// lists several); only encrypted assertions are held to the allow-list.
func TestMetadataEncryptionMethods(t *testing.T) {
	e := newSAMLEnv(t)
	md := strings.Replace(e.idp.metadata(), `<md:KeyDescriptor use="signing">`,
		`<md:KeyDescriptor use="encryption"><md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"/></md:KeyDescriptor><md:KeyDescriptor use="signing">`, 1)
	if _, err := ParseMetadata([]byte(md)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNewSPKey: generating a provider's RSA 3072 key pair (once per
// SAML provider and per rollover, outside the transaction).
func BenchmarkNewSPKey(b *testing.B) {
	for b.Loop() {
		if _, err := NewSPKey("https://bulwark.test/sso/acme/saml/s1/metadata", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkACS compares checking a signed assertion in the clear and
// encrypted to the SP key (RSA-OAEP + AES-CBC decryption first).
func BenchmarkACS(b *testing.B) {
	t := &testing.T{}
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "encrypted"
		}
		b.Run(name, func(b *testing.B) {
			e := newSAMLEnv(t)
			e.pr.IdPInitiated = true
			k, _ := testSPKeys(t)
			e.pr.SPKey = k
			o := respOpts{}
			if enc {
				o.encryptTo = k.Cert
			}
			for b.Loop() {
				b.StopTimer()
				resp := encodeDoc(t, e.idp.response(t, e.u, e.now, o))
				b.StartTimer()
				if _, _, err := e.sp.ACS(context.Background(), e.st, e.pr, e.u, resp, "", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
