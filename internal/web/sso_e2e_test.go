package web

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

func TestSessionCookieIsTheConsoles(t *testing.T) {
	if sessionCookie != console.CookieName {
		t.Fatalf("sessionCookie %q != console.CookieName %q", sessionCookie, console.CookieName)
	}
}

// browser is an HTTP client with a cookie jar that follows redirects
// until it reaches the console, where it stops.
func (e *e2e) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: e.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	return &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.Path, "/console/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// sessionOf returns the session cookie the browser holds for the server.
func (e *e2e) sessionOf(c *http.Client) string {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck.Value
		}
	}
	return ""
}

func startMockOIDC(t *testing.T) *mockoidc.MockOIDC {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// TestE2EOIDCLogin is AUTH-4 end to end over HTTP against a real OpenID
// provider (oauth2-proxy/mockoidc) running in process: invite-only
// refuses an unknown person and admits an invited one; JIT creates the
// user with the default role. The session works on the API.
func TestE2EOIDCLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("alpha")
		m := startMockOIDC(t)
		cfg := m.Config()
		create := func(jit bool) string {
			body := map[string]any{"kind": "oidc", "name": "Mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "jit": jit, "default_role": "viewer", "allowed_domains": []string{"alpha.example"}}
			v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, body), 201))
			if !strings.HasSuffix(v["redirect_uri"].(string), "/sso/alpha/oidc/"+v["id"].(string)+"/callback") || v["client_secret"] != "********" {
				t.Fatalf("provider view = %v", v)
			}
			return v["id"].(string)
		}
		login := func(provider string, user *mockoidc.MockUser) (*http.Response, *http.Client) {
			m.QueueUser(user)
			c := e.browser()
			resp, err := c.Get(e.srv.URL + "/sso/alpha/" + provider + "/start?return_to=/console/records")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp, c
		}
		inviteOnly := create(false)

		t.Run("invite-only refuses an unknown person", func(t *testing.T) {
			resp, c := login(inviteOnly, &mockoidc.MockUser{Subject: "s-stranger", Email: "stranger@alpha.example", EmailVerified: true})
			if resp.StatusCode != http.StatusUnauthorized || e.sessionOf(c) != "" {
				t.Fatalf("status %d, session %q", resp.StatusCode, e.sessionOf(c))
			}
		})
		t.Run("invite-only admits an invited user", func(t *testing.T) {
			e.want(e.do("POST", "/api/v1/users", owner, map[string]any{"email": "ada@alpha.example", "grants": []map[string]string{{"role": "editor"}}}), 201)
			resp, c := login(inviteOnly, &mockoidc.MockUser{Subject: "s-ada", Email: "ada@alpha.example", EmailVerified: true})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/records" {
				t.Fatalf("status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			me := decodeInto[map[string]any](t, e.want(e.do("GET", "/api/v1/auth/me", e.sessionOf(c), nil), 200))
			if b, _ := json.Marshal(me); !strings.Contains(string(b), "ada@alpha.example") && !strings.Contains(string(b), "alpha") {
				t.Fatalf("me = %v", me)
			}
		})
		t.Run("unverified email never links", func(t *testing.T) {
			resp, c := login(inviteOnly, &mockoidc.MockUser{Subject: "s-mallory", Email: "ada@alpha.example", EmailVerified: false})
			if resp.StatusCode != http.StatusUnauthorized || e.sessionOf(c) != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("just-in-time provisioning", func(t *testing.T) {
			jit := create(true)
			resp, c := login(jit, &mockoidc.MockUser{Subject: "s-bob", Email: "bob@alpha.example", EmailVerified: true})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d", resp.StatusCode)
			}
			tok := e.sessionOf(c)
			e.want(e.do("GET", "/api/v1/collections", tok, nil), 200) // viewer reads
			e.want(e.do("GET", "/api/v1/users", tok, nil), 403)       // but manages nothing
			e.want(e.do("GET", "/api/v1/settings/sso/providers", tok, nil), 403)
		})
		t.Run("a forged callback is refused and audited", func(t *testing.T) {
			c := e.browser()
			resp, err := c.Get(e.srv.URL + "/sso/alpha/oidc/" + inviteOnly + "/callback?state=forged&code=forged")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || e.sessionOf(c) != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
			r := e.want(e.do("GET", "/api/v1/audit?target="+inviteOnly, owner, nil), 200)
			if !strings.Contains(string(r.body), `"outcome":"failure"`) || !strings.Contains(string(r.body), `"auth.login"`) {
				t.Fatalf("no failed login audited: %s", r.body)
			}
		})
		t.Run("another tenant's path refuses the provider", func(t *testing.T) {
			e.tenant("bravo")
			c := e.browser()
			resp, err := c.Get(e.srv.URL + "/sso/bravo/" + inviteOnly + "/start")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	})
}

// TestE2ESSORateLimit: the public SSO endpoints are limited per client
// address (each begun login stores a row, each answer costs a signature
// check).
func TestE2ESSORateLimit(t *testing.T) {
	e := newE2E(t, "sqlite")
	e.tenant("alpha")
	c := e.browser()
	limited := false
	for i := 0; i < 100 && !limited; i++ {
		resp, err := c.Get(e.srv.URL + "/sso/alpha/no-such-provider/start")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotFound:
		case http.StatusTooManyRequests:
			limited = true
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if !limited {
		t.Fatal("100 starts from one address were never limited")
	}
}
