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
	next := idp
	c := console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth,
		EndSession: func(ctx context.Context, logout func(context.Context) error) (string, error) {
			if err := logout(ctx); err != nil {
				return "", err
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
	_, tok2 := fx.Tenant(t, "beta")
	next = ""
	res = post(tok2)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Fatalf("plain logout %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
