package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bulwarkhq/bulwark"
)

// Signing algorithms an ID token may use (O1). Keys come only from the
// provider's JWKS: none, HMAC and header-supplied keys never verify.
var oidcAlgs = []string{oidc.RS256, oidc.ES256}

// providerTTL is how long discovery (and with it the JWKS cache) is kept.
const providerTTL = time.Hour

// RP is the OpenID Connect relying party, shared by every tenant. It caches
// one go-oidc Provider (discovery + JWKS) per issuer.
type RP struct {
	Guard *Guard
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Skew bounds iat/nbf/exp differences; default DefaultSkew.
	Skew time.Duration

	mu    sync.Mutex
	cache map[string]cachedProvider
}

type cachedProvider struct {
	p       *oidc.Provider
	fetched time.Time
}

func (rp *RP) now() time.Time {
	if rp.Now != nil {
		return rp.Now()
	}
	return time.Now()
}

func (rp *RP) skew() time.Duration {
	if rp.Skew > 0 {
		return rp.Skew
	}
	return DefaultSkew
}

func (rp *RP) clientContext(ctx context.Context) context.Context {
	// The go-oidc key set keeps this client for its later JWKS fetches,
	// but not ctx's deadline; every fetch goes through the guard.
	return oidc.ClientContext(context.WithoutCancel(ctx), rp.Guard.Client())
}

// provider returns the discovery document of issuer, cached. go-oidc
// refuses a document whose issuer is not exactly issuer (O2).
func (rp *RP) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	rp.mu.Lock()
	c, ok := rp.cache[issuer]
	rp.mu.Unlock()
	if ok && rp.now().Sub(c.fetched) < providerTTL {
		return c.p, nil
	}
	p, err := oidc.NewProvider(rp.clientContext(ctx), issuer)
	if err != nil {
		return nil, &bulwark.Error{Code: bulwark.EUnavailable, Message: "the identity provider could not be reached", Err: err}
	}
	rp.mu.Lock()
	if rp.cache == nil {
		rp.cache = map[string]cachedProvider{}
	}
	rp.cache[issuer] = cachedProvider{p: p, fetched: rp.now()}
	rp.mu.Unlock()
	return p, nil
}

func (rp *RP) config(p *oidc.Provider, pr *Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     pr.ClientID,
		ClientSecret: pr.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  redirectURI,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// Begin starts an authorization code flow: it stores state, nonce, the
// PKCE verifier and the browser binding hash (from NewBinding) server-side
// and returns the URL to send the browser to.
func (rp *RP) Begin(ctx context.Context, st State, pr *Provider, redirectURI, returnTo, binding string) (string, error) {
	if pr.Kind != KindOIDC {
		return "", bulwark.NotFound("identity provider")
	}
	p, err := rp.provider(ctx, pr.Issuer)
	if err != nil {
		return "", err
	}
	req := &Request{
		ID:         randomToken(),
		TenantID:   pr.TenantID,
		ProviderID: pr.ID,
		Nonce:      randomToken(),
		Verifier:   oauth2.GenerateVerifier(),
		ReturnTo:   LocalPath(returnTo),
		Binding:    binding,
		ExpiresAt:  rp.now().Add(RequestTTL),
	}
	if err := st.SaveRequest(ctx, req); err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(req.Nonce), oauth2.S256ChallengeOption(req.Verifier)}
	if pr.HostedDomain != "" {
		opts = append(opts, oauth2.SetAuthURLParam("hd", pr.HostedDomain))
	}
	return rp.config(p, pr, redirectURI).AuthCodeURL(req.ID, opts...), nil
}

// Finish completes a flow from the query of the callback: the state must
// be one Bulwark issued for this tenant's provider (used once), the code
// is exchanged with the PKCE verifier, and the ID token fully verified.
func (rp *RP) Finish(ctx context.Context, st State, pr *Provider, redirectURI string, q url.Values, binding string) (*Identity, string, error) {
	if pr.Kind != KindOIDC {
		return nil, "", bulwark.NotFound("identity provider")
	}
	state := q.Get("state")
	if state == "" || len(state) > 200 {
		return nil, "", refused("callback without a valid state")
	}
	req, err := st.TakeRequest(ctx, pr.TenantID, pr.ID, state)
	if err != nil {
		return nil, "", refused("unknown, used or expired state: %v", err)
	}
	if !checkBinding(req, binding) {
		return nil, "", refused("state begun in another browser")
	}
	if e := q.Get("error"); e != "" {
		return nil, "", refused("provider answered error %q", e)
	}
	// RFC 9207: a provider that names itself must be the one we asked;
	// this defeats mix-up across providers (O7).
	if iss := q.Get("iss"); iss != "" && iss != pr.Issuer {
		return nil, "", refused("callback iss %q is not %q", iss, pr.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		return nil, "", refused("callback without a code")
	}
	p, err := rp.provider(ctx, pr.Issuer)
	if err != nil {
		return nil, "", err
	}
	tok, err := rp.config(p, pr, redirectURI).Exchange(rp.clientContext(ctx), code, oauth2.VerifierOption(req.Verifier))
	if err != nil {
		return nil, "", refused("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", refused("token response without an id_token")
	}
	id, err := rp.Verify(ctx, pr, raw, req.Nonce)
	if err != nil {
		return nil, "", err
	}
	return id, req.ReturnTo, nil
}

type idClaims struct {
	Nonce         string          `json:"nonce"`
	Azp           string          `json:"azp"`
	Aud           json.RawMessage `json:"aud"`
	Iat           *float64        `json:"iat"`
	Nbf           *float64        `json:"nbf"`
	Email         string          `json:"email"`
	EmailVerified any             `json:"email_verified"`
	XmsEdov       any             `json:"xms_edov"`
	Name          string          `json:"name"`
	HD            string          `json:"hd"`
	AMR           []string        `json:"amr"`
	ACR           string          `json:"acr"`
}

// Verify checks an ID token as the relying party of pr, expecting nonce.
// go-oidc checks the signature (keys from the JWKS, RS256/ES256 only), the
// issuer, that the audience includes the client id, and expiry; Bulwark
// adds the header, azp, iat/nbf with bounded skew, the nonce, email
// verification, allowed domains and hd.
func (rp *RP) Verify(ctx context.Context, pr *Provider, raw, nonce string) (*Identity, error) {
	if len(raw) > 16<<10 {
		return nil, refused("ID token too large")
	}
	if err := checkJOSEHeader(raw); err != nil {
		return nil, refused("ID token header: %v", err)
	}
	p, err := rp.provider(ctx, pr.Issuer)
	if err != nil {
		return nil, err
	}
	v := p.VerifierContext(rp.clientContext(ctx), &oidc.Config{ClientID: pr.ClientID, SupportedSigningAlgs: oidcAlgs, Now: rp.now})
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, refused("ID token: %v", err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		return nil, refused("ID token claims: %v", err)
	}
	now, skew := rp.now(), rp.skew()
	// Multiple audiences need an azp naming us; a present azp must be us (O3).
	if len(tok.Audience) != 1 && c.Azp == "" {
		return nil, refused("several audiences and no azp")
	}
	if c.Azp != "" && c.Azp != pr.ClientID {
		return nil, refused("azp %q is not the client id", c.Azp)
	}
	if !slices.Contains(tok.Audience, pr.ClientID) {
		return nil, refused("audience")
	}
	// go-oidc allows five minutes for nbf and does not look at iat (O4).
	if c.Iat == nil {
		return nil, refused("ID token without iat")
	}
	iat := time.Unix(int64(*c.Iat), 0)
	if iat.After(now.Add(skew)) || now.Sub(iat) > RequestTTL+skew {
		return nil, refused("iat %v out of bounds", iat)
	}
	if c.Nbf != nil && time.Unix(int64(*c.Nbf), 0).After(now.Add(skew)) {
		return nil, refused("nbf in the future")
	}
	if tok.Expiry.Before(now.Add(-skew)) {
		return nil, refused("expired")
	}
	// go-oidc does not check the nonce: Bulwark must (O5).
	if nonce == "" || c.Nonce == "" || !equal(c.Nonce, nonce) {
		return nil, refused("nonce mismatch")
	}
	if tok.Subject == "" || len(tok.Subject) > 255 {
		return nil, refused("bad subject")
	}
	id := &Identity{Issuer: tok.Issuer, Subject: tok.Subject, Name: c.Name, MFA: mfaEvidence(c.AMR, c.ACR)}
	if pr.GroupAttribute != "" {
		// Only from the verified token: a groups claim (Entra ID, Okta)
		// of one string or a list.
		var all map[string]any
		if err := tok.Claims(&all); err == nil {
			id.Groups = groupValues(all[pr.GroupAttribute])
		}
	}
	// Google's "accounts.google.com" and "https://accounts.google.com" are
	// one issuer: key identities by the configured form.
	id.Issuer = pr.Issuer
	if c.Email != "" {
		if e, err := bulwark.NormalizeEmail("email", c.Email); err == nil {
			id.Email = e
			// Microsoft Entra ID sends no email_verified; its optional
			// xms_edov claim says the email's domain is verified by the
			// directory's owner. Only when email_verified is absent.
			id.EmailVerified = truthy(c.EmailVerified) || (c.EmailVerified == nil && truthy(c.XmsEdov))
		}
	}
	if len(pr.AllowedDomains) > 0 {
		if id.Email == "" || !id.EmailVerified || !slices.Contains(pr.AllowedDomains, domainOf(id.Email)) {
			return nil, refused("email %q not verified or not in an allowed domain", id.Email)
		}
	}
	// The Workspace restriction is the signed hd claim, never the email's
	// domain: a consumer account can have any address (O8).
	if pr.HostedDomain != "" && c.HD != pr.HostedDomain {
		return nil, refused("hd %q is not %q", c.HD, pr.HostedDomain)
	}
	return id, nil
}

// checkJOSEHeader refuses headers that point at keys (jku, x5u, jwk, x5c)
// or demand extensions: keys come only from the JWKS (O1).
func checkJOSEHeader(raw string) error {
	h, _, ok := strings.Cut(raw, ".")
	if !ok {
		return errorf("not a JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return errorf("header encoding")
	}
	var hdr map[string]any
	if err := json.Unmarshal(b, &hdr); err != nil {
		return errorf("header json")
	}
	for _, k := range []string{"jku", "x5u", "jwk", "x5c", "crit"} {
		if _, ok := hdr[k]; ok {
			return errorf("header carries %s", k)
		}
	}
	alg, _ := hdr["alg"].(string)
	if !slices.Contains(oidcAlgs, alg) {
		return errorf("algorithm %q not allowed", alg)
	}
	return nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}

// mfaEvidence reads RFC 8176 amr values and common acr values.
func mfaEvidence(amr []string, acr string) bool {
	factors := 0
	for _, m := range amr {
		switch m {
		case "mfa":
			return true
		case "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm", "sms", "tel", "pin":
			factors++
		}
	}
	if factors >= 2 || (factors >= 1 && slices.Contains(amr, "pwd")) {
		return true
	}
	switch acr {
	case "http://schemas.openid.net/pape/policies/2007/06/multi-factor", "phr", "phrh",
		"urn:okta:loa:2fa:any", "urn:okta:loa:2fa:any:ifpossible":
		return true
	}
	return false
}
