// Package sso implements single sign-on for tenants: an OpenID Connect
// relying party (AUTH-4) and a SAML 2.0 service provider (AUTH-5), each
// configured per tenant, both behind Bulwark's own strict checks on top of
// well-kept libraries (coreos/go-oidc, russellhaering/gosaml2 and
// goxmldsig). Every outbound request goes through the SSRF Guard.
//
// The package decides whether an identity provider's answer proves who
// someone is, and returns an Identity keyed by (issuer, subject), never by
// email. Linking that identity to a user and opening a session is the
// store's business. Pending requests and seen assertion ids live in a
// State the store provides, so any node can finish a flow another began.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Provider kinds.
const (
	KindOIDC = "oidc"
	KindSAML = "saml"
)

// Provider is one identity provider configured by a tenant admin.
type Provider struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`

	// OpenID Connect.
	Issuer   string `json:"issuer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is write-only: reads show SecretMask, and an update
	// that gives SecretMask (or nothing) keeps the stored secret.
	ClientSecret string `json:"client_secret,omitempty"`
	// AllowedDomains, if any, limit logins to verified emails in them.
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	// HostedDomain, if set, must equal the signed `hd` claim (Google
	// Workspace).
	HostedDomain string `json:"hosted_domain,omitempty"`

	// SAML: the IdP's metadata (XML) and, optionally, where it is
	// fetched from (through the SSRF guard).
	IdPMetadata    string `json:"idp_metadata,omitempty"`
	MetadataURL    string `json:"metadata_url,omitempty"`
	IdPInitiated   bool   `json:"idp_initiated,omitempty"`
	EmailAttribute string `json:"email_attribute,omitempty"`
	NameAttribute  string `json:"name_attribute,omitempty"`
	RoleAttribute  string `json:"role_attribute,omitempty"`
	// GroupAttribute names the SAML attribute or OIDC claim holding the
	// user's groups; RoleMappings turn its values into tenant roles.
	GroupAttribute string        `json:"group_attribute,omitempty"`
	RoleMappings   []RoleMapping `json:"role_mappings,omitempty"`
	// SignRequests signs AuthnRequests with the provider's SP key (an IdP
	// that requires signed requests needs it on).
	SignRequests bool `json:"sign_requests,omitempty"`

	// SPKey is this provider's SAML key pair (signing and decryption);
	// SPNextKey, if any, is published beside it before it becomes active
	// (rollover), or kept after it retired, and decrypts too. Neither is
	// ever read from or written to JSON; redacted copies hold only the
	// certificate.
	SPKey     *SPKey `json:"-"`
	SPNextKey *SPKey `json:"-"`

	// Provisioning: JIT creates unknown users with DefaultRole; without it
	// only existing users may log in (invite-only).
	JIT         bool   `json:"jit"`
	DefaultRole string `json:"default_role,omitempty"`

	// OwnerConfigured is set by the store: an owner saved the provider
	// last (as only owners may now). A provider saved before then, by an
	// admin perhaps, never links a first login to an owner's account.
	OwnerConfigured bool `json:"-"`
}

// Settings is a tenant's SSO-only switch (AUTH-5).
type Settings struct {
	// SSOOnly refuses password logins of the tenant's users...
	SSOOnly bool `json:"sso_only"`
	// ...except these owners' (user ids), the admin's explicit fallback.
	FallbackUsers []string `json:"fallback_users"`
}

// Identity is what a verified login proved. Issuer and Subject are the key;
// Email is a claim about the person, used only to link a verified address
// to an invited user.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// MFA is true when the IdP asserted a multi-factor login (amr/acr or
	// SAML AuthnContext); otherwise Bulwark asks for its own second factor
	// if the tenant requires one.
	MFA bool
	// Role is a role name from the RoleAttribute, if mapped.
	Role string
	// Groups are the values of the provider's GroupAttribute.
	Groups []string
	// SessionIndex and NameIDFormat are SAML's, kept with the session so
	// logout can name it to the IdP.
	SessionIndex string
	NameIDFormat string
}

// Request is a login Bulwark began and has not finished: stored server-side
// so any node can finish it, used once.
type Request struct {
	ID         string // OIDC state, or the SAML AuthnRequest ID
	TenantID   string
	ProviderID string
	Nonce      string // OIDC only
	Verifier   string // PKCE code verifier, OIDC only
	ReturnTo   string // a local path
	// Binding is the hash of a random value given to the browser that
	// began the login (a cookie); the finish must present it, so a
	// response or code begun in one browser cannot be finished in another
	// (login CSRF, S9 "other-browser").
	Binding   string
	ExpiresAt time.Time
}

// NewBinding returns a browser binding value and the hash to store.
func NewBinding() (value, hash string) {
	value = randomToken()
	return value, hashBinding(value)
}

func hashBinding(v string) string {
	sum := sha256.Sum256([]byte("bulwark-sso-binding\x00" + v))
	return hex.EncodeToString(sum[:])
}

// checkBinding reports whether the browser's value matches the request.
func checkBinding(r *Request, value string) bool {
	return r.Binding != "" && value != "" && equal(r.Binding, hashBinding(value))
}

// State keeps pending requests and seen SAML assertion ids.
type State interface {
	// SaveRequest stores r until r.ExpiresAt.
	SaveRequest(ctx context.Context, r *Request) error
	// TakeRequest returns and deletes the request id of tenantID's
	// providerID. Missing, expired or another tenant's or provider's:
	// ENotFound.
	TakeRequest(ctx context.Context, tenantID, providerID, id string) (*Request, error)
	// SeeAssertion records an assertion id until until; EConflict if it was
	// seen before (a replay).
	SeeAssertion(ctx context.Context, tenantID, issuer, id string, until time.Time) error
}

// RequestTTL is how long a begun login may take to come back.
const RequestTTL = 10 * time.Minute

// DefaultSkew bounds clock differences with identity providers.
const DefaultSkew = 2 * time.Minute

// refused is the one answer to a refused SSO response: the details go
// to the log through the wrapped cause, never to the browser.
func refused(format string, args ...any) error {
	e := bulwark.Errorf(bulwark.EUnauthenticated, "single sign-on failed; start again from your login page")
	e.Err = errorf(format, args...)
	return e
}

func errorf(format string, args ...any) error { return fmt.Errorf("sso: "+format, args...) }

func randomToken() string { return rand.Text() + rand.Text() }

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// LocalPath returns p if it is a path on this site ("/console/..."), else
// "/". Absolute URLs, scheme-relative "//host", backslashes and
// javascript: never pass, so RelayState and return_to cannot redirect
// off-site (S13).
func LocalPath(p string) string {
	if p == "" || len(p) > 512 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// SecretMask stands for a stored client secret in reads; given back in an
// update it means "keep the stored secret", so a read-modify-write of a
// provider never replaces its secret with the mask.
const SecretMask = "********"
