package sso

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// XML namespaces Bulwark looks at before any library does.
const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// Limits on SAML documents (S11).
const (
	MaxResponseBytes = 256 << 10 // decoded SAMLResponse
	MaxMetadataBytes = 512 << 10
	maxXMLDepth      = 48
	maxXMLTokens     = 50000
)

// Signature algorithms accepted (S12): SHA-2 only, exclusive
// canonicalisation without comments, enveloped-signature.
var (
	allowedSignatureMethods = map[string]bool{
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   true,
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": true,
	}
	allowedDigestMethods = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#sha256": true,
		"http://www.w3.org/2001/04/xmlenc#sha512": true,
	}
	// Encrypted assertions: AES content encryption and RSA-OAEP key
	// transport only; Triple-DES and RSA PKCS #1 v1.5 key transport
	// (Bleichenbacher-style oracles), which gosaml2 would take, are refused.
	allowedEncryptionMethods = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#aes128-cbc":     true,
		"http://www.w3.org/2001/04/xmlenc#aes192-cbc":     true,
		"http://www.w3.org/2001/04/xmlenc#aes256-cbc":     true,
		"http://www.w3.org/2009/xmlenc11#aes128-gcm":      true,
		"http://www.w3.org/2009/xmlenc11#aes192-gcm":      true,
		"http://www.w3.org/2009/xmlenc11#aes256-gcm":      true,
		"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p": true,
		"http://www.w3.org/2009/xmlenc11#rsa-oaep":        true,
	}
	allowedTransforms = map[string]bool{
		"http://www.w3.org/2001/10/xml-exc-c14n#":               true,
		"http://www.w3.org/2000/09/xmldsig#enveloped-signature": true,
	}
)

const digestSHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

// xmlScan is what checkXML learned about a document.
type xmlScan struct {
	assertions int  // Assertion and EncryptedAssertion elements, anywhere
	encrypted  bool // at least one EncryptedAssertion
	root       xml.Name
}

// checkXML reads a whole document as tokens before any SAML library sees
// it, and refuses what Bulwark never accepts: a DOCTYPE (so no entities,
// XXE or billion laughs), comments and processing instructions (the
// comment-truncation class, S5), excessive depth or size (S11), and
// signature algorithms outside the allow-list (S12). It also counts
// assertions wherever they hide (S3, S4).
func checkXML(b []byte, limit int) (*xmlScan, error) {
	if len(b) > limit {
		return nil, errorf("document larger than %d bytes", limit)
	}
	if bytes.Contains(b, []byte("<!")) {
		// <!DOCTYPE, <!ENTITY, <!-- and <![CDATA[ are all refused; none
		// has a place in a SAML message or metadata.
		if i := bytes.Index(b, []byte("<!")); i >= 0 {
			return nil, errorf("DOCTYPE, entity, comment or CDATA at byte %d", i)
		}
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	s := &xmlScan{}
	depth, tokens := 0, 0
	var parents []string // local names of the open elements
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errorf("malformed XML: %v", err)
		}
		if tokens++; tokens > maxXMLTokens {
			return nil, errorf("too many XML tokens")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxXMLDepth {
				return nil, errorf("XML nested too deep")
			}
			if depth == 1 {
				s.root = t.Name
			}
			parent := ""
			if len(parents) > 0 {
				parent = parents[len(parents)-1]
			}
			parents = append(parents, t.Name.Local)
			switch t.Name.Local {
			case "Assertion", "EncryptedAssertion":
				s.assertions++
				s.encrypted = s.encrypted || t.Name.Local == "EncryptedAssertion"
			case "EncryptionMethod":
				// In an encrypted assertion (EncryptedData, EncryptedKey);
				// metadata lists what an IdP supports, which is no use.
				if alg := attr(t, "Algorithm"); (parent == "EncryptedData" || parent == "EncryptedKey") && !allowedEncryptionMethods[alg] {
					return nil, errorf("EncryptionMethod %q not allowed", alg)
				}
			case "SignatureMethod", "DigestMethod", "CanonicalizationMethod", "Transform":
				alg := attr(t, "Algorithm")
				ok := false
				switch t.Name.Local {
				case "SignatureMethod":
					ok = allowedSignatureMethods[alg]
				case "DigestMethod":
					// RSA-OAEP key transport names its own digest inside
					// EncryptionMethod; SHA-1 there is OAEP's default and
					// not a signature digest.
					ok = allowedDigestMethods[alg] || parent == "EncryptionMethod" && alg == digestSHA1
				default:
					ok = allowedTransforms[alg]
				}
				if !ok {
					return nil, errorf("%s algorithm %q not allowed", t.Name.Local, alg)
				}
			}
		case xml.EndElement:
			depth--
			if len(parents) > 0 {
				parents = parents[:len(parents)-1]
			}
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, errorf("processing instruction %q", t.Target)
			}
		case xml.Directive, xml.Comment:
			return nil, errorf("directive or comment")
		}
	}
	if depth != 0 || s.root.Local == "" {
		return nil, errorf("incomplete XML")
	}
	return s, nil
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
