package sso

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"strings"
	"time"

	"github.com/russellhaering/gosaml2/types"

	"github.com/bulwarkhq/bulwark"
)

// SAML bindings.
const (
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// IdPMetadata is what Bulwark takes from an identity provider's metadata.
// Every signing certificate listed is trusted at once, so an IdP that
// publishes its next certificate beside the current one rolls over
// without downtime.
type IdPMetadata struct {
	EntityID   string
	SSOURL     string
	SSOBinding string
	SLOURL     string
	SLOBinding string
	Certs      []*x509.Certificate
	ValidUntil time.Time
}

// ParseMetadata reads an IdP's EntityDescriptor.
func ParseMetadata(b []byte) (*IdPMetadata, error) {
	bad := func(msg string) error { return bulwark.FieldError("idp_metadata", msg) }
	s, err := checkXML(b, MaxMetadataBytes)
	if err != nil {
		return nil, &bulwark.Error{Code: bulwark.EInvalid, Message: "invalid idp_metadata: not acceptable XML", Fields: map[string]string{"idp_metadata": "not acceptable XML"}, Err: err}
	}
	if s.root.Local != "EntityDescriptor" {
		return nil, bad("must be one EntityDescriptor")
	}
	var ed types.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		return nil, bad("cannot be read as SAML metadata")
	}
	idp := ed.IDPSSODescriptor
	if ed.EntityID == "" || idp == nil {
		return nil, bad("has no entityID or IDPSSODescriptor")
	}
	md := &IdPMetadata{EntityID: ed.EntityID, ValidUntil: ed.ValidUntil}
	for _, s := range idp.SingleSignOnServices {
		if (s.Binding == BindingRedirect || (s.Binding == BindingPOST && md.SSOBinding != BindingRedirect)) && httpsOrLoopback(s.Location) {
			md.SSOURL, md.SSOBinding = s.Location, s.Binding
		}
	}
	for _, s := range idp.SingleLogoutServices {
		if (s.Binding == BindingRedirect || s.Binding == BindingPOST) && httpsOrLoopback(s.Location) && md.SLOURL == "" {
			md.SLOURL, md.SLOBinding = s.Location, s.Binding
		}
	}
	if md.SSOURL == "" {
		return nil, bad("has no HTTP-Redirect or HTTP-POST SingleSignOnService")
	}
	for _, kd := range idp.KeyDescriptors {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
			if err != nil {
				return nil, bad("holds a certificate that is not base64")
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, bad("holds a certificate that cannot be parsed")
			}
			md.Certs = append(md.Certs, cert)
		}
	}
	if len(md.Certs) == 0 {
		return nil, bad("has no signing certificate")
	}
	return md, nil
}

// httpsOrLoopback accepts https URLs, and http only on loopback (tests and
// local development).
func httpsOrLoopback(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasPrefix(u, "http://localhost:")
}

// FetchMetadata downloads and parses metadata through the SSRF guard.
func (g *Guard) FetchMetadata(ctx context.Context, url string) ([]byte, *IdPMetadata, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, nil, bulwark.FieldError("metadata_url", "must be an http(s) URL")
	}
	b, err := g.Fetch(ctx, url)
	if err != nil {
		return nil, nil, &bulwark.Error{Code: bulwark.EInvalid, Message: "invalid metadata_url: the metadata could not be fetched", Fields: map[string]string{"metadata_url": "could not be fetched"}, Err: err}
	}
	md, err := ParseMetadata(b)
	return b, md, err
}
