package web

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// samlLogin runs a browser SAML login of user at idp through tenant
// slug's provider id and returns the session token.
func (e *e2e) samlLogin(t *testing.T, idp *testSAMLIdP, slug, id, user, password string) string {
	t.Helper()
	c := e.browser()
	resp, err := c.Get(e.srv.URL + "/sso/" + slug + "/" + id + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp = submitForm(t, c, idp.srv.URL, readAll(t, resp), url.Values{"user": {user}, "password": {password}})
	resp = submitForm(t, c, idp.srv.URL, readAll(t, resp), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("SAML login: %d", resp.StatusCode)
	}
	tok := e.sessionOf(c)
	if tok == "" {
		t.Fatal("no session")
	}
	return tok
}

// idpMessages is crewjam/saml signing logout messages as the IdP: its
// key, its entity id, addressed to Bulwark's SLO URL slo.
func (idp *testSAMLIdP) messages(key *rsa.PrivateKey, slo string) *saml.ServiceProvider {
	return &saml.ServiceProvider{
		EntityID: idp.srv.URL + "/metadata", Key: key, Certificate: idp.cert, SignatureMethod: dsig.RSASHA256SignatureMethod,
		IDPMetadata: &saml.EntityDescriptor{IDPSSODescriptors: []saml.IDPSSODescriptor{{SSODescriptor: saml.SSODescriptor{
			SingleLogoutServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: slo}},
		}}}},
	}
}

var logoutIDRE = regexp.MustCompile(`ID="([^"]+)"`)

// TestE2ESAMLSingleLogout: SAML single logout against crewjam/saml's IdP
// (login, metadata) with IdP-side logout messages signed by crewjam/saml.
// IdP-initiated: unsigned, wrongly signed and other-tenant requests are
// refused and end nothing; a signed one ends the session and is answered
// with a LogoutResponse signed with the provider's SP key. SP-initiated:
// API logout ends the session and returns the IdP URL with a signed
// LogoutRequest; the IdP's LogoutResponse is accepted once.
func TestE2ESAMLSingleLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("alpha")
		ownerB := e.tenant("bravo")
		idp := startSAMLIdP(t)
		idp.addUser(t, "carol", "carol@alpha.example", "hunter2hunter2")
		create := func(owner, slug string) (string, string) {
			v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
				"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer",
			}), 201))
			if v["sp_slo_url"] == "" || v["sp_certificate"] == "" {
				t.Fatalf("view without SLO URL or certificate: %v", v)
			}
			resp, err := e.browser().Get(v["sp_metadata_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			idp.addSP(t, slug, []byte(readAll(t, resp)))
			return v["id"].(string), v["sp_slo_url"].(string)
		}
		id, slo := create(owner, "alpha")
		_, sloB := create(ownerB, "bravo")
		nc := e.srv.Client()
		nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		get := func(u string) *http.Response {
			t.Helper()
			resp, err := nc.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		alive := func(tok string) bool {
			return e.do("GET", "/api/v1/auth/me", tok, nil).status == http.StatusOK
		}
		tok := e.samlLogin(t, idp, "alpha", id, "carol", "hunter2hunter2")

		t.Run("IdP-initiated refusals change nothing", func(t *testing.T) {
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			unsigned := idp.messages(idp.key, slo)
			unsigned.SignatureMethod = ""
			cases := map[string]string{}
			u, _ := unsigned.MakeRedirectLogoutRequest("carol@alpha.example", "")
			cases["unsigned"] = u.String()
			u, _ = idp.messages(other, slo).MakeRedirectLogoutRequest("carol@alpha.example", "")
			cases["wrong key"] = u.String()
			// A request for tenant alpha's endpoint delivered at bravo's.
			u, _ = idp.messages(idp.key, slo).MakeRedirectLogoutRequest("carol@alpha.example", "")
			cases["other tenant's endpoint"] = strings.Replace(u.String(), slo, sloB, 1)
			for name, u := range cases {
				if resp := get(u); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d", name, resp.StatusCode)
				}
			}
			// Correctly signed for bravo: accepted there, ends nothing in alpha (ISO-2).
			u, _ = idp.messages(idp.key, sloB).MakeRedirectLogoutRequest("carol@alpha.example", "")
			if resp := get(u.String()); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("bravo's own request: %d", resp.StatusCode)
			}
			if !alive(tok) {
				t.Fatal("a refused or other-tenant logout ended the session")
			}
		})

		t.Run("IdP-initiated", func(t *testing.T) {
			u, err := idp.messages(idp.key, slo).MakeRedirectLogoutRequest("carol@alpha.example", "")
			if err != nil {
				t.Fatal(err)
			}
			resp := get(u.String())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.String() != "" && !strings.HasPrefix(loc.String(), idp.srv.URL+"/slo?") {
				t.Fatalf("answer %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			q := loc.Query()
			if q.Get("SAMLResponse") == "" || q.Get("Signature") == "" || q.Get("SigAlg") != dsig.RSASHA256SignatureMethod {
				t.Fatalf("LogoutResponse not signed: %v", q)
			}
			if alive(tok) {
				t.Fatal("the session survived the IdP's logout")
			}
			// The same request again (from history, a log) is refused and
			// does not end the user's next session.
			tok2 := e.samlLogin(t, idp, "alpha", id, "carol", "hunter2hunter2")
			if resp := get(u.String()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("replayed LogoutRequest: %d", resp.StatusCode)
			}
			if !alive(tok2) {
				t.Fatal("a replayed LogoutRequest ended the next session")
			}
		})

		t.Run("SP-initiated", func(t *testing.T) {
			tok := e.samlLogin(t, idp, "alpha", id, "carol", "hunter2hunter2")
			out := decodeInto[map[string]string](t, e.want(e.do("POST", "/api/v1/auth/logout", tok, nil), http.StatusOK))
			if alive(tok) {
				t.Fatal("the session survived logout")
			}
			lu, err := url.Parse(out["logout_url"])
			if err != nil || !strings.HasPrefix(out["logout_url"], idp.srv.URL+"/slo?") || lu.Query().Get("Signature") == "" {
				t.Fatalf("logout_url %q", out["logout_url"])
			}
			b, _ := base64.StdEncoding.DecodeString(lu.Query().Get("SAMLRequest"))
			x, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
			if err != nil || !strings.Contains(string(x), "carol@alpha.example") || !strings.Contains(string(x), "SessionIndex") {
				t.Fatalf("LogoutRequest %s %v", x, err)
			}
			reqID := logoutIDRE.FindStringSubmatch(string(x))[1]
			idpSide := idp.messages(idp.key, slo)
			wrong, _ := idpSide.MakeRedirectLogoutResponse("_never-issued", "")
			if resp := get(wrong.String()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("unknown InResponseTo: %d", resp.StatusCode)
			}
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			forged, _ := idp.messages(other, slo).MakeRedirectLogoutResponse(reqID, "")
			if resp := get(forged.String()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("forged LogoutResponse: %d", resp.StatusCode)
			}
			good, _ := idpSide.MakeRedirectLogoutResponse(reqID, "")
			if resp := get(good.String()); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
				t.Fatalf("LogoutResponse: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp := get(good.String()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("replayed LogoutResponse: %d", resp.StatusCode)
			}
		})

		t.Run("password sessions log out as before", func(t *testing.T) {
			e.want(e.do("POST", "/api/v1/auth/logout", owner, nil), http.StatusNoContent)
		})
	})
}
