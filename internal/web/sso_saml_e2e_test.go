package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"html"
	"html/template"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// emailNameID makes crewjam's IdP send the user's email as a persistent-
// style emailAddress NameID (its default is transient, which Bulwark
// refuses: a transient id cannot identify a person twice).
type emailNameID struct{}

func (emailNameID) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	c := *s
	c.NameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	return saml.DefaultAssertionMaker{}.MakeAssertion(req, &c)
}

// testSAMLIdP is crewjam/saml's samlidp, an independent SAML
// implementation, in process on loopback.
type testSAMLIdP struct {
	srv    *httptest.Server
	server *samlidp.Server
	key    *rsa.PrivateKey
	cert   *x509.Certificate
}

func startSAMLIdP(t *testing.T) *testSAMLIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	idp := &testSAMLIdP{key: key, cert: cert}
	var handler http.Handler
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(idp.srv.Close)
	u, _ := url.Parse(idp.srv.URL)
	// samlidp's own login form posts to /login, which only answers JSON;
	// this one posts the credentials with the request back to /sso, which
	// logs in and continues the flow.
	form := template.Must(template.New("login").Parse(`<html><p>{{.Toast}}</p><form method="post" action="` + idp.srv.URL + `/sso">` +
		`<input type="text" name="user" id="user" value="" /><input type="password" name="password" id="password" value="" />` +
		`<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}" /><input type="hidden" name="RelayState" value="{{.RelayState}}" />` +
		`<input type="submit" id="login" value="Log In" /></form></html>`))
	idp.server, err = samlidp.New(samlidp.Options{URL: *u, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{}, LoginFormTemplate: form})
	if err != nil {
		t.Fatal(err)
	}
	idp.server.IDP.SignatureMethod = dsig.RSASHA256SignatureMethod
	// samlidp serves no single logout; its metadata still announces an
	// HTTP-Redirect SLO endpoint, where tests look at what Bulwark sends.
	idp.server.IDP.LogoutURL = *u.JoinPath("slo")
	idp.server.IDP.AssertionMaker = emailNameID{}
	handler = idp.server
	return idp
}

func (idp *testSAMLIdP) addUser(t *testing.T, name, email, password string) {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err := idp.server.Store.Put("/users/"+name, samlidp.User{Name: name, Email: email, HashedPassword: h, Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
}

// addSP registers Bulwark's SP metadata (fetched from Bulwark) at the IdP,
// through the IdP's own admin API.
func (idp *testSAMLIdP) addSP(t *testing.T, name string, metadata []byte) {
	t.Helper()
	req, _ := http.NewRequest("PUT", idp.srv.URL+"/services/"+name, strings.NewReader(string(metadata)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the IdP refused Bulwark's SP metadata: %d", resp.StatusCode)
	}
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"`)
	inputRE = regexp.MustCompile(`<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"`)
)

// submitForm posts the first form of page (what a browser does by hand or
// by the IdP's script), with extra fields.
func submitForm(t *testing.T, c *http.Client, base string, page string, extra url.Values) *http.Response {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in %s", page)
	}
	action := html.UnescapeString(m[1])
	if strings.HasPrefix(action, "/") {
		action = base + action
	}
	v := url.Values{}
	for _, in := range inputRE.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	for k, vs := range extra {
		v[k] = vs
	}
	resp, err := c.PostForm(action, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestE2ESAMLLogin is AUTH-5 end to end over HTTP against crewjam's
// samlidp: metadata import by URL through the SSRF guard (loopback
// allowed by the operator), SP metadata accepted by the IdP, login with a
// signed response posted cross-site to the ACS, JIT provisioning; the
// same response replayed is refused.
func TestE2ESAMLLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("alpha")
		idp := startSAMLIdP(t)
		idp.addUser(t, "carol", "carol@alpha.example", "hunter2hunter2")

		v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
			"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer",
		}), 201))
		id := v["id"].(string)
		c := e.browser()
		resp, err := c.Get(v["sp_metadata_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		md := readAll(t, resp)
		idp.addSP(t, "bulwark", []byte(md))

		// Start at Bulwark: redirected to the IdP's login form.
		resp, err = c.Get(e.srv.URL + "/sso/alpha/" + id + "/start?return_to=/console/records")
		if err != nil {
			t.Fatal(err)
		}
		loginPage := readAll(t, resp)
		if !strings.Contains(loginPage, `name="password"`) {
			t.Fatalf("no login form: %d %s", resp.StatusCode, loginPage)
		}
		// Log in at the IdP: it answers with a form that posts the signed
		// response to Bulwark's ACS.
		resp = submitForm(t, c, idp.srv.URL, loginPage, url.Values{"user": {"carol"}, "password": {"hunter2hunter2"}})
		acsPage := readAll(t, resp)
		if !strings.Contains(acsPage, "SAMLResponse") {
			t.Fatalf("no SAMLResponse form: %d %s", resp.StatusCode, acsPage)
		}
		// The SP metadata lists an encryption certificate, so crewjam's
		// IdP encrypts the assertion to the provider's SP key.
		if raw := samlResponseOf(t, acsPage); !strings.Contains(raw, "EncryptedAssertion") || strings.Contains(raw, "carol@alpha.example") {
			t.Fatalf("assertion not encrypted: %.300s", raw)
		}
		resp = submitForm(t, c, idp.srv.URL, acsPage, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/records" {
			t.Fatalf("ACS: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		tok := e.sessionOf(c)
		e.want(e.do("GET", "/api/v1/collections", tok, nil), 200)
		e.want(e.do("GET", "/api/v1/users", tok, nil), 403)

		// The same signed response again, from another browser: refused.
		other := e.browser()
		resp = submitForm(t, other, idp.srv.URL, acsPage, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || e.sessionOf(other) != "" {
			t.Fatalf("replay: status %d", resp.StatusCode)
		}
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestE2ESAMLMetadataRefresh: an IdP that publishes a new signing
// certificate in its metadata reaches Bulwark through the periodic
// refresh, without an admin (certificate rollover).
func TestE2ESAMLMetadataRefresh(t *testing.T) {
	e := newE2E(t, "sqlite")
	owner := e.tenant("alpha")
	idp := startSAMLIdP(t)
	v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
		"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer",
	}), 201))
	id := v["id"].(string)
	svc := e.api.deps.SSO
	if _, err := svc.RefreshMetadata(context.Background()); err == nil {
		t.Fatal("a metadata refresh without the system principal was allowed")
	}
	if n, err := svc.RefreshMetadata(storetest.System(context.Background())); err != nil || n != 0 {
		t.Fatalf("unchanged metadata: updated %d, %v", n, err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "next"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	next, _ := x509.ParseCertificate(der)
	idp.server.IDP.Certificate = next
	idp.server.IDP.Key = key
	if n, err := svc.RefreshMetadata(storetest.System(context.Background())); err != nil || n != 1 {
		t.Fatalf("rolled certificate: updated %d, %v", n, err)
	}
	got := decodeInto[map[string]any](t, e.want(e.do("GET", "/api/v1/settings/sso/providers/"+id, owner, nil), 200))
	if !strings.Contains(got["idp_metadata"].(string), base64.StdEncoding.EncodeToString(next.Raw)[:40]) {
		t.Fatal("the new certificate is not in the stored metadata")
	}
}

// samlResponseOf decodes the SAMLResponse field of an auto-post page.
func samlResponseOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no SAMLResponse in %.300s", page)
	}
	b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
