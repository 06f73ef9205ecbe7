package sso

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// testIdP makes SAML responses signed with goxmldsig, so tests can mutate
// validly signed output the way an attacker would (with etree).
type testIdP struct {
	entityID string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
}

func newTestIdP(t *testing.T, entityID string, key *rsa.PrivateKey) *testIdP {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: entityID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testIdP{entityID: entityID, key: key, cert: cert}
}

func (idp *testIdP) metadata() string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/slo"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`, idp.entityID, base64.StdEncoding.EncodeToString(idp.cert.Raw))
}

// respOpts describe one response; zero values get sensible defaults from
// the SP under test.
type respOpts struct {
	inResponseTo         string
	audience             string // "-" for none
	recipient            string
	destination          string // "-" for none
	issuer               string
	nameID, nameIDFormat string
	email                string
	assertionID          string
	notBefore, notAfter  time.Time
	unsigned             bool // neither assertion nor response signed
	signResponse         bool // sign the Response as well
	signer               *testIdP
	sigMethod            string
	canon                dsig.Canonicalizer
	authnContext         string
	encryptTo            *x509.Certificate // encrypt the (signed) assertion to this SP certificate
	pkcs1                bool              // ...with RSA PKCS #1 v1.5 key transport instead of OAEP
	groups               []string          // values of a "memberOf" attribute
	displayName          string
}

func (idp *testIdP) signingContext(o respOpts) *dsig.SigningContext {
	s := idp
	if o.signer != nil {
		s = o.signer
	}
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.cert.Raw})
	if err != nil {
		panic(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if o.canon != nil {
		ctx.Canonicalizer = o.canon
	}
	if o.sigMethod == dsig.RSASHA1SignatureMethod {
		ctx.Hash = crypto.SHA1
	}
	return ctx
}

func (idp *testIdP) response(t *testing.T, u SPURLs, now time.Time, o respOpts) *etree.Document {
	t.Helper()
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.audience, u.EntityID)
	def(&o.recipient, u.ACS)
	def(&o.destination, u.ACS)
	def(&o.issuer, idp.entityID)
	def(&o.nameID, "ada@example.com")
	def(&o.nameIDFormat, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	def(&o.email, "ada@example.com")
	def(&o.assertionID, "_a"+randomToken()[:20])
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-30 * time.Second)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(5 * time.Minute)
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	doc := etree.NewDocument()
	r := doc.CreateElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", "urn:oasis:names:tc:SAML:2.0:protocol")
	r.CreateAttr("xmlns:saml", nsAssertion)
	r.CreateAttr("ID", "_r"+randomToken()[:20])
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", ts(now))
	if o.destination != "-" {
		r.CreateAttr("Destination", o.destination)
	}
	if o.inResponseTo != "" {
		r.CreateAttr("InResponseTo", o.inResponseTo)
	}
	r.CreateElement("saml:Issuer").SetText(o.issuer)
	r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsAssertion)
	a.CreateAttr("ID", o.assertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", ts(now))
	a.CreateElement("saml:Issuer").SetText(o.issuer)
	sub := a.CreateElement("saml:Subject")
	nid := sub.CreateElement("saml:NameID")
	nid.CreateAttr("Format", o.nameIDFormat)
	nid.SetText(o.nameID)
	sc := sub.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	scd.CreateAttr("Recipient", o.recipient)
	scd.CreateAttr("NotOnOrAfter", ts(o.notAfter))
	if o.inResponseTo != "" {
		scd.CreateAttr("InResponseTo", o.inResponseTo)
	}
	c := a.CreateElement("saml:Conditions")
	c.CreateAttr("NotBefore", ts(o.notBefore))
	c.CreateAttr("NotOnOrAfter", ts(o.notAfter))
	if o.audience != "-" {
		c.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(o.audience)
	}
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", ts(now))
	as.CreateAttr("SessionIndex", "_s1")
	acr := o.authnContext
	if acr == "" {
		acr = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(acr)
	ast := a.CreateElement("saml:AttributeStatement")
	at := ast.CreateElement("saml:Attribute")
	at.CreateAttr("Name", "email")
	at.CreateElement("saml:AttributeValue").SetText(o.email)
	if o.groups != nil {
		g := ast.CreateElement("saml:Attribute")
		g.CreateAttr("Name", "memberOf")
		for _, v := range o.groups {
			g.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
	if o.displayName != "" {
		n := ast.CreateElement("saml:Attribute")
		n.CreateAttr("Name", "http://schemas.microsoft.com/identity/claims/displayname")
		n.CreateElement("saml:AttributeValue").SetText(o.displayName)
	}

	if !o.unsigned {
		signed, err := idp.signingContext(o).SignEnveloped(a)
		if err != nil {
			t.Fatal(err)
		}
		a = signed
	}
	if o.encryptTo != nil {
		// Encrypted the way crewjam/saml's IdP does it (RSA-OAEP key
		// transport, AES-CBC content), an implementation independent of
		// gosaml2's decryption.
		d := etree.NewDocument()
		d.SetRoot(a)
		plain, err := d.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		enc := xmlenc.OAEP()
		enc.BlockCipher = xmlenc.AES128CBC
		enc.DigestMethod = &xmlenc.SHA1
		if o.pkcs1 {
			enc = xmlenc.PKCS1v15()
			enc.BlockCipher = xmlenc.AES128CBC
		}

		ed, err := enc.Encrypt(o.encryptTo, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		ed.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
		ea := etree.NewElement("saml:EncryptedAssertion")
		ea.AddChild(ed)
		a = ea
	}
	r.AddChild(a)
	if o.signResponse {
		signed, err := idp.signingContext(o).SignEnveloped(r)
		if err != nil {
			t.Fatal(err)
		}
		doc.SetRoot(signed)
	}
	return doc
}

func encodeDoc(t *testing.T, doc *etree.Document) string {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
