package console_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/browsertest"
	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// idpMetadata serves an IdP's SAML metadata on loopback.
func idpMetadata(t *testing.T) *httptest.Server {
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
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s/slo"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`,
			srv.URL, base64.StdEncoding.EncodeToString(der), srv.URL, srv.URL)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserSSOConsole: in headless Chromium, a tenant admin imports a
// SAML IdP's metadata by URL on the console's single sign-on page, reads
// the SP entity id, ACS, SLO and metadata URLs to copy into the IdP,
// switches IdP-initiated login and signed AuthnRequests, adds an OpenID
// Connect provider and turns SSO-only on; the store holds each change. A
// user without settings.manage is refused the page.
func TestBrowserSSOConsole(t *testing.T) {
	path := browsertest.Path(t)
	fx := storetest.NewFixture(t, "sqlite")
	owner, _ := fx.Tenant(t, "acme")
	fx.User(t, owner, "viewer@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	svc := sso.NewService(fx.DB.DB, &sso.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "https://bulwark.example")
	srv := httptest.NewUnstartedServer(console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth, Sessions: fx.DB.DB, Settings: fx.DB.DB, SSO: svc}).Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	idp := idpMetadata(t)

	ctx := browsertest.Start(t, path, base+"/console/login")
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browsertest.Run(t, ctx, 30*time.Second, actions...)
	}
	value := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	login := func(email string) {
		run(chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#tenant"), "acme"), chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.SendKeys(chromedp.CSS("#password"), storetest.Password), chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")))
	}

	login("owner@acme.example")
	run(chromedp.Click(chromedp.CSS("#sso-link")), chromedp.WaitVisible(chromedp.CSS("#no-providers")),
		chromedp.SendKeys(chromedp.CSS("#saml-name"), "Corporate IdP"),
		chromedp.SendKeys(chromedp.CSS("#saml-url"), idp.URL+"/metadata"),
		chromedp.Click(chromedp.CSS("#saml-jit")),
		chromedp.Click(chromedp.CSS("#add-saml-submit")),
		chromedp.WaitReady(chromedp.CSS("#done-provider-added")),
		chromedp.WaitVisible(chromedp.CSS(".sp-entity-id")))
	ps, err := fx.ListSSOProviders(owner)
	if err != nil || len(ps) != 1 || ps[0].Kind != sso.KindSAML || ps[0].MetadataURL != idp.URL+"/metadata" || !ps[0].JIT || ps[0].SPKey == nil {
		t.Fatalf("stored provider %+v %v", ps, err)
	}
	id := ps[0].ID
	want := "https://bulwark.example/sso/acme/saml/" + id
	for sel, w := range map[string]string{".sp-entity-id": want + "/metadata", ".sp-acs": want + "/acs", ".sp-slo": want + "/slo", ".sp-metadata": want + "/metadata"} {
		if got := value(sel); got != w {
			t.Errorf("%s = %q, want %q", sel, got, w)
		}
	}

	run(chromedp.Click(chromedp.CSS(".idp-initiated")), chromedp.Click(chromedp.CSS(".sign-requests")),
		chromedp.Click(chromedp.CSS(".save-provider")), chromedp.WaitReady(chromedp.CSS("#done-provider-saved")))
	p, err := fx.GetSSOProvider(owner, id)
	if err != nil || !p.IdPInitiated || !p.SignRequests || p.MetadataURL != idp.URL+"/metadata" || !p.JIT {
		t.Fatalf("after toggles %+v %v", p, err)
	}

	// Role mapping: saved when every role is grantable; owner refused.
	run(chromedp.SendKeys(chromedp.CSS(".group-attribute"), "groups"),
		chromedp.SendKeys(chromedp.CSS(".mappings"), "Engineering = editor\nCompliance = auditor"),
		chromedp.Click(chromedp.CSS(".save-mapping")), chromedp.WaitReady(chromedp.CSS("#done-mapping-saved")))
	p, err = fx.GetSSOProvider(owner, id)
	if err != nil || p.GroupAttribute != "groups" || len(p.RoleMappings) != 2 || p.RoleMappings[0] != (sso.RoleMapping{Value: "Engineering", Role: "editor"}) || !p.IdPInitiated {
		t.Fatalf("after mapping %+v %v", p, err)
	}
	run(chromedp.SetValue(chromedp.CSS(".mappings"), "Engineering = editor\nAdmins = owner"),
		chromedp.Click(chromedp.CSS(".save-mapping")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if p, _ := fx.GetSSOProvider(owner, id); len(p.RoleMappings) != 2 {
		t.Fatalf("an owner mapping changed the provider: %+v", p.RoleMappings)
	}

	// Key rollover: prepare publishes a second certificate, activate
	// makes it the active one.
	run(chromedp.Click(chromedp.CSS(".key-prepare")), chromedp.WaitReady(chromedp.CSS("#done-key-prepare")), chromedp.WaitVisible(chromedp.CSS(".sp-next-certificate")))
	p, _ = fx.GetSSOProvider(owner, id)
	if p.SPNextKey == nil || !strings.Contains(value(".sp-next-certificate"), "BEGIN CERTIFICATE") {
		t.Fatal("no next key after prepare")
	}
	next := p.SPNextKey.Cert
	run(chromedp.Click(chromedp.CSS(".key-activate")), chromedp.WaitReady(chromedp.CSS("#done-key-activate")))
	if p, _ = fx.GetSSOProvider(owner, id); !p.SPKey.Cert.Equal(next) {
		t.Fatal("activate did not make the next key active")
	}

	run(chromedp.SendKeys(chromedp.CSS("#oidc-name"), "Google"),
		chromedp.SendKeys(chromedp.CSS("#oidc-issuer"), "https://accounts.google.com"),
		chromedp.SendKeys(chromedp.CSS("#oidc-client-id"), "client-1"),
		chromedp.SendKeys(chromedp.CSS("#oidc-client-secret"), "s3cret-value"),
		chromedp.SendKeys(chromedp.CSS("#oidc-domains"), "acme.example"),
		chromedp.Click(chromedp.CSS("#add-oidc-submit")),
		chromedp.WaitReady(chromedp.CSS("#done-provider-added")),
		chromedp.WaitVisible(chromedp.CSS(".redirect-uri")))
	if got := value(".redirect-uri"); !strings.HasPrefix(got, "https://bulwark.example/sso/acme/oidc/") || !strings.HasSuffix(got, "/callback") {
		t.Fatalf("redirect URI %q", got)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil || strings.Contains(html, "s3cret-value") {
		t.Fatalf("the client secret is shown (%v)", err)
	}

	run(chromedp.Click(chromedp.CSS("#sso_only")), chromedp.Click(chromedp.CSS("#save-settings")), chromedp.WaitReady(chromedp.CSS("#done-settings-saved")))
	if s, err := fx.GetSSOSettings(owner); err != nil || !s.SSOOnly {
		t.Fatalf("SSO-only not stored: %+v %v", s, err)
	}
	ps, _ = fx.ListSSOProviders(owner)
	if len(ps) != 2 {
		t.Fatalf("%d providers", len(ps))
	}

	// A viewer (no settings.manage) is refused the page; SSO-only is on,
	// so turn it off through the store first to let the viewer sign in.
	if _, err := fx.SetSSOSettings(owner, sso.Settings{}); err != nil {
		t.Fatal(err)
	}
	run(chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#logout")), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
	login("viewer@acme.example")
	run(chromedp.Navigate(base+"/console/sso"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".provider").length`)); err != nil || n != 0 {
		t.Fatalf("a viewer sees %d providers (%v)", n, err)
	}
}
