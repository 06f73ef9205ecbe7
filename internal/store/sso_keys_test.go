package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// samlMetadata is a minimal IdP metadata document with a fresh
// certificate.
func samlMetadata(t *testing.T, entityID string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/slo"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`,
		entityID, base64.StdEncoding.EncodeToString(der))
}

// Each SAML provider gets its own SP key pair; the private key is stored
// sealed (the raw column never holds it), opened only for the public
// endpoints, never returned by the admin reads; rollover prepares,
// activates and retires a second key, audited; another tenant cannot.
func TestSPKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		other, _ := f.Tenant(t, "beta")
		viewer, _ := f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		p, err := f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "saml", IdPMetadata: samlMetadata(t, "https://idp.example/md")})
		if err != nil {
			t.Fatal(err)
		}
		if p.SPKey == nil || p.SPNextKey != nil {
			t.Fatalf("created with keys %v %v", p.SPKey, p.SPNextKey)
		}
		if _, err := p.SPKey.PrivateDER(); err == nil {
			t.Fatal("the admin view holds the private key")
		}
		pr, tenantID, err := f.SSOProvider(context.Background(), "acme", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := pr.SPKey.PrivateDER()
		if err != nil || !pr.SPKey.Cert.Equal(p.SPKey.Cert) {
			t.Fatalf("public lookup has no usable key: %v", err)
		}
		raw(t, f, tenantID, func(q querier) {
			var sealed, cert []byte
			query := "SELECT sp_key, sp_cert FROM sso_providers WHERE id = ?"
			if backend == "postgres" {
				query = "SELECT sp_key, sp_cert FROM sso_providers WHERE id = $1"
			}
			if err := q.QueryRow(query, p.ID).Scan(&sealed, &cert); err != nil {
				t.Fatal(err)
			}
			if len(sealed) == 0 || bytes.Contains(sealed, priv[len(priv)-64:]) || bytes.Contains(sealed, priv[:64]) {
				t.Fatal("the private key is stored in clear")
			}
			if !bytes.Equal(cert, p.SPKey.Cert.Raw) {
				t.Fatal("certificate not stored")
			}
		})

		_, err = f.RolloverSPKey(viewer, p.ID, store.KeyPrepare)
		wantCode(t, err, bulwark.EForbidden)
		_, err = f.RolloverSPKey(other, p.ID, store.KeyPrepare)
		wantCode(t, err, bulwark.ENotFound)
		_, err = f.RolloverSPKey(owner, p.ID, "explode")
		wantCode(t, err, bulwark.EInvalid)
		_, err = f.RolloverSPKey(owner, p.ID, store.KeyActivate)
		wantCode(t, err, bulwark.EFailedPrecondition)
		_, err = f.RolloverSPKey(owner, p.ID, store.KeyRetire)
		wantCode(t, err, bulwark.EFailedPrecondition)

		first := p.SPKey.Cert
		prep, err := f.RolloverSPKey(owner, p.ID, store.KeyPrepare)
		if err != nil || prep.SPNextKey == nil || !prep.SPKey.Cert.Equal(first) || prep.SPNextKey.Cert.Equal(first) {
			t.Fatalf("prepare: %+v %v", prep, err)
		}
		next := prep.SPNextKey.Cert
		act, err := f.RolloverSPKey(owner, p.ID, store.KeyActivate)
		if err != nil || !act.SPKey.Cert.Equal(next) || !act.SPNextKey.Cert.Equal(first) {
			t.Fatalf("activate: %+v %v", act, err)
		}
		// An update leaves the keys alone.
		up := sso.Provider{Kind: sso.KindSAML, Name: "renamed", IdPMetadata: pr.IdPMetadata, SignRequests: true}
		if _, err := f.UpdateSSOProvider(owner, p.ID, up); err != nil {
			t.Fatal(err)
		}
		pr, _, err = f.SSOProvider(context.Background(), "acme", p.ID)
		if err != nil || !pr.SPKey.Cert.Equal(next) || !pr.SPNextKey.Cert.Equal(first) || !pr.SignRequests {
			t.Fatalf("after update: %+v %v", pr, err)
		}
		if _, err := pr.SPNextKey.PrivateDER(); err != nil {
			t.Fatalf("the previous key no longer decrypts: %v", err)
		}
		ret, err := f.RolloverSPKey(owner, p.ID, store.KeyRetire)
		if err != nil || ret.SPNextKey != nil || !ret.SPKey.Cert.Equal(next) {
			t.Fatalf("retire: %+v %v", ret, err)
		}
		entries, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: "sso.provider.key_activate"})
		if err != nil || len(entries) != 1 || !entries[0].Privileged {
			t.Fatalf("audit: %+v %v", entries, err)
		}
		// OIDC providers have no SP keys.
		o, err := f.CreateSSOProvider(owner, oidcProvider(false))
		if err != nil || o.SPKey != nil {
			t.Fatalf("oidc provider with an SP key: %v", err)
		}
		_, err = f.RolloverSPKey(owner, o.ID, store.KeyPrepare)
		wantCode(t, err, bulwark.EInvalid)
	})
}
