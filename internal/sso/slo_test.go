package sso

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

var _ = xmlenc.OAEP // the same module as the IdP side below

// idpSide is crewjam/saml playing the IdP's part of single logout: its
// ServiceProvider type builds and signs LogoutRequests and
// LogoutResponses for any peer, here with the test IdP's key and entity
// id, addressed to Bulwark's SLO endpoint. An implementation independent
// of gosaml2 and of Bulwark's code.
func idpSide(idp *testIdP, slo string) *saml.ServiceProvider {
	return &saml.ServiceProvider{
		EntityID: idp.entityID, Key: idp.key, Certificate: idp.cert, SignatureMethod: dsig.RSASHA256SignatureMethod,
		IDPMetadata: &saml.EntityDescriptor{IDPSSODescriptors: []saml.IDPSSODescriptor{{SSODescriptor: saml.SSODescriptor{
			SingleLogoutServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: slo}, {Binding: saml.HTTPPostBinding, Location: slo}},
		}}}},
	}
}

var postValueRE = regexp.MustCompile(`name="(SAMLRequest|SAMLResponse)" value="([^"]+)"`)

func postValue(t *testing.T, page []byte) string {
	t.Helper()
	m := postValueRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no SAML value in %s", page)
	}
	return strings.NewReplacer("&#43;", "+", "&#x2B;", "+", "&#61;", "=", "&#x3D;", "=", "&#47;", "/").Replace(string(m[2]))
}

// querySigned builds an HTTP-Redirect message signed over the query, the
// way the bindings specification (3.4.4.1) says, with the standard
// library.
func querySigned(t *testing.T, key *rsa.PrivateKey, dest, param, xmlDoc, sigAlg string) string {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write([]byte(xmlDoc))
	fw.Close()
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&SigAlg=" + url.QueryEscape(sigAlg)
	h := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return dest + "?" + q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

func (e *samlEnv) logoutXML(nameID, dest string, issued time.Time) string {
	return `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_q` + randomToken()[:16] + `" Version="2.0" IssueInstant="` +
		issued.UTC().Format(time.RFC3339) + `" Destination="` + dest + `"><saml:Issuer>` + e.idp.entityID + `</saml:Issuer><saml:NameID>` + nameID + `</saml:NameID></samlp:LogoutRequest>`
}

func (e *samlEnv) readURL(t *testing.T, loc string) (*sloMessage, error) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := ParseMetadata([]byte(e.pr.IdPMetadata))
	return e.sp.readSLO(e.pr, md, e.u, SLOInput{RawQuery: u.RawQuery})
}

func (e *samlEnv) readPost(t *testing.T, field, value string) (*sloMessage, error) {
	t.Helper()
	md, _ := ParseMetadata([]byte(e.pr.IdPMetadata))
	return e.sp.readSLO(e.pr, md, e.u, SLOInput{Post: true, Form: url.Values{field: {value}}})
}

// IdP-initiated logout messages: accepted only when signed by the IdP's
// metadata key (XML signature in either binding, or the redirect query
// signature), addressed to this provider's SLO URL, fresh and SHA-2.
func TestSLORequests(t *testing.T) {
	e := newSAMLEnv(t)
	cj := idpSide(e.idp, e.u.SLO)
	_, other := testKeys(t)
	foreign := newTestIdP(t, e.idp.entityID, other)
	otherTenant := spURLs("beta", "s1")

	accept := map[string]func() (*sloMessage, error){
		"crewjam HTTP-Redirect (XML signature)": func() (*sloMessage, error) {
			u, err := cj.MakeRedirectLogoutRequest("ada@example.com", "")
			if err != nil {
				t.Fatal(err)
			}
			return e.readURL(t, u.String())
		},
		"crewjam HTTP-POST": func() (*sloMessage, error) {
			page, err := cj.MakePostLogoutRequest("ada@example.com", "")
			if err != nil {
				t.Fatal(err)
			}
			return e.readPost(t, "SAMLRequest", postValue(t, page))
		},
		"query signature": func() (*sloMessage, error) {
			return e.readURL(t, querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", e.u.SLO, e.now), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
		},
	}
	for name, f := range accept {
		t.Run(name, func(t *testing.T) {
			m, err := f()
			if err != nil || m.request == nil || m.request.NameID == nil || m.request.NameID.Value != "ada@example.com" {
				t.Fatalf("%+v %v", m, err)
			}
		})
	}
	refuse := map[string]func() (*sloMessage, error){
		"unsigned HTTP-Redirect": func() (*sloMessage, error) {
			cj := idpSide(e.idp, e.u.SLO)
			cj.SignatureMethod = ""
			u, _ := cj.MakeRedirectLogoutRequest("ada@example.com", "")
			return e.readURL(t, u.String())
		},
		"unsigned HTTP-POST": func() (*sloMessage, error) {
			cj := idpSide(e.idp, e.u.SLO)
			cj.SignatureMethod = ""
			page, _ := cj.MakePostLogoutRequest("ada@example.com", "")
			return e.readPost(t, "SAMLRequest", postValue(t, page))
		},
		"signed by a key not in the metadata (XML)": func() (*sloMessage, error) {
			u, _ := idpSide(foreign, e.u.SLO).MakeRedirectLogoutRequest("ada@example.com", "")
			return e.readURL(t, u.String())
		},
		"signed by a key not in the metadata (query)": func() (*sloMessage, error) {
			return e.readURL(t, querySigned(t, other, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", e.u.SLO, e.now), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
		},
		"another tenant's SLO URL": func() (*sloMessage, error) {
			u, _ := idpSide(e.idp, otherTenant.SLO).MakeRedirectLogoutRequest("ada@example.com", "")
			return e.readURL(t, u.String())
		},
		"no destination": func() (*sloMessage, error) {
			return e.readURL(t, querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", "", e.now), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
		},
		"stale": func() (*sloMessage, error) {
			return e.readURL(t, querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", e.u.SLO, e.now.Add(-time.Hour)), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
		},
		"SHA-1 query signature": func() (*sloMessage, error) {
			return e.readURL(t, querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", e.u.SLO, e.now), "http://www.w3.org/2000/09/xmldsig#rsa-sha1"))
		},
		"query signature, NameID swapped": func() (*sloMessage, error) {
			good := querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("ada@example.com", e.u.SLO, e.now), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
			evil := querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", e.logoutXML("bob@example.com", e.u.SLO, e.now), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
			gu, _ := url.Parse(good)
			eu, _ := url.Parse(evil)
			gq, eq := gu.Query(), eu.Query()
			gq.Set("SAMLRequest", eq.Get("SAMLRequest"))
			gu.RawQuery = gq.Encode()
			return e.readURL(t, gu.String())
		},
		"a response where a request is expected (POST, both)": func() (*sloMessage, error) {
			md, _ := ParseMetadata([]byte(e.pr.IdPMetadata))
			return e.sp.readSLO(e.pr, md, e.u, SLOInput{Post: true, Form: url.Values{"SAMLRequest": {"x"}, "SAMLResponse": {"y"}}})
		},
		"deflate bomb": func() (*sloMessage, error) {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.BestCompression)
			io.Copy(fw, io.LimitReader(zeros{}, 64<<20))
			fw.Close()
			return e.readURL(t, e.u.SLO+"?SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())))
		},
	}
	for name, f := range refuse {
		t.Run(name, func(t *testing.T) {
			m, err := f()
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// withRedirectSLO makes the test IdP's metadata offer HTTP-Redirect SLO.
func (e *samlEnv) withRedirectSLO() {
	e.pr.IdPMetadata = strings.Replace(e.pr.IdPMetadata, `SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`, `SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"`, 1)
}

// verifyRedirect checks a redirect-binding URL's query signature with
// cert (standard library) and returns the inflated message.
func verifyRedirect(t *testing.T, loc string, cert *x509.Certificate, param string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	signed := param + "=" + url.QueryEscape(q.Get(param)) + "&SigAlg=" + url.QueryEscape(q.Get("SigAlg"))
	sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err := cert.CheckSignature(x509.SHA256WithRSA, []byte(signed), sig); err != nil {
		t.Fatalf("query signature: %v", err)
	}
	b, _ := base64.StdEncoding.DecodeString(q.Get(param))
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return string(x)
}

// SP-initiated: the LogoutRequest goes to the IdP's SLO endpoint signed
// with the provider's SP key, names the NameID and SessionIndex, and its
// id is stored as a logout request; the IdP's signed LogoutResponse
// (crewjam) is read back.
func TestStartLogout(t *testing.T) {
	e := newSAMLEnv(t)
	k, _ := testSPKeys(t)
	ref := &SessionRef{ProviderID: "s1", NameID: "ada@example.com", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", SessionIndex: "_s1"}
	if ans, err := e.sp.StartLogout(context.Background(), e.st, e.pr, e.u, ref); err != nil || ans != nil {
		t.Fatalf("without an SP key: %+v %v", ans, err)
	}
	e.pr.SPKey = k

	// The test IdP offers only HTTP-POST: a form with an enveloped XML
	// signature, verified here by goxmldsig against the SP certificate.
	ans, err := e.sp.StartLogout(context.Background(), e.st, e.pr, e.u, ref)
	if err != nil || ans == nil || ans.PostURL != "https://idp.example/slo" || ans.PostField != "SAMLRequest" || ans.PostOrigin() != "https://idp.example" {
		t.Fatalf("POST binding: %+v %v", ans, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(ans.PostValue)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{k.Cert}})
	verified, err := vc.Validate(doc.Root())
	if err != nil || verified.SelectElement("NameID") == nil || verified.SelectElement("NameID").Text() != "ada@example.com" {
		t.Fatalf("POST LogoutRequest signature: %v", err)
	}
	if page := ans.FormHTML(); !strings.Contains(page, `action="https://idp.example/slo"`) || strings.Contains(page, "<script") {
		t.Fatalf("form %s", page)
	}

	e.withRedirectSLO()
	ans, err = e.sp.StartLogout(context.Background(), e.st, e.pr, e.u, ref)
	if err != nil || ans == nil || !strings.HasPrefix(ans.Redirect, "https://idp.example/slo?") {
		t.Fatalf("%+v %v", ans, err)
	}
	loc := ans.Redirect
	var lr struct {
		ID           string `xml:"ID,attr"`
		Destination  string `xml:"Destination,attr"`
		Issuer       string `xml:"Issuer"`
		NameID       string `xml:"NameID"`
		SessionIndex string `xml:"SessionIndex"`
	}
	if err := xml.Unmarshal([]byte(verifyRedirect(t, loc, k.Cert, "SAMLRequest")), &lr); err != nil {
		t.Fatal(err)
	}
	if lr.Destination != "https://idp.example/slo" || lr.Issuer != e.u.EntityID || lr.NameID != "ada@example.com" || lr.SessionIndex != "_s1" {
		t.Fatalf("LogoutRequest %+v", lr)
	}
	if r, ok := e.st.reqs[lr.ID]; !ok || r.Nonce != logoutNonce {
		t.Fatalf("request not stored as a logout: %+v", r)
	}
	cj := idpSide(e.idp, e.u.SLO)
	u, err := cj.MakeRedirectLogoutResponse(lr.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.readURL(t, u.String())
	if err != nil || m.response == nil || m.response.InResponseTo != lr.ID {
		t.Fatalf("%+v %v", m, err)
	}
}

// Bulwark's LogoutResponse to an IdP's request: on HTTP-Redirect signed
// over the query with the SP key; on HTTP-POST with an XML signature that
// crewjam/saml verifies against the SP certificate.
func TestAnswerLogout(t *testing.T) {
	e := newSAMLEnv(t)
	k, _ := testSPKeys(t)
	e.pr.SPKey = k
	md, _ := ParseMetadata([]byte(e.pr.IdPMetadata))
	ans, err := e.sp.answerLogout(e.pr, md, e.u, "_req1", "")
	if err != nil || ans.PostURL != "https://idp.example/slo" {
		t.Fatalf("%+v %v", ans, err)
	}
	// crewjam as the receiving IdP: it trusts the SP certificate.
	spCert := base64.StdEncoding.EncodeToString(k.Cert.Raw)
	recv := &saml.ServiceProvider{
		EntityID: e.idp.entityID, SloURL: mustURL("https://idp.example/slo"),
		IDPMetadata: &saml.EntityDescriptor{EntityID: e.u.EntityID, IDPSSODescriptors: []saml.IDPSSODescriptor{{SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
			KeyDescriptors: []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{{Data: spCert}}}}}},
		}}}}},
	}
	if err := recv.ValidateLogoutResponseForm(ans.PostValue); err != nil {
		t.Fatalf("crewjam refuses Bulwark's LogoutResponse: %v", err)
	}
	_, wrong := testSPKeys(t)
	recv.IDPMetadata.IDPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data = base64.StdEncoding.EncodeToString(wrong.Cert.Raw)
	if err := recv.ValidateLogoutResponseForm(ans.PostValue); err == nil {
		t.Fatal("check is vacuous")
	}

	e.withRedirectSLO()
	md, _ = ParseMetadata([]byte(e.pr.IdPMetadata))
	ans, err = e.sp.answerLogout(e.pr, md, e.u, "_req2", "")
	if err != nil || ans.Redirect == "" {
		t.Fatalf("%+v %v", ans, err)
	}
	x := verifyRedirect(t, ans.Redirect, k.Cert, "SAMLResponse")
	if !strings.Contains(x, `InResponseTo="_req2"`) || !strings.Contains(x, `Destination="https://idp.example/slo"`) || !strings.Contains(x, "status:Success") {
		t.Fatalf("LogoutResponse %s", x)
	}
	e.pr.SPKey = nil
	if ans, err := e.sp.answerLogout(e.pr, md, e.u, "_req3", ""); ans != nil || err != nil {
		t.Fatalf("answered without a key: %+v %v", ans, err)
	}
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

// SessionIndex values of an IdP's LogoutRequest are read from signed
// bytes only, in both bindings and both signature forms.
func TestSLOSessionIndex(t *testing.T) {
	e := newSAMLEnv(t)
	cj := idpSide(e.idp, e.u.SLO)
	withIndex := func() *saml.LogoutRequest {
		req, err := cj.MakeLogoutRequest(e.u.SLO, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		req.Signature = nil
		req.SessionIndex = &saml.SessionIndex{Value: "_s42"}
		if err := cj.SignLogoutRequest(req); err != nil {
			t.Fatal(err)
		}
		return req
	}
	post := withIndex().Post("")
	for name, read := range map[string]func() (*sloMessage, error){
		"crewjam HTTP-POST":     func() (*sloMessage, error) { return e.readPost(t, "SAMLRequest", postValue(t, post)) },
		"crewjam HTTP-Redirect": func() (*sloMessage, error) { return e.readURL(t, withIndex().Redirect("").String()) },
		"query signature": func() (*sloMessage, error) {
			x := strings.Replace(e.logoutXML("ada@example.com", e.u.SLO, e.now), "</samlp:LogoutRequest>", "<samlp:SessionIndex>_s42</samlp:SessionIndex></samlp:LogoutRequest>", 1)
			return e.readURL(t, querySigned(t, e.idp.key, e.u.SLO, "SAMLRequest", x, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := read()
			if err != nil || len(m.sessionIndexes) != 1 || m.sessionIndexes[0] != "_s42" {
				t.Fatalf("%+v %v", m, err)
			}
		})
	}
}
