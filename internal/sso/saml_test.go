package sso

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/bulwarkhq/bulwark"
)

type samlEnv struct {
	bind string
	idp  *testIdP
	sp   *SP
	st   *memState
	pr   *Provider
	u    SPURLs
	now  time.Time
}

func spURLs(slug, id string) SPURLs {
	base := "https://bulwark.test/sso/" + slug + "/saml/" + id
	return SPURLs{EntityID: base + "/metadata", ACS: base + "/acs", SLO: base + "/slo"}
}

func newSAMLEnv(t *testing.T) *samlEnv {
	a, _ := testKeys(t)
	e := &samlEnv{now: time.Now().Truncate(time.Second)}
	clock := func() time.Time { return e.now }
	e.idp = newTestIdP(t, "https://idp-a.example/metadata", a)
	e.sp = &SP{Guard: loopback, Now: clock}
	e.st = newMemState(clock)
	e.pr = &Provider{ID: "s1", TenantID: "tenant-a", Kind: KindSAML, IdPMetadata: e.idp.metadata(), EmailAttribute: "email"}
	e.u = spURLs("acme", "s1")
	return e
}

// begin issues an AuthnRequest and returns its ID.
func (e *samlEnv) begin(t *testing.T) string {
	t.Helper()
	var h string
	e.bind, h = NewBinding()
	loc, err := e.sp.Begin(context.Background(), e.st, e.pr, e.u, "/console/", h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "https://idp.example/sso?") {
		t.Fatalf("redirect = %s", loc)
	}
	for id := range e.st.reqs {
		if _, used := e.st.seen["begun"+id]; !used {
			e.st.seen["begun"+id] = time.Time{}
			return id
		}
	}
	t.Fatal("no request stored")
	return ""
}

func (e *samlEnv) acs(resp string) (*Identity, error) {
	id, _, err := e.sp.ACS(context.Background(), e.st, e.pr, e.u, resp, "", e.bind)
	return id, err
}

// post runs a fresh SP-initiated login with a response built from o.
func (e *samlEnv) post(t *testing.T, o respOpts) (*Identity, error) {
	o.inResponseTo = e.begin(t)
	return e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, o)))
}

func TestSAMLLogin(t *testing.T) {
	e := newSAMLEnv(t)
	for name, o := range map[string]respOpts{
		"assertion signed":          {},
		"assertion+response signed": {signResponse: true},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.post(t, o)
			if err != nil {
				t.Fatal(err)
			}
			if id.Issuer != e.idp.entityID || id.Subject != "ada@example.com" || id.Email != "ada@example.com" || !id.EmailVerified || id.MFA {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
	t.Run("MFA from AuthnContext", func(t *testing.T) {
		id, err := e.post(t, respOpts{authnContext: "http://schemas.microsoft.com/claims/multipleauthn"})
		if err != nil || !id.MFA {
			t.Fatalf("%+v %v", id, err)
		}
	})
	t.Run("SP metadata", func(t *testing.T) {
		b, err := e.sp.Metadata(e.pr, e.u)
		if err != nil || !strings.Contains(string(b), e.u.ACS) || !strings.Contains(string(b), `entityID="`+e.u.EntityID+`"`) {
			t.Fatalf("%s %v", b, err)
		}
	})
}

// S1: neither the Response nor the Assertion is signed.
func TestS1Unsigned(t *testing.T) {
	e := newSAMLEnv(t)
	id, err := e.post(t, respOpts{unsigned: true})
	mustRefuse(t, id, err)
}

// S2: signed by a key not in the tenant's metadata, even when the
// signature carries its own certificate in KeyInfo.
func TestS2ForeignKey(t *testing.T) {
	e := newSAMLEnv(t)
	_, b := testKeys(t)
	evil := newTestIdP(t, e.idp.entityID, b)
	id, err := e.post(t, respOpts{signer: evil})
	mustRefuse(t, id, err)
	id, err = e.post(t, respOpts{signer: evil, signResponse: true})
	mustRefuse(t, id, err)
}

// signedThenMutate returns a validly signed response and the request id.
func (e *samlEnv) signed(t *testing.T, o respOpts) (*etree.Document, string) {
	o.inResponseTo = e.begin(t)
	return e.idp.response(t, e.u, e.now, o), o.inResponseTo
}

func findAssertion(doc *etree.Document) *etree.Element {
	return doc.Root().FindElement("./Assertion")
}

// evilCopy returns an unsigned copy of the assertion claiming another user.
func evilCopy(a *etree.Element) *etree.Element {
	ev := a.Copy()
	if s := ev.FindElement("./Signature"); s != nil {
		ev.RemoveChild(s)
	}
	ev.CreateAttr("ID", "_evil")
	ev.FindElement("./Subject/NameID").SetText("admin@example.com")
	ev.FindElement("./AttributeStatement/Attribute/AttributeValue").SetText("admin@example.com")
	return ev
}

// S3: XML signature wrapping. The signed assertion is kept somewhere and
// an evil one placed where a careless reader looks.
func TestS3SignatureWrapping(t *testing.T) {
	cases := map[string]func(doc *etree.Document){
		"evil assertion before the signed one": func(doc *etree.Document) {
			a := findAssertion(doc)
			doc.Root().InsertChildAt(a.Index(), evilCopy(a))
		},
		"evil assertion after the signed one": func(doc *etree.Document) {
			doc.Root().AddChild(evilCopy(findAssertion(doc)))
		},
		"signed assertion moved into Extensions": func(doc *etree.Document) {
			a := findAssertion(doc)
			ev := evilCopy(a)
			doc.Root().RemoveChild(a)
			ext := doc.Root().CreateElement("samlp:Extensions")
			ext.AddChild(a)
			doc.Root().AddChild(ev)
		},
		"signed assertion moved into a Signature Object": func(doc *etree.Document) {
			a := findAssertion(doc)
			orig, ev := a.Copy(), evilCopy(a)
			doc.Root().RemoveChild(a)
			sig := orig.FindElement("./Signature").Copy()
			sig.CreateElement("ds:Object").AddChild(orig)
			ev.AddChild(sig)
			doc.Root().AddChild(ev)
		},
		"evil assertion nested inside the signed one": func(doc *etree.Document) {
			a := findAssertion(doc)
			a.FindElement("./Subject").AddChild(evilCopy(a))
		},
		"NameID changed after signing": func(doc *etree.Document) {
			findAssertion(doc).FindElement("./Subject/NameID").SetText("admin@example.com")
		},
		"signature reference pointed at the evil assertion's ID": func(doc *etree.Document) {
			a := findAssertion(doc)
			ev := evilCopy(a)
			ev.CreateAttr("ID", a.SelectAttrValue("ID", ""))
			ev.AddChild(a.FindElement("./Signature").Copy())
			doc.Root().RemoveChild(a)
			doc.Root().AddChild(ev)
		},
		"signed Response, assertion swapped": func(doc *etree.Document) {
			a := findAssertion(doc)
			doc.Root().InsertChildAt(a.Index(), evilCopy(a))
			doc.Root().RemoveChild(a)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e := newSAMLEnv(t)
			doc, _ := e.signed(t, respOpts{signResponse: strings.HasPrefix(name, "signed Response")})
			mutate(doc)
			id, err := e.acs(encodeDoc(t, doc))
			mustRefuse(t, id, err)
		})
	}
}

// S4: two assertions, both validly signed, are refused: exactly one.
func TestS4TwoAssertions(t *testing.T) {
	e := newSAMLEnv(t)
	doc, irt := e.signed(t, respOpts{})
	other := e.idp.response(t, e.u, e.now, respOpts{inResponseTo: irt, nameID: "admin@example.com"})
	doc.Root().AddChild(findAssertion(other).Copy())
	id, err := e.acs(encodeDoc(t, doc))
	mustRefuse(t, id, err)
}

// S5: a comment inside the NameID never truncates it to a prefix: the
// document is refused.
func TestS5CommentInNameID(t *testing.T) {
	e := newSAMLEnv(t)
	doc, _ := e.signed(t, respOpts{nameID: "admin@example.com.evil.com"})
	b, _ := doc.WriteToString()
	b = strings.Replace(b, "admin@example.com.evil.com", "admin@example.com<!---->.evil.com", 1)
	id, err := e.acs(base64.StdEncoding.EncodeToString([]byte(b)))
	mustRefuse(t, id, err)
}

// S6: a replayed assertion id is refused. IdP-initiated, so only the id
// cache (not the single-use request) stands in the way.
func TestS6Replay(t *testing.T) {
	e := newSAMLEnv(t)
	e.pr.IdPInitiated = true
	resp := encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{}))
	if _, err := e.acs(resp); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	id, err := e.acs(resp)
	mustRefuse(t, id, err)
	t.Run("same assertion id in a new response", func(t *testing.T) {
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{assertionID: "_fixed"})))
		if err != nil {
			t.Fatal(err)
		}
		id, err = e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{assertionID: "_fixed"})))
		mustRefuse(t, id, err)
	})
}

// S7: wrong or absent audience.
func TestS7Audience(t *testing.T) {
	e := newSAMLEnv(t)
	for name, o := range map[string]respOpts{
		"wrong audience":  {audience: spURLs("other", "s9").EntityID},
		"absent audience": {audience: "-"},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.post(t, o)
			mustRefuse(t, id, err)
		})
	}
}

// S8: wrong Recipient, Destination or Issuer; outside the time window.
func TestS8RecipientDestinationIssuerTime(t *testing.T) {
	e := newSAMLEnv(t)
	for name, o := range map[string]respOpts{
		"wrong recipient":      {recipient: "https://evil.example/acs"},
		"wrong destination":    {destination: "https://evil.example/acs"},
		"absent destination":   {destination: "-"},
		"wrong issuer":         {issuer: "https://evil.example/idp"},
		"not yet valid (+5m)":  {notBefore: e.now.Add(5 * time.Minute), notAfter: e.now.Add(10 * time.Minute)},
		"expired (-5m)":        {notBefore: e.now.Add(-10 * time.Minute), notAfter: e.now.Add(-5 * time.Minute)},
		"valid for three days": {notAfter: e.now.Add(72 * time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.post(t, o)
			mustRefuse(t, id, err)
		})
	}
	t.Run("NotBefore 60s ahead is within skew", func(t *testing.T) {
		if _, err := e.post(t, respOpts{notBefore: e.now.Add(60 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	})
}

// S9: InResponseTo unknown, reused or another tenant's; IdP-initiated
// while the tenant has it off.
func TestS9InResponseTo(t *testing.T) {
	e := newSAMLEnv(t)
	t.Run("unknown", func(t *testing.T) {
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{inResponseTo: "_forged"})))
		mustRefuse(t, id, err)
	})
	t.Run("reused", func(t *testing.T) {
		irt := e.begin(t)
		if _, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{inResponseTo: irt}))); err != nil {
			t.Fatal(err)
		}
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{inResponseTo: irt})))
		mustRefuse(t, id, err)
	})
	t.Run("another tenant's request", func(t *testing.T) {
		b := *e.pr
		b.TenantID = "tenant-b"
		if _, err := e.sp.Begin(context.Background(), e.st, &b, e.u, "/", "h"); err != nil {
			t.Fatal(err)
		}
		var irt string
		for id, r := range e.st.reqs {
			if r.TenantID == "tenant-b" {
				irt = id
			}
		}
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{inResponseTo: irt})))
		mustRefuse(t, id, err)
	})
	t.Run("finished in another browser", func(t *testing.T) {
		irt := e.begin(t)
		e.bind, _ = NewBinding()
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{inResponseTo: irt})))
		mustRefuse(t, id, err)
	})
	t.Run("IdP-initiated while off", func(t *testing.T) {
		id, err := e.acs(encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{})))
		mustRefuse(t, id, err)
	})
}

// S10: tenant B's IdP assertion sent to tenant A's ACS: its audience is
// B's SP, and even with A's audience its key is not in A's metadata.
func TestS10CrossTenant(t *testing.T) {
	a := newSAMLEnv(t)
	_, kb := testKeys(t)
	idpB := newTestIdP(t, "https://idp-b.example/metadata", kb)
	uB := spURLs("beta", "s2")
	t.Run("B's assertion for B's SP", func(t *testing.T) {
		id, err := a.acs(encodeDoc(t, idpB.response(t, uB, a.now, respOpts{inResponseTo: a.begin(t)})))
		mustRefuse(t, id, err)
	})
	t.Run("B's IdP forging A's audience", func(t *testing.T) {
		id, err := a.acs(encodeDoc(t, idpB.response(t, a.u, a.now, respOpts{inResponseTo: a.begin(t)})))
		mustRefuse(t, id, err)
	})
	t.Run("A's IdP, assertion for B's SP (shared IdP)", func(t *testing.T) {
		id, err := a.acs(encodeDoc(t, a.idp.response(t, uB, a.now, respOpts{inResponseTo: a.begin(t)})))
		mustRefuse(t, id, err)
	})
}

// S11: DOCTYPE/XXE, billion laughs, oversized and deeply nested bodies
// are refused without panics.
func TestS11HostileXML(t *testing.T) {
	e := newSAMLEnv(t)
	doc, _ := e.signed(t, respOpts{})
	good, _ := doc.WriteToString()
	body := strings.TrimPrefix(good, `<?xml version="1.0" encoding="UTF-8"?>`)
	cases := map[string]string{
		"XXE":            `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + strings.Replace(body, "ada@example.com", "&x;", 1),
		"billion laughs": `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` + strings.Replace(body, "ada@example.com", "&c;", 1),
		"10 MB":          body + strings.Repeat(" ", 10<<20),
		"deep nesting":   strings.Replace(body, "<saml:Issuer>", strings.Repeat("<x>", 5000)+strings.Repeat("</x>", 5000)+"<saml:Issuer>", 1),
		"not XML":        "\x00\x01garbage",
	}
	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := e.acs(base64.StdEncoding.EncodeToString([]byte(x)))
			mustRefuse(t, id, err)
		})
	}
	t.Run("not base64", func(t *testing.T) {
		id, err := e.acs("!!!")
		mustRefuse(t, id, err)
	})
	t.Run("metadata with DOCTYPE", func(t *testing.T) {
		md := strings.Replace(e.idp.metadata(), `<?xml version="1.0"?>`, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://169.254.169.254/">]>`, 1)
		if _, err := ParseMetadata([]byte(md)); bulwark.ErrorCode(err) != bulwark.EInvalid {
			t.Fatalf("err = %v", err)
		}
	})
}

// S12: RSA-SHA1 and non-exclusive canonicalisation are refused by an
// allow-list even though the signature itself verifies.
func TestS12AlgorithmAllowList(t *testing.T) {
	e := newSAMLEnv(t)
	for name, o := range map[string]respOpts{
		"RSA-SHA1":           {sigMethod: dsig.RSASHA1SignatureMethod},
		"inclusive C14N 1.1": {canon: dsig.MakeC14N11Canonicalizer()},
		"C14N with comments": {canon: dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.post(t, o)
			mustRefuse(t, id, err)
		})
	}
}

// S13: an unsigned LogoutRequest is refused; RelayState can only name a
// local path.
func TestS13LogoutAndRelayState(t *testing.T) {
	e := newSAMLEnv(t)
	t.Run("unsigned LogoutRequest", func(t *testing.T) {
		lr := `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="` +
			e.now.UTC().Format(time.RFC3339) + `" Destination="` + e.u.SLO + `"><saml:Issuer>` + e.idp.entityID + `</saml:Issuer><saml:NameID>ada@example.com</saml:NameID></samlp:LogoutRequest>`
		if _, err := e.sp.Logout(e.pr, e.u, base64.StdEncoding.EncodeToString([]byte(lr))); err == nil {
			t.Fatal("unsigned LogoutRequest accepted")
		}
	})
	logoutRequest := func(signed bool) string {
		doc := etree.NewDocument()
		lr := doc.CreateElement("samlp:LogoutRequest")
		lr.CreateAttr("xmlns:samlp", "urn:oasis:names:tc:SAML:2.0:protocol")
		lr.CreateAttr("xmlns:saml", nsAssertion)
		lr.CreateAttr("ID", "_l1")
		lr.CreateAttr("Version", "2.0")
		lr.CreateAttr("IssueInstant", e.now.UTC().Format(time.RFC3339))
		lr.CreateAttr("Destination", e.u.SLO)
		lr.CreateElement("saml:Issuer").SetText(e.idp.entityID)
		lr.CreateElement("saml:NameID").SetText("ada@example.com")
		if signed {
			s, err := e.idp.signingContext(respOpts{}).SignEnveloped(lr)
			if err != nil {
				t.Fatal(err)
			}
			doc.SetRoot(s)
		}
		return encodeDoc(t, doc)
	}
	t.Run("signed LogoutRequest accepted", func(t *testing.T) {
		req, err := e.sp.Logout(e.pr, e.u, logoutRequest(true))
		if err != nil || req.NameID == nil || req.NameID.Value != "ada@example.com" {
			t.Fatalf("%+v %v", req, err)
		}
		if _, err := e.sp.Logout(e.pr, e.u, logoutRequest(false)); err == nil {
			t.Fatal("unsigned LogoutRequest accepted")
		}
	})
	t.Run("RelayState", func(t *testing.T) {
		e.pr.IdPInitiated = true
		for _, rs := range []string{"javascript:alert(1)", "https://evil.example/", "//evil.example", "/\\evil.example"} {
			_, to, err := e.sp.ACS(context.Background(), e.st, e.pr, e.u, encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{})), rs, "")
			if err != nil {
				t.Fatal(err)
			}
			if to != "/" {
				t.Errorf("RelayState %q led to %q", rs, to)
			}
		}
		_, to, err := e.sp.ACS(context.Background(), e.st, e.pr, e.u, encodeDoc(t, e.idp.response(t, e.u, e.now, respOpts{})), "/console/settings", "")
		if err != nil || to != "/console/settings" {
			t.Fatalf("local RelayState: %q %v", to, err)
		}
	})
}

func TestSAMLRequestURL(t *testing.T) {
	e := newSAMLEnv(t)
	loc, err := e.sp.Begin(context.Background(), e.st, e.pr, e.u, "https://evil.example/", "h")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("SAMLRequest") == "" {
		t.Fatalf("no SAMLRequest in %s", loc)
	}
	for _, r := range e.st.reqs {
		if r.ReturnTo != "/" {
			t.Fatalf("off-site return_to stored: %q", r.ReturnTo)
		}
	}
}

// Certificate rollover: metadata listing the current and the next signing
// certificate accepts responses signed with either, with no downtime.
func TestSAMLCertificateRollover(t *testing.T) {
	e := newSAMLEnv(t)
	_, b := testKeys(t)
	next := newTestIdP(t, e.idp.entityID, b)
	md := strings.Replace(e.idp.metadata(), "</md:IDPSSODescriptor>",
		`<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>`+
			base64.StdEncoding.EncodeToString(next.cert.Raw)+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor>`, 1)
	e.pr.IdPMetadata = md
	if _, err := e.post(t, respOpts{}); err != nil {
		t.Fatalf("current certificate: %v", err)
	}
	if _, err := e.post(t, respOpts{signer: next}); err != nil {
		t.Fatalf("next certificate: %v", err)
	}
}
