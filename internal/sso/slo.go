package sso

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAML Single Logout (AUTH-5), HTTP-Redirect and HTTP-POST bindings.
//
// SP-initiated: a user whose session came from a SAML login logs out;
// Bulwark ends the session, then sends the browser to the IdP with a
// LogoutRequest signed with the provider's SP key, naming the NameID and
// SessionIndex stored with the session. The request id is stored like an
// AuthnRequest's, so the IdP's LogoutResponse is accepted once, on any
// node, only in answer to it.
//
// IdP-initiated: a LogoutRequest signed by a key of the IdP's metadata
// ends the sessions opened through this provider for its NameID, and
// Bulwark answers with a signed LogoutResponse to the IdP's SLO endpoint.
//
// Signatures: HTTP-POST messages carry an enveloped XML signature
// (checked by gosaml2/goxmldsig). HTTP-Redirect messages carry either a
// signature over the query string (SigAlg, Signature; checked with the
// standard library's x509 verification against the metadata's
// certificates) or, as crewjam/saml sends them, an enveloped XML
// signature inside the deflated message. Anything else is refused.

// SessionRef is what a federated login left with its session.
type SessionRef struct {
	ProviderID   string
	NameID       string
	NameIDFormat string
	SessionIndex string
}

// logoutNonce marks a stored request as a LogoutRequest, so a
// LogoutResponse can never consume an AuthnRequest's id or the reverse.
const logoutNonce = "saml-logout"

// issueWindow bounds how old an IdP's logout message may be.
const issueWindow = RequestTTL

// StartLogout returns how to send the browser on to the IdP after
// Bulwark ended its own session: to the IdP's SLO endpoint with a
// LogoutRequest signed with the provider's SP key, by redirect
// (HTTP-Redirect binding, query signature) or, when the IdP offers only
// HTTP-POST, as a form to post (enveloped XML signature). It returns nil
// when the IdP has no SLO endpoint or the provider has no SP key.
func (sp *SP) StartLogout(ctx context.Context, st State, pr *Provider, u SPURLs, ref *SessionRef) (*LogoutAnswer, error) {
	md, err := ParseMetadata([]byte(pr.IdPMetadata))
	if err != nil {
		return nil, err
	}
	if md.SLOURL == "" || !pr.SPKey.usable() || ref.NameID == "" {
		return nil, nil
	}
	lib := sp.library(pr, md, u)
	lib.NameIdFormat = ref.NameIDFormat
	doc, err := lib.BuildLogoutRequestDocumentNoSig(ref.NameID, ref.SessionIndex)
	if err != nil {
		return nil, err
	}
	if ref.SessionIndex == "" {
		// gosaml2 always writes the element; an empty one is invalid.
		if si := doc.Root().SelectElement("SessionIndex"); si != nil {
			doc.Root().RemoveChild(si)
		}
	}
	id := doc.Root().SelectAttrValue("ID", "")
	if id == "" {
		return nil, errorf("LogoutRequest without ID")
	}
	if err := st.SaveRequest(ctx, &Request{ID: id, TenantID: pr.TenantID, ProviderID: pr.ID, Nonce: logoutNonce, ReturnTo: "/console/login", ExpiresAt: sp.now().Add(RequestTTL)}); err != nil {
		return nil, err
	}
	if md.SLOBinding == BindingRedirect {
		// gosaml2 signs the query (SAMLRequest, SigAlg) with the SP key.
		loc, err := lib.BuildLogoutURLRedirect("", doc)
		if err != nil {
			return nil, err
		}
		return &LogoutAnswer{Redirect: loc}, nil
	}
	signed, err := lib.SignLogoutRequest(doc.Root())
	if err != nil {
		return nil, err
	}
	doc.SetRoot(signed)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	return &LogoutAnswer{PostURL: md.SLOURL, PostField: "SAMLRequest", PostValue: base64.StdEncoding.EncodeToString(b)}, nil
}

// SLOInput is a message arriving at the SLO endpoint: a GET's raw query
// (HTTP-Redirect) or a POST's form (HTTP-POST).
type SLOInput struct {
	Post     bool
	RawQuery string
	Form     url.Values
}

// sloMessage is a verified logout message.
type sloMessage struct {
	request  *saml2.LogoutRequest
	response *types.LogoutResponse
	relay    string
	binding  string
	// sessionIndexes of a LogoutRequest, read from verified bytes only
	// (gosaml2's LogoutRequest does not carry them).
	sessionIndexes []string
}

// sessionIndexes reads the SessionIndex elements of a LogoutRequest.
type sessionIndexes struct {
	Values []string `xml:"urn:oasis:names:tc:SAML:2.0:protocol SessionIndex"`
}

func readSessionIndexes(b []byte) ([]string, error) {
	var si sessionIndexes
	if err := xml.Unmarshal(b, &si); err != nil {
		return nil, err
	}
	var out []string
	for _, v := range si.Values {
		if v = strings.TrimSpace(v); v != "" && len(v) <= 256 && len(out) < 20 {
			out = append(out, v)
		}
	}
	return out, nil
}

// LogoutAnswer is a logout message Bulwark sends the IdP through the
// browser: a redirect (HTTP-Redirect binding) or a form the browser posts
// (HTTP-POST: PostField SAMLRequest or SAMLResponse).
type LogoutAnswer struct {
	Redirect   string
	PostURL    string
	PostField  string
	PostValue  string
	RelayState string
}

// FormHTML is the HTTP-POST binding's page: a form to the IdP with a
// button, and no script (the CSP allows none), so the user presses it.
// Every value is escaped.
func (a *LogoutAnswer) FormHTML() string {
	var b strings.Builder
	b.WriteString(`<!doctype html><title>Signing out</title><form method="post" action="` + html.EscapeString(a.PostURL) + `">`)
	b.WriteString(`<input type="hidden" name="` + html.EscapeString(a.PostField) + `" value="` + html.EscapeString(a.PostValue) + `">`)
	if a.RelayState != "" {
		b.WriteString(`<input type="hidden" name="RelayState" value="` + html.EscapeString(a.RelayState) + `">`)
	}
	b.WriteString(`<p>You are signed out of this application.</p><button type="submit" id="continue">Continue to your organisation's sign-out</button></form>`)
	return b.String()
}

// PostOrigin is the scheme and host the form posts to (for a CSP
// form-action), or "" if PostURL is not an absolute http(s) URL.
func (a *LogoutAnswer) PostOrigin() string {
	u, err := url.Parse(a.PostURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(u.Host, " ;'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// readSLO decodes and verifies a logout message at provider pr's SLO
// endpoint; every failure is refused().
func (sp *SP) readSLO(pr *Provider, md *IdPMetadata, u SPURLs, in SLOInput) (*sloMessage, error) {
	lib := sp.library(pr, md, u)
	m := &sloMessage{}
	var raw []byte
	var param string
	var querySigned bool
	if in.Post {
		m.binding = BindingPOST
		req, resp := in.Form.Get("SAMLRequest"), in.Form.Get("SAMLResponse")
		if (req == "") == (resp == "") {
			return nil, refused("POST with neither or both of SAMLRequest and SAMLResponse")
		}
		param, m.relay = "SAMLRequest", in.Form.Get("RelayState")
		enc := req
		if resp != "" {
			param, enc = "SAMLResponse", resp
		}
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(enc), ""))
		if err != nil {
			return nil, refused("%s is not base64", param)
		}
		raw = b
	} else {
		m.binding = BindingRedirect
		q, err := rawQuery(in.RawQuery)
		if err != nil {
			return nil, err
		}
		_, hasReq := q["SAMLRequest"]
		_, hasResp := q["SAMLResponse"]
		if hasReq == hasResp {
			return nil, refused("query with neither or both of SAMLRequest and SAMLResponse")
		}
		param = "SAMLRequest"
		if hasResp {
			param = "SAMLResponse"
		}
		val, err := url.QueryUnescape(q[param])
		if err != nil {
			return nil, refused("%s is not URL-encoded", param)
		}
		if m.relay, err = url.QueryUnescape(q["RelayState"]); err != nil {
			return nil, refused("RelayState is not URL-encoded")
		}
		deflated, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, refused("%s is not base64", param)
		}
		if raw, err = inflate(deflated); err != nil {
			return nil, err
		}
		if _, signed := q["Signature"]; signed {
			if err := verifyQuery(q, param, md.Certs); err != nil {
				return nil, err
			}
			querySigned = true
		}
	}
	scan, err := checkXML(raw, MaxResponseBytes)
	if err != nil {
		return nil, refused("%s: %v", param, err)
	}
	want := map[string]string{"SAMLRequest": "LogoutRequest", "SAMLResponse": "LogoutResponse"}[param]
	if scan.root.Local != want || scan.assertions != 0 {
		return nil, refused("%s holds a %s", param, scan.root.Local)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	switch {
	case param == "SAMLRequest" && querySigned:
		var r saml2.LogoutRequest
		if err := xml.Unmarshal(raw, &r); err != nil {
			return nil, refused("LogoutRequest: %v", err)
		}
		if err := lib.ValidateDecodedLogoutRequest(&r); err != nil {
			return nil, refused("LogoutRequest rejected: %v", err)
		}
		r.SignatureValidated = true
		m.request = &r
		// The whole query, raw included, is what was signed.
		if m.sessionIndexes, err = readSessionIndexes(raw); err != nil {
			return nil, refused("LogoutRequest: %v", err)
		}
	case param == "SAMLRequest":
		r, err := lib.ValidateEncodedLogoutRequestPOST(enc)
		if err != nil {
			return nil, refused("LogoutRequest rejected: %v", err)
		}
		m.request = r
		// gosaml2 keeps the verified element to itself: verify again with
		// goxmldsig to read SessionIndex from signed bytes only.
		if m.sessionIndexes, err = verifiedSessionIndexes(raw, md.Certs, lib.Clock); err != nil {
			return nil, refused("LogoutRequest: %v", err)
		}
	case querySigned:
		var r types.LogoutResponse
		if err := xml.Unmarshal(raw, &r); err != nil {
			return nil, refused("LogoutResponse: %v", err)
		}
		if err := lib.ValidateDecodedLogoutResponse(&r); err != nil {
			return nil, refused("LogoutResponse rejected: %v", err)
		}
		r.SignatureValidated = true
		m.response = &r
	default:
		r, err := lib.ValidateEncodedLogoutResponsePOST(enc)
		if err != nil {
			return nil, refused("LogoutResponse rejected: %v", err)
		}
		m.response = r
	}
	// Bulwark's own checks on top of gosaml2's (which accepts an absent
	// Destination and does not look at IssueInstant).
	var dest, issuer, id string
	var issued time.Time
	if r := m.request; r != nil {
		if !r.SignatureValidated {
			return nil, refused("LogoutRequest not signed")
		}
		dest, id, issued = r.Destination, r.ID, r.IssueInstant
		if r.Issuer != nil {
			issuer = r.Issuer.Value
		}
	} else {
		r := m.response
		if !r.SignatureValidated {
			return nil, refused("LogoutResponse not signed")
		}
		dest, id, issued = r.Destination, r.ID, r.IssueInstant
		if r.Issuer != nil {
			issuer = r.Issuer.Value
		}
	}
	now, skew := sp.now(), sp.skew()
	switch {
	case dest != u.SLO:
		return nil, refused("logout destination %q", dest)
	case issuer != md.EntityID:
		return nil, refused("logout issuer")
	case id == "" || len(id) > 256:
		return nil, refused("logout message without a usable ID")
	case issued.After(now.Add(skew)) || issued.Before(now.Add(-issueWindow-skew)):
		return nil, refused("logout message issued at %s", issued)
	}
	return m, nil
}

// rawQuery splits a query string into its still-encoded values: the
// redirect binding's signature covers the octets as sent. A parameter
// given twice is refused.
func rawQuery(q string) (map[string]string, error) {
	if len(q) > MaxResponseBytes*2 {
		return nil, refused("query too long")
	}
	out := map[string]string{}
	for _, kv := range strings.Split(q, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := out[k]; dup {
			return nil, refused("query parameter %q repeated", k)
		}
		out[k] = v
	}
	return out, nil
}

// querySigAlgs maps the allowed redirect-binding SigAlg values (S12:
// SHA-2 only) to the standard library's algorithms.
var querySigAlgs = map[string]x509.SignatureAlgorithm{
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   x509.SHA256WithRSA,
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   x509.SHA512WithRSA,
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": x509.ECDSAWithSHA256,
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": x509.ECDSAWithSHA512,
}

// verifyQuery checks an HTTP-Redirect signature (SAML bindings 3.4.4.1):
// over "param=v&RelayState=v&SigAlg=v" exactly as received, with one of
// the IdP's metadata certificates.
func verifyQuery(q map[string]string, param string, certs []*x509.Certificate) error {
	alg, err := url.QueryUnescape(q["SigAlg"])
	if err != nil {
		return refused("SigAlg is not URL-encoded")
	}
	algo, ok := querySigAlgs[alg]
	if !ok {
		return refused("SigAlg %q not allowed", alg)
	}
	sigText, err := url.QueryUnescape(q["Signature"])
	if err != nil {
		return refused("Signature is not URL-encoded")
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil || len(sig) == 0 {
		return refused("Signature is not base64")
	}
	signed := param + "=" + q[param]
	if rs, ok := q["RelayState"]; ok {
		signed += "&RelayState=" + rs
	}
	signed += "&SigAlg=" + q["SigAlg"]
	for _, c := range certs {
		if c.CheckSignature(algo, []byte(signed), sig) == nil {
			return nil
		}
	}
	return refused("query signature does not verify with the IdP's certificates")
}

// inflate undoes the redirect binding's DEFLATE, bounded (a deflate bomb
// stops at MaxResponseBytes).
func inflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, refused("message is not DEFLATE-compressed")
	}
	if len(out) > MaxResponseBytes {
		return nil, refused("inflated message too large")
	}
	return out, nil
}

// answerLogout builds the signed LogoutResponse to the IdP's request id,
// for the IdP's SLO endpoint: on its HTTP-Redirect binding if it has one,
// else on HTTP-POST. Without an SP key or an IdP SLO endpoint there is
// nothing to sign or nowhere to send it: nil.
func (sp *SP) answerLogout(pr *Provider, md *IdPMetadata, u SPURLs, requestID, relay string) (*LogoutAnswer, error) {
	if md.SLOURL == "" || !pr.SPKey.usable() {
		return nil, nil
	}
	lib := sp.library(pr, md, u)
	if md.SLOBinding == BindingPOST {
		doc, err := lib.BuildLogoutResponseDocument(saml2.StatusCodeSuccess, requestID)
		if err != nil {
			return nil, err
		}
		b, err := doc.WriteToBytes()
		if err != nil {
			return nil, err
		}
		return &LogoutAnswer{PostURL: md.SLOURL, PostField: "SAMLResponse", PostValue: base64.StdEncoding.EncodeToString(b), RelayState: relay}, nil
	}
	doc, err := lib.BuildLogoutResponseDocumentNoSig(saml2.StatusCodeSuccess, requestID)
	if err != nil {
		return nil, err
	}
	loc, err := redirectURL(lib.SigningContext(), md.SLOURL, "SAMLResponse", doc, relay)
	if err != nil {
		return nil, err
	}
	return &LogoutAnswer{Redirect: loc}, nil
}

// redirectURL encodes doc for the HTTP-Redirect binding and signs the
// query with the SP key (goxmldsig's SignString).
func redirectURL(ctx *dsig.SigningContext, dest, param string, doc *etree.Document, relay string) (string, error) {
	x, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(x); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	signed := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" {
		signed += "&RelayState=" + url.QueryEscape(relay)
	}
	signed += "&SigAlg=" + url.QueryEscape(ctx.GetSignatureMethodIdentifier())
	sig, err := ctx.SignString(signed)
	if err != nil {
		return "", err
	}
	sep := "?"
	if strings.Contains(dest, "?") {
		sep = "&"
	}
	return dest + sep + signed + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

// verifiedSessionIndexes checks doc's enveloped signature against certs
// and reads SessionIndex from the verified element.
func verifiedSessionIndexes(doc []byte, certs []*x509.Certificate, clock *dsig.Clock) ([]string, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return nil, err
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	vc.Clock = clock
	el, err := vc.Validate(d.Root())
	if err != nil {
		return nil, err
	}
	vd := etree.NewDocument()
	vd.SetRoot(el.Copy())
	b, err := vd.WriteToBytes()
	if err != nil {
		return nil, err
	}
	return readSessionIndexes(b)
}
