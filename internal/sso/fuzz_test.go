package sso

import (
	"context"
	"encoding/base64"
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
