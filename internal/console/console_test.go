package console_test

import (
	"context"
	"github.com/bulwarkhq/bulwark/internal/browsertest"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/mail"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// browserEnv is a console on a real store, served on loopback, and a
// headless Chromium driven by chromedp. The page is opened as
// http://localhost:PORT: a secure context for Chromium (so __Host-
// cookies and WebAuthn work) without a certificate to trust.
type browserEnv struct {
	fx   *storetest.Fixture
	base string
	ctx  context.Context
	mail chan mail.Message
}

// chanMailer hands messages to the test.
type chanMailer chan mail.Message

func (c chanMailer) Send(_ context.Context, m mail.Message) error { c <- m; return nil }

func newBrowserEnv(t *testing.T) *browserEnv {
	path := browsertest.Path(t)
	fx := storetest.NewFixture(t, "sqlite")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	mails := make(chan mail.Message, 100)
	svc := auth.New(fx.DB.DB, auth.Options{Params: storetest.FastHashing, Now: fx.Clock.Now, BaseURL: base, Mailer: chanMailer(mails)})
	fx.Auth = svc
	c := console.New(console.Deps{Auth: svc, Account: svc, Sessions: fx.DB.DB, Settings: fx.DB.DB})
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	bctx := browsertest.Start(t, path, base+"/console/login")
	return &browserEnv{fx: fx, base: base, ctx: bctx, mail: mails}
}

func (b *browserEnv) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browsertest.Run(t, b.ctx, 20*time.Second, actions...)
}

// text returns the visible text of the element sel.
func (b *browserEnv) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *browserEnv) login(t *testing.T, tenant, email, pw string) {
	t.Helper()
	b.run(t,
		chromedp.Navigate(b.base+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#tenant"), tenant),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#submit")),
	)
}

func (b *browserEnv) location(t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

func (b *browserEnv) logout(t *testing.T) {
	t.Helper()
	b.run(t, chromedp.Navigate(b.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#logout")), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
}

func owner(slug string) string { return "owner@" + slug + ".example" }

// TestBrowser drives the console in headless Chromium: password sign-in
// with the __Host- cookie, TOTP enrolment and sign-in, passkey
// registration and sign-in with Chromium's virtual authenticator, and a
// tenant that enforces MFA blocking a password-only user.
func TestBrowser(t *testing.T) {
	b := newBrowserEnv(t)
	own, _ := b.fx.Tenant(t, "acme")

	t.Run("password login", func(t *testing.T) {
		b.login(t, "acme", owner("acme"), storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#whoami")))
		who := b.text(t, "#whoami")
		if !strings.Contains(who, "acme") {
			t.Fatalf("home says %q", who)
		}
		// The session cookie is __Host-, Secure, HttpOnly, SameSite=Lax,
		// and invisible to scripts.
		cookies, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.cookie`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cookies, "bulwark") {
			t.Fatalf("the session cookie is readable by scripts: %q", cookies)
		}
		b.logout(t)
		// A wrong password: the generic error.
		b.login(t, "acme", owner("acme"), "not the password at all")
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#error")))
	})

	var secret string
	t.Run("TOTP enrolment and login", func(t *testing.T) {
		b.login(t, "acme", owner("acme"), storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#whoami")),
			chromedp.Navigate(b.base+"/console/enrol"),
			chromedp.WaitVisible(chromedp.CSS("#secret")))
		secret = b.text(t, "#secret")
		code, _ := totp.GenerateCode(strings.TrimSpace(secret), b.fx.Clock.Now())
		b.run(t, chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("#codes")))
		codes := b.text(t, "#codes")
		if n := len(strings.Fields(codes)); n != 10 {
			t.Fatalf("%d recovery codes shown", n)
		}
		b.run(t, chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#whoami")))
		b.logout(t)
		b.fx.Clock.Advance(30 * time.Second)
		b.login(t, "acme", owner("acme"), storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#totp")))
		if loc := b.location(t); loc != "/console/mfa" {
			t.Fatalf("after the password: %s", loc)
		}
		// Home is out of reach until the code is given.
		b.run(t, chromedp.Navigate(b.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#totp")))
		code, _ = totp.GenerateCode(strings.TrimSpace(secret), b.fx.Clock.Now())
		b.run(t, chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")))
		b.logout(t)
	})

	t.Run("passkey registration and login", func(t *testing.T) {
		// Chromium's virtual authenticator: a platform authenticator with
		// user verification that always succeeds.
		if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}}); err != nil {
			t.Fatal(err)
		}
		b.fx.User(t, own, "pat@acme.example", bulwark.Grant{Role: bulwark.RoleEditor})
		b.login(t, "acme", "pat@acme.example", storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#whoami")),
			chromedp.Navigate(b.base+"/console/enrol"),
			chromedp.WaitVisible(chromedp.CSS("#passkey-register")),
			chromedp.Click(chromedp.CSS("#passkey-register")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")))
		b.logout(t)
		b.login(t, "acme", "pat@acme.example", storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#passkey-login")),
			chromedp.Click(chromedp.CSS("#passkey-login")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")))
		b.logout(t)
	})

	t.Run("password reset by emailed link keeps the passkey", func(t *testing.T) {
		b.run(t, chromedp.Navigate(b.base+"/console/forgot"),
			chromedp.SendKeys(chromedp.CSS("input[name=tenant]"), "acme"),
			chromedp.SendKeys(chromedp.CSS("input[name=email]"), "pat@acme.example"),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#notice")))
		var link string
		for link == "" {
			select {
			case m := <-b.mail:
				if strings.Contains(m.Subject, "Reset") {
					i := strings.Index(m.Body, b.base+"/console/reset#token=")
					link = strings.Fields(m.Body[i:])[0]
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no reset mail")
			}
		}
		b.run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#reset")))
		// console.js moved the token into the form and out of the URL.
		if loc := b.location(t); loc != "/console/reset" {
			t.Fatalf("the token stayed in the address bar: %s", loc)
		}
		b.run(t, chromedp.SendKeys(chromedp.CSS("input[name=password]"), "marble orchard lantern kite"),
			chromedp.Click(chromedp.CSS("#reset button")),
			chromedp.WaitVisible(chromedp.CSS("#notice")))
		b.login(t, "acme", "pat@acme.example", "marble orchard lantern kite")
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#passkey-login")),
			chromedp.Click(chromedp.CSS("#passkey-login")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")))
		b.logout(t)
	})

	t.Run("admin requires MFA in the console; a password-only user is blocked", func(t *testing.T) {
		b.fx.Clock.Advance(time.Minute)
		b.login(t, "acme", owner("acme"), storetest.Password)
		code, _ := totp.GenerateCode(strings.TrimSpace(secret), b.fx.Clock.Now())
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#totp")),
			chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS("#whoami")),
			// The owner's sessions are listed.
			chromedp.Click(chromedp.CSS("#sessions-link")),
			chromedp.WaitVisible(chromedp.CSS("#sessions")))
		if rows := b.text(t, "#sessions"); !strings.Contains(rows, "this session") {
			t.Fatalf("sessions page: %q", rows)
		}
		b.run(t, chromedp.Navigate(b.base+"/console/settings"),
			chromedp.WaitVisible(chromedp.CSS("#settings")),
			chromedp.SetValue(chromedp.CSS("#mfa"), "everyone"),
			chromedp.Click(chromedp.CSS("#save")),
			chromedp.WaitVisible(chromedp.CSS("#notice")))
		b.logout(t)
		b.fx.User(t, own, "vic@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		b.login(t, "acme", "vic@acme.example", storetest.Password)
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#must-enrol")))
		if loc := b.location(t); loc != "/console/enrol" {
			t.Fatalf("a password-only user in an enforced tenant is at %s", loc)
		}
		for _, page := range []string{"/console/", "/console/sessions", "/console/settings"} {
			b.run(t, chromedp.Navigate(b.base+page), chromedp.WaitVisible(chromedp.CSS("#must-enrol")))
		}
	})
}

// TestCrossOriginPostRefused: a state-changing request from another site
// is refused by http.CrossOriginProtection (CSRF), and every page carries
// a CSP without inline script.
func TestCrossOriginPostRefused(t *testing.T) {
	fx := storetest.NewFixture(t, "sqlite")
	c := console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/console/login", strings.NewReader("tenant=a&email=b&password=c"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", res.StatusCode)
	}
	res, err = http.Get(srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
}

// TestConsoleSecurityHeaders: console pages, redirects, refusals and 404s
// carry the same security headers as the API (DATA-2).
func TestConsoleSecurityHeaders(t *testing.T) {
	fx := storetest.NewFixture(t, "sqlite")
	srv := httptest.NewServer(console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth}).Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/console/login", "/console/", "/console/nope", "/console/static/console.js"} {
		res, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, h := range []string{"Strict-Transport-Security", "X-Content-Type-Options", "Content-Security-Policy", "X-Frame-Options",
			"Referrer-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Permissions-Policy", "Cache-Control"} {
			if res.Header.Get(h) == "" {
				t.Errorf("GET %s (%d) has no %s", path, res.StatusCode, h)
			}
		}
	}
}
