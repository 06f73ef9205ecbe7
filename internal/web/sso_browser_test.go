package web

import (
	"context"
	"github.com/bulwarkhq/bulwark/internal/browsertest"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/bulwarkhq/bulwark/internal/console"
)

// ssoBrowser is the API and the console on one loopback listener, opened
// as http://localhost:PORT (a secure context for Chromium, so __Host-
// cookies work without a certificate to trust), and a headless Chromium
// driven by chromedp, as in the console's own browser tests.
type ssoBrowser struct {
	e    *e2e
	base string
	ctx  context.Context
}

func newSSOBrowser(t *testing.T) *ssoBrowser {
	path := browsertest.Path(t)
	e := newE2E(t, "sqlite")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e.api.deps.SSO.BaseURL = base
	e.api.deps.SSO.Guard.Allow = append(e.api.deps.SSO.Guard.Allow, netip.MustParsePrefix("::1/128"))
	c := console.New(console.Deps{Auth: e.fx.Auth, Account: e.fx.Auth, EndSession: e.api.deps.SSO.EndSession}).Handler()
	api := e.api.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/console/") {
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	bctx := browsertest.Start(t, path, base+"/healthz")
	return &ssoBrowser{e: e, base: base, ctx: bctx}
}

func (b *ssoBrowser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browsertest.Run(t, b.ctx, 30*time.Second, actions...)
}

func (b *ssoBrowser) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fresh forgets every cookie, as a new browser would.
func (b *ssoBrowser) fresh(t *testing.T) {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSSO logs in through single sign-on in headless Chromium:
// OpenID Connect against oauth2-proxy/mockoidc (invite-only, then JIT),
// and SAML against crewjam's samlidp (the IdP's own login form, its
// auto-submitting cross-site POST to the ACS). Each ends on the console
// home page, signed in to the tenant.
func TestBrowserSSO(t *testing.T) {
	b := newSSOBrowser(t)
	e := b.e
	owner := e.tenant("alpha")
	m := startMockOIDC(t)
	cfg := m.Config()
	provider := func(body map[string]any) string {
		v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, body), 201))
		return v["id"].(string)
	}
	signedIn := func(t *testing.T) {
		t.Helper()
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#whoami")))
		if who := b.text(t, "#whoami"); !strings.Contains(who, "alpha") {
			t.Fatalf("whoami = %q", who)
		}
	}

	t.Run("OIDC invite-only", func(t *testing.T) {
		id := provider(map[string]any{"kind": "oidc", "name": "Mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret})
		e.want(e.do("POST", "/api/v1/users", owner, map[string]any{"email": "ada@alpha.example", "grants": []map[string]string{{"role": "editor"}}}), 201)
		m.QueueUser(&mockoidc.MockUser{Subject: "s-ada", Email: "ada@alpha.example", EmailVerified: true})
		_ = id
		// From the console's sign-in page: the organisation's name is
		// enough to reach its identity provider.
		b.fresh(t)
		b.run(t,
			chromedp.Navigate(b.base+"/console/login"),
			chromedp.WaitVisible(chromedp.CSS("#sso-tenant")),
			chromedp.SendKeys(chromedp.CSS("#sso-tenant"), "alpha"),
			chromedp.Click(chromedp.CSS("#sso-submit")),
		)
		signedIn(t)
	})
	t.Run("OIDC just-in-time", func(t *testing.T) {
		id := provider(map[string]any{"kind": "oidc", "name": "Mock JIT", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "jit": true, "default_role": "viewer", "allowed_domains": []string{"alpha.example"}})
		m.QueueUser(&mockoidc.MockUser{Subject: "s-bob", Email: "bob@alpha.example", EmailVerified: true})
		b.fresh(t)
		b.run(t, chromedp.Navigate(b.base+"/sso/alpha/"+id+"/start"))
		signedIn(t)
	})
	t.Run("SAML against samlidp", func(t *testing.T) {
		idp := startSAMLIdP(t)
		idp.addUser(t, "carol", "carol@alpha.example", "hunter2hunter2")
		id := provider(map[string]any{"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer"})
		resp, err := http.Get(b.base + "/sso/alpha/saml/" + id + "/metadata")
		if err != nil {
			t.Fatal(err)
		}
		idp.addSP(t, "bulwark", []byte(readAll(t, resp)))
		b.fresh(t)
		b.run(t,
			chromedp.Navigate(b.base+"/sso/alpha/"+id+"/start?return_to=/console/"),
			chromedp.WaitVisible(chromedp.CSS("#user")),
			chromedp.SendKeys(chromedp.CSS("#user"), "carol"),
			chromedp.SendKeys(chromedp.CSS("#password"), "hunter2hunter2"),
			chromedp.Click(chromedp.CSS("#login")),
		)
		signedIn(t)

		// Signing out of the console ends Bulwark's session and takes
		// the browser on to the IdP's single-logout endpoint with a
		// signed LogoutRequest (SP-initiated single logout), through the
		// console's CSP.
		b.run(t, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitReady(chromedp.CSS("body")))
		var loc string
		for range 100 {
			var err error
			if loc, err = chromedp.Run(b.ctx, chromedp.Location()); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(loc, idp.srv.URL) {
				break
			}
			b.run(t, chromedp.Sleep(50*time.Millisecond))
		}
		if !strings.HasPrefix(loc, idp.srv.URL+"/slo?") || !strings.Contains(loc, "SAMLRequest=") || !strings.Contains(loc, "Signature=") {
			t.Fatalf("after sign-out the browser is at %q", loc)
		}
		b.run(t, chromedp.Navigate(b.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#login")))
	})
}
