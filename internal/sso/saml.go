package sso

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"slices"
	"strings"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
	dsigtypes "github.com/russellhaering/goxmldsig/types"

	"github.com/bulwarkhq/bulwark"
)

// SPURLs are a tenant provider's own service-provider addresses; each
// tenant provider has its own entity id and ACS URL, so an assertion made
// for one is never valid at another (S10).
type SPURLs struct {
	EntityID string
	ACS      string
	SLO      string
}

// SP is the SAML service provider, shared by every tenant.
type SP struct {
	Guard *Guard
	Now   func() time.Time
	Skew  time.Duration
}

func (sp *SP) now() time.Time {
	if sp.Now != nil {
		return sp.Now()
	}
	return time.Now()
}

func (sp *SP) skew() time.Duration {
	if sp.Skew > 0 {
		return sp.Skew
	}
	return DefaultSkew
}

// NameID formats that cannot key an identity: a transient id changes at
// every login.
const nameIDTransient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

func (sp *SP) library(pr *Provider, md *IdPMetadata, u SPURLs) *saml2.SAMLServiceProvider {
	certs := dsig.MemoryX509CertificateStore{Roots: md.Certs}
	lib := &saml2.SAMLServiceProvider{
		IdentityProviderSSOURL:      md.SSOURL,
		IdentityProviderSSOBinding:  md.SSOBinding,
		IdentityProviderSLOURL:      md.SLOURL,
		IdentityProviderSLOBinding:  md.SLOBinding,
		IdentityProviderIssuer:      md.EntityID,
		AssertionConsumerServiceURL: u.ACS,
		ServiceProviderSLOURL:       u.SLO,
		ServiceProviderIssuer:       u.EntityID,
		AudienceURI:                 u.EntityID,
		// Keys only from the tenant's metadata (S2): goxmldsig accepts a
		// KeyInfo certificate only if it is one of these.
		IDPCertificateStore:         &certs,
		AllowMissingAttributes:      true,
		Clock:                       dsig.NewFakeClockAt(sp.now()),
		MaximumDecompressedBodySize: MaxResponseBytes,
		MaximumXMLTokens:            maxXMLTokens,
	}
	if pr.SPKey.usable() {
		// The same key signs requests and decrypts assertions; gosaml2
		// reads the decryption key only from the SPKeyStore field.
		ks := pr.SPKey.keyStore()
		lib.SPKeyStore, lib.SPSigningKeyStore = ks, ks
		lib.SignAuthnRequestsAlgorithm = dsig.RSASHA256SignatureMethod
		lib.SignAuthnRequests = pr.SignRequests
	}
	return lib
}

// withDecryptionKey is lib decrypting with k instead (rollover: an IdP
// may still encrypt to the key published next to the active one).
func withDecryptionKey(lib *saml2.SAMLServiceProvider, k *SPKey) {
	lib.SPKeyStore = k.keyStore()
}

// Metadata returns the SP metadata a tenant admin gives their IdP: the
// entity id, ACS and SLO endpoints, and the provider's certificates, each
// for signing and for encryption. The next key, once made, is listed too,
// so an IdP that refreshes metadata trusts it before it becomes active.
func (sp *SP) Metadata(pr *Provider, u SPURLs) ([]byte, error) {
	ed := types.EntityDescriptor{
		EntityID:   u.EntityID,
		ValidUntil: sp.now().Add(7 * 24 * time.Hour).UTC(),
		SPSSODescriptor: &types.SPSSODescriptor{
			AuthnRequestsSigned:        pr.SignRequests && pr.SPKey != nil,
			WantAssertionsSigned:       true,
			ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
			NameIDFormats:              []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"},
			AssertionConsumerServices:  []types.IndexedEndpoint{{Binding: BindingPOST, Location: u.ACS, Index: 1}},
		},
	}
	for _, k := range []*SPKey{pr.SPKey, pr.SPNextKey} {
		if k == nil || k.Cert == nil {
			continue
		}
		for _, use := range []string{"signing", "encryption"} {
			kd := types.KeyDescriptor{Use: use}
			kd.KeyInfo.X509Data.X509Certificates = []dsigtypes.X509Certificate{{Data: k.certBase64()}}
			ed.SPSSODescriptor.KeyDescriptors = append(ed.SPSSODescriptor.KeyDescriptors, kd)
		}
	}
	if u.SLO != "" {
		ed.SPSSODescriptor.SingleLogoutServices = []types.Endpoint{{Binding: BindingRedirect, Location: u.SLO}, {Binding: BindingPOST, Location: u.SLO}}
	}
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// Begin stores an AuthnRequest id (so the response can be matched to it
// on any node) and returns the IdP URL to redirect the browser to.
func (sp *SP) Begin(ctx context.Context, st State, pr *Provider, u SPURLs, returnTo, binding string) (string, error) {
	if pr.Kind != KindSAML {
		return "", bulwark.NotFound("identity provider")
	}
	md, err := ParseMetadata([]byte(pr.IdPMetadata))
	if err != nil {
		return "", err
	}
	lib := sp.library(pr, md, u)
	doc, err := lib.BuildAuthRequestDocumentNoSig()
	if err != nil {
		return "", err
	}
	id := doc.Root().SelectAttrValue("ID", "")
	if id == "" {
		return "", errorf("AuthnRequest without ID")
	}
	req := &Request{ID: id, TenantID: pr.TenantID, ProviderID: pr.ID, ReturnTo: LocalPath(returnTo), Binding: binding, ExpiresAt: sp.now().Add(RequestTTL)}
	if err := st.SaveRequest(ctx, req); err != nil {
		return "", err
	}
	if lib.SignAuthnRequests {
		// HTTP-Redirect binding: the signature covers the query string
		// (SAMLRequest, SigAlg), made with the provider's SP key.
		return lib.BuildAuthURLRedirect("", doc)
	}
	// An IdP that takes only POST still gets a redirect: the request is
	// small and unsigned.
	return lib.BuildAuthURLFromDocument("", doc)
}

// ACS checks a SAMLResponse posted to tenant provider pr's ACS and returns
// the identity it proves and the local path to go to. gosaml2 verifies
// signatures (keys from metadata only) and reads only verified bytes;
// Bulwark refuses what gosaml2 only warns about or does not check.
func (sp *SP) ACS(ctx context.Context, st State, pr *Provider, u SPURLs, samlResponse, relayState, binding string) (*Identity, string, error) {
	if pr.Kind != KindSAML {
		return nil, "", bulwark.NotFound("identity provider")
	}
	md, err := ParseMetadata([]byte(pr.IdPMetadata))
	if err != nil {
		return nil, "", err
	}
	if len(samlResponse) > MaxResponseBytes*4/3+4096 {
		return nil, "", refused("SAMLResponse too large")
	}
	enc := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, samlResponse)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, "", refused("SAMLResponse is not base64")
	}
	scan, err := checkXML(raw, MaxResponseBytes)
	if err != nil {
		return nil, "", refused("SAMLResponse: %v", err)
	}
	// Exactly one assertion anywhere in the document: a second one,
	// wherever it hides, is how signature wrapping starts (S3, S4).
	if scan.root.Local != "Response" || scan.assertions != 1 {
		return nil, "", refused("%d assertions in a %s", scan.assertions, scan.root.Local)
	}
	now, skew := sp.now(), sp.skew()
	lib := sp.library(pr, md, u)
	resp, err := lib.ValidateEncodedResponse(enc)
	if err != nil && scan.encrypted && pr.SPNextKey.usable() {
		// Rollover: an IdP may encrypt to the other published key.
		withDecryptionKey(lib, pr.SPNextKey)
		resp, err = lib.ValidateEncodedResponse(enc)
	}
	if err != nil {
		return nil, "", refused("SAMLResponse rejected: %v", err)
	}
	// An encrypted assertion must still carry its own verified signature
	// or sit in a verified signed Response (gosaml2 decrypts first, then
	// checks signatures on what it decrypted).
	if scan.encrypted && !resp.SignatureValidated && !(len(resp.Assertions) == 1 && resp.Assertions[0].SignatureValidated) {
		return nil, "", refused("encrypted assertion not signed")
	}
	if len(resp.Assertions) != 1 || len(resp.EncryptedAssertions) != 0 {
		return nil, "", refused("not exactly one verified assertion")
	}
	a := resp.Assertions[0]
	// Destination is required (gosaml2 checks it only if present).
	if resp.Destination != u.ACS {
		return nil, "", refused("destination %q", resp.Destination)
	}
	if a.Issuer == nil || a.Issuer.Value != md.EntityID {
		return nil, "", refused("assertion issuer")
	}
	if a.ID == "" || len(a.ID) > 256 {
		return nil, "", refused("assertion without a usable ID")
	}
	// Audience: required, and every restriction must name us (S7);
	// gosaml2 only warns, and passes an absent one.
	c := a.Conditions
	if c == nil || len(c.AudienceRestrictions) == 0 {
		return nil, "", refused("no audience restriction")
	}
	for _, ar := range c.AudienceRestrictions {
		if !slices.ContainsFunc(ar.Audiences, func(x types.Audience) bool { return x.Value == u.EntityID }) {
			return nil, "", refused("audience is not %q", u.EntityID)
		}
	}
	// Time conditions with bounded skew (S8); gosaml2 only warns.
	nb, err1 := time.Parse(time.RFC3339, c.NotBefore)
	noa, err2 := time.Parse(time.RFC3339, c.NotOnOrAfter)
	if err1 != nil || err2 != nil || now.Add(skew).Before(nb) || !now.Add(-skew).Before(noa) {
		return nil, "", refused("outside NotBefore/NotOnOrAfter")
	}
	if noa.Sub(nb) > 24*time.Hour {
		return nil, "", refused("assertion valid for too long")
	}
	sub := a.Subject
	if sub == nil || sub.NameID == nil || sub.SubjectConfirmation == nil || sub.SubjectConfirmation.SubjectConfirmationData == nil {
		return nil, "", refused("no subject")
	}
	scd := sub.SubjectConfirmation.SubjectConfirmationData
	if scd.Recipient != u.ACS {
		return nil, "", refused("recipient %q", scd.Recipient)
	}
	// InResponseTo must be a request Bulwark issued for this tenant's
	// provider, used once; without one the login is IdP-initiated,
	// refused unless the tenant switched it on (S9).
	returnTo := "/"
	irt := scd.InResponseTo
	if resp.InResponseTo != irt {
		return nil, "", refused("InResponseTo differs between response and assertion")
	}
	if irt == "" {
		if !pr.IdPInitiated {
			return nil, "", refused("IdP-initiated login is off for this provider")
		}
		returnTo = LocalPath(relayState)
	} else {
		req, err := st.TakeRequest(ctx, pr.TenantID, pr.ID, irt)
		if err != nil {
			return nil, "", refused("InResponseTo %q unknown, used or expired: %v", irt, err)
		}
		if !checkBinding(req, binding) {
			return nil, "", refused("InResponseTo %q begun in another browser", irt)
		}
		returnTo = req.ReturnTo
	}
	nameID := strings.TrimSpace(sub.NameID.Value)
	if nameID == "" || len(nameID) > 255 || sub.NameID.Format == nameIDTransient {
		return nil, "", refused("NameID empty, too long or transient")
	}
	// Replay (S6): the assertion id is remembered until it expires.
	if err := st.SeeAssertion(ctx, pr.TenantID, md.EntityID, a.ID, noa.Add(skew)); err != nil {
		if bulwark.ErrorCode(err) == bulwark.EConflict {
			return nil, "", refused("assertion %q replayed", a.ID)
		}
		return nil, "", err
	}
	id := &Identity{Issuer: md.EntityID, Subject: nameID, NameIDFormat: sub.NameID.Format}
	attrs := map[string]string{}
	var groups []string
	if a.AttributeStatement != nil {
		for _, at := range a.AttributeStatement.Attributes {
			if pr.GroupAttribute != "" && (at.Name == pr.GroupAttribute || at.FriendlyName == pr.GroupAttribute) {
				vs := make([]string, 0, len(at.Values))
				for _, v := range at.Values {
					vs = append(vs, v.Value)
				}
				groups = append(groups, groupValues(vs)...)
			}
			if len(at.Values) > 0 {
				attrs[at.Name] = strings.TrimSpace(at.Values[0].Value)
				if at.FriendlyName != "" {
					attrs[at.FriendlyName] = attrs[at.Name]
				}
			}
		}
	}
	email := attrs[pr.EmailAttribute]
	if email == "" {
		for _, k := range emailAttributes {
			if email = attrs[k]; email != "" {
				break
			}
		}
	}
	if email == "" && strings.HasSuffix(sub.NameID.Format, ":emailAddress") {
		email = nameID
	}
	if e, err := bulwark.NormalizeEmail("email", email); err == nil {
		// The IdP vouches for the address it asserts in a signed
		// assertion; a tenant that trusts its IdP trusts that.
		id.Email, id.EmailVerified = e, true
	}
	id.Name = attrs[pr.NameAttribute]
	for _, k := range nameAttributes {
		if id.Name != "" {
			break
		}
		id.Name = attrs[k]
	}
	if pr.RoleAttribute != "" {
		id.Role = attrs[pr.RoleAttribute]
	}
	id.Groups = groups
	if as := a.AuthnStatement; as != nil {
		id.SessionIndex = as.SessionIndex
		if as.AuthnContext != nil && as.AuthnContext.AuthnContextClassRef != nil {
			id.MFA = samlMFA[strings.TrimSpace(as.AuthnContext.AuthnContextClassRef.Value)]
		}
	}
	return id, returnTo, nil
}

// Display-name attributes of common IdPs (Entra ID, Okta, Google, LDAP).
var nameAttributes = []string{
	"displayName", "http://schemas.microsoft.com/identity/claims/displayname", "name",
	"urn:oid:2.16.840.1.113730.3.1.241", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
}

var emailAttributes = []string{
	"email", "mail", "Email", "urn:oid:0.9.2342.19200300.100.1.3",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
}

// AuthnContext classes that mean a second factor was used.
var samlMFA = map[string]bool{
	"http://schemas.microsoft.com/claims/multipleauthn":                  true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract":     true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken":               true,
	"http://schemas.openid.net/pape/policies/2007/06/multi-factor":       true,
	"https://refeds.org/profile/mfa":                                     true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered": true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:X509":                        true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard":                   true,
	"urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI":                true,
}

// Logout checks an IdP's LogoutRequest posted with the HTTP-POST
// binding. Unsigned ones are refused (S13; gosaml2 before 0.11 accepted
// them).
func (sp *SP) Logout(pr *Provider, u SPURLs, samlRequest string) (*saml2.LogoutRequest, error) {
	md, err := ParseMetadata([]byte(pr.IdPMetadata))
	if err != nil {
		return nil, err
	}
	m, err := sp.readSLO(pr, md, u, SLOInput{Post: true, Form: url.Values{"SAMLRequest": {samlRequest}}})
	if err != nil {
		return nil, err
	}
	if m.request == nil {
		return nil, refused("not a LogoutRequest")
	}
	return m.request, nil
}
