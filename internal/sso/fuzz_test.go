package sso

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"
)

// FuzzSAMLResponse feeds arbitrary bytes to the ACS: it must refuse
// without panicking, and never return an identity for input the test IdP
// did not sign.
func FuzzSAMLResponse(f *testing.F) {
	t := &testing.T{}
	e := newSAMLEnv(t)
	e.pr.IdPInitiated = true
	good, _ := e.idp.response(t, e.u, e.now, respOpts{}).WriteToBytes()
	f.Add(good)
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, _, err := e.sp.ACS(context.Background(), e.st, e.pr, e.u, base64.StdEncoding.EncodeToString(b), "", "")
		if err == nil && string(b) != string(good) {
			// A mutation that still verifies must leave the signed
			// identity unchanged.
			if id.Subject != "ada@example.com" || id.Issuer != e.idp.entityID {
				t.Fatalf("forged identity accepted: %+v", id)
			}
		}
	})
}

// FuzzMetadata: metadata parsing refuses or succeeds, never panics.
func FuzzMetadata(f *testing.F) {
	a, _ := testKeys(nil)
	idp := newTestIdP(&testing.T{}, "https://idp.example/", a)
	f.Add([]byte(idp.metadata()))
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseMetadata(b)
		if err == nil && (md.EntityID == "" || md.SSOURL == "" || len(md.Certs) == 0) {
			t.Fatalf("incomplete metadata accepted: %+v", md)
		}
	})
}

// FuzzSLO feeds arbitrary logout messages to the SLO endpoint's reader,
// as a POSTed form value and as a redirect query: it must refuse without
// panicking, and whatever it accepts must be the test IdP's signed
// request for Ada.
func FuzzSLO(f *testing.F) {
	t := &testing.T{}
	e := newSAMLEnv(t)
	cj := idpSide(e.idp, e.u.SLO)
	u, _ := cj.MakeRedirectLogoutRequest("ada@example.com", "")
	page, _ := cj.MakePostLogoutRequest("ada@example.com", "")
	signedPost, _ := base64.StdEncoding.DecodeString(postValue(t, page))
	f.Add(signedPost, u.RawQuery)
	f.Add([]byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`), "SAMLRequest=x&SigAlg=y&Signature=z")
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`), "SAMLResponse=%00&RelayState=%ZZ")
	md, _ := ParseMetadata([]byte(e.pr.IdPMetadata))
	f.Fuzz(func(t *testing.T, doc []byte, query string) {
		check := func(m *sloMessage, err error) {
			if err != nil {
				return
			}
			if m.request == nil || m.request.NameID == nil || m.request.NameID.Value != "ada@example.com" {
				t.Fatalf("accepted a logout message the IdP did not sign: %+v", m)
			}
		}
		check(e.sp.readSLO(e.pr, md, e.u, SLOInput{Post: true, Form: url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(doc)}}}))
		check(e.sp.readSLO(e.pr, md, e.u, SLOInput{RawQuery: query}))
	})
}
