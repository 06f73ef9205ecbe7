package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestConsoleBodyLimit: a console request's body is bounded as the API's
// is (1 MiB): one declared larger is refused with 413 before any form is
// parsed. (An undeclared, chunked one is cut there by MaxBytesReader; its
// effect, memory not spent, is not something a test can see reliably.)
func TestConsoleBodyLimit(t *testing.T) {
	fx := storetest.NewFixture(t, "sqlite")
	srv := httptest.NewServer(console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth}).Handler())
	defer srv.Close()
	form := url.Values{"tenant": {"acme"}, "email": {"x@acme.example"}, "password": {"x"}, "pad": {strings.Repeat("A", 2<<20)}}.Encode()
	post := func(body io.Reader) int {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/console/login", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(strings.NewReader(form)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a declared 2 MiB form: %d, want 413", got)
	}
}

// TestEnrolPageCrossSiteBeginsNothing: showing the enrolment page begins
// an enrolment (a new pending TOTP secret), so a navigation from another
// site is sent home instead: the secret the user scanned still confirms
// (ASVS V3.5.3: no state change on a cross-site GET).
func TestEnrolPageCrossSiteBeginsNothing(t *testing.T) {
	fx := storetest.NewFixture(t, "sqlite")
	_, tok := fx.Tenant(t, "acme")
	srv := httptest.NewTLSServer(console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth, Sessions: fx.DB.DB, Settings: fx.DB.DB}).Handler())
	defer srv.Close()
	cl := srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(method, site string, body url.Values) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/console/enrol", strings.NewReader(body.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: tok})
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	_, page := do("GET", "same-origin", nil)
	m := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no secret on the enrolment page")
	}
	if st, _ := do("GET", "cross-site", nil); st != http.StatusSeeOther {
		t.Fatalf("a cross-site GET of the enrolment page: %d, want 303", st)
	}
	code, err := totp.GenerateCode(m[1], fx.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := do("POST", "same-origin", url.Values{"code": {code}}); st != http.StatusOK {
		t.Fatalf("confirming the scanned secret after a cross-site GET: %d, want 200", st)
	}
}
