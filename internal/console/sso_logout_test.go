package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestConsoleLogoutSingleLogout: a console logout goes through
// EndSession, which ends the session (through the logout it is given)
// and may name the IdP's single-logout URL; the console then sends the
// browser there with a page that navigates by itself (a redirect after a
// form post would be stopped by form-action 'self'), no script. Without
// an IdP URL it redirects to the login page as before.
func TestConsoleLogoutSingleLogout(t *testing.T) {
	fx := storetest.NewFixture(t, "sqlite")
	_, tok := fx.Tenant(t, "acme")
	const idp = "https://idp.example/slo?SAMLRequest=x&Signature=y"
	next := &sso.LogoutAnswer{Redirect: idp}
	c := console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth,
		EndSession: func(ctx context.Context, logout func(context.Context) error) (*sso.LogoutAnswer, error) {
			if err := logout(ctx); err != nil {
				return nil, err
			}
			return next, nil
		}})
	srv := httptest.NewTLSServer(c.Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	post := func(tok string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/console/logout", nil)
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: tok})
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := post(tok)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `http-equiv="refresh" content="0;url=`+html.EscapeString(idp)+`"`) || strings.Contains(string(body), "<script") {
		t.Fatalf("logout page %d %s", res.StatusCode, body)
	}
	if _, err := fx.Auth.Authenticate(context.Background(), tok); err == nil {
		t.Fatal("the session survived logout")
	}
	// HTTP-POST binding: a form to the IdP, and a CSP whose form-action
	// admits the IdP's origin (and nothing else new).
	_, tok3 := fx.Tenant(t, "gamma")
	next = &sso.LogoutAnswer{PostURL: "https://idp.example/slo", PostField: "SAMLRequest", PostValue: "PHNhbWxwOkxvZ291dFJlcXVlc3Q+"}
	res = post(tok3)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post" action="https://idp.example/slo">`) || !strings.Contains(string(body), `name="SAMLRequest"`) ||
		!strings.Contains(csp, "form-action 'self' https://idp.example;") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(string(body), "<script") {
		t.Fatalf("POST logout page %d %q %s", res.StatusCode, csp, body)
	}
	_, tok2 := fx.Tenant(t, "beta")
	next = nil
	res = post(tok2)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Fatalf("plain logout %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
