package sso

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/addrlimit"
)

// Backend is what the service needs from the store: providers, the
// pending-login state, and turning a verified identity into a session.
type Backend interface {
	SSOProvider(ctx context.Context, slug, id string) (*Provider, string, error)
	SSOProviderIDs(ctx context.Context, slug string) ([]string, error)
	SSOState() State
	FederatedLogin(ctx context.Context, pr *Provider, id *Identity) (*bulwark.Session, error)
	// FederatedLogout ends the sessions opened through pr for (issuer,
	// subject); with sessionIndexes, only the SAML sessions among them
	// with one of those SessionIndex values.
	FederatedLogout(ctx context.Context, pr *Provider, issuer, subject string, sessionIndexes []string) error
	// SAMLSession returns the provider (with its keys) and the SAML
	// session reference of the caller's session; nil, nil if the session
	// did not come from a federated login.
	SAMLSession(ctx context.Context) (*Provider, *SessionRef, error)
	SSOLoginRefused(ctx context.Context, pr *Provider) error

	CreateSSOProvider(ctx context.Context, p Provider) (*Provider, error)
	UpdateSSOProvider(ctx context.Context, id string, p Provider) (*Provider, error)
	DeleteSSOProvider(ctx context.Context, id string) error
	GetSSOProvider(ctx context.Context, id string) (*Provider, error)
	ListSSOProviders(ctx context.Context) ([]*Provider, error)
	GetSSOSettings(ctx context.Context) (*Settings, error)
	SSOMetadataSources(ctx context.Context) ([]MetadataSource, error)
	SetSSOMetadata(ctx context.Context, tenantID, providerID, metadata string) error
	SetSSOSettings(ctx context.Context, s Settings) (*Settings, error)
	RolloverSPKey(ctx context.Context, id, action string) (*Provider, error)
}

// Service runs the browser flows and the admin configuration. BaseURL
// is the public https URL of the deployment; every provider's endpoints
// live under BaseURL/sso/{tenant}/...
type Service struct {
	B       Backend
	RP      *RP
	SP      *SP
	Guard   *Guard
	BaseURL string

	addrs *addrlimit.Limiter
}

// NewService wires a service with one guard for every outbound request.
func NewService(b Backend, g *Guard, baseURL string) *Service {
	return &Service{B: b, RP: &RP{Guard: g}, SP: &SP{Guard: g}, Guard: g, BaseURL: strings.TrimSuffix(baseURL, "/"),
		addrs: addrlimit.New(addrRate, addrBurst, errAddrLimited)}
}

func (s *Service) base(slug, kind, id string) string {
	return s.BaseURL + "/sso/" + url.PathEscape(slug) + "/" + kind + "/" + url.PathEscape(id)
}

// URLs are provider id's SAML service-provider addresses in tenant slug.
func (s *Service) URLs(slug, id string) SPURLs {
	b := s.base(slug, KindSAML, id)
	return SPURLs{EntityID: b + "/metadata", ACS: b + "/acs", SLO: b + "/slo"}
}

// RedirectURI is provider id's OIDC callback in tenant slug.
func (s *Service) RedirectURI(slug, id string) string {
	return s.base(slug, KindOIDC, id) + "/callback"
}

// Start begins a login with provider id of tenant slug. It returns where
// to send the browser and the binding value to give it as a cookie.
func (s *Service) Start(ctx context.Context, slug, id, returnTo string) (location, binding string, err error) {
	if err := s.addrs.Allow(ctx, time.Now()); err != nil {
		return "", "", err
	}
	pr, _, err := s.B.SSOProvider(ctx, slug, id)
	if err != nil {
		return "", "", err
	}
	binding, hash := NewBinding()
	switch pr.Kind {
	case KindOIDC:
		location, err = s.RP.Begin(ctx, s.B.SSOState(), pr, s.RedirectURI(slug, id), returnTo, hash)
	case KindSAML:
		location, err = s.SP.Begin(ctx, s.B.SSOState(), pr, s.URLs(slug, id), returnTo, hash)
	default:
		err = bulwark.NotFound("identity provider")
	}
	return location, binding, err
}

// StartTenant begins a login with tenant slug's identity provider (its
// oldest, if it has several): the console's "sign in with single
// sign-on" needs only the organisation's name.
func (s *Service) StartTenant(ctx context.Context, slug, returnTo string) (location, binding string, err error) {
	ids, err := s.B.SSOProviderIDs(ctx, slug)
	if err != nil {
		return "", "", err
	}
	return s.Start(ctx, slug, ids[0], returnTo)
}

// OIDCCallback finishes an OIDC login and opens a session.
func (s *Service) OIDCCallback(ctx context.Context, slug, id string, q url.Values, binding string) (*bulwark.Session, string, error) {
	if err := s.addrs.Allow(ctx, time.Now()); err != nil {
		return nil, "", err
	}
	pr, _, err := s.B.SSOProvider(ctx, slug, id)
	if err != nil {
		return nil, "", err
	}
	ident, to, err := s.RP.Finish(ctx, s.B.SSOState(), pr, s.RedirectURI(slug, id), q, binding)
	if err != nil {
		return nil, "", s.refused(ctx, pr, err)
	}
	sess, err := s.B.FederatedLogin(ctx, pr, ident)
	return sess, to, err
}

// ACS finishes a SAML login and opens a session.
func (s *Service) ACS(ctx context.Context, slug, id, samlResponse, relayState, binding string) (*bulwark.Session, string, error) {
	if err := s.addrs.Allow(ctx, time.Now()); err != nil {
		return nil, "", err
	}
	pr, _, err := s.B.SSOProvider(ctx, slug, id)
	if err != nil {
		return nil, "", err
	}
	ident, to, err := s.SP.ACS(ctx, s.B.SSOState(), pr, s.URLs(slug, id), samlResponse, relayState, binding)
	if err != nil {
		return nil, "", s.refused(ctx, pr, err)
	}
	sess, err := s.B.FederatedLogin(ctx, pr, ident)
	return sess, to, err
}

// Metadata is the SP metadata of a SAML provider.
func (s *Service) Metadata(ctx context.Context, slug, id string) ([]byte, error) {
	pr, _, err := s.B.SSOProvider(ctx, slug, id)
	if err != nil {
		return nil, err
	}
	if pr.Kind != KindSAML {
		return nil, bulwark.NotFound("identity provider")
	}
	return s.SP.Metadata(pr, s.URLs(slug, id))
}

// refused audits a refused answer of the IdP and returns err.
func (s *Service) refused(ctx context.Context, pr *Provider, err error) error {
	if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
		if aerr := s.B.SSOLoginRefused(ctx, pr); aerr != nil {
			return aerr
		}
	}
	return err
}

// SLO handles a message at provider id's single-logout endpoint. A
// signed LogoutRequest from the IdP ends the sessions opened through the
// provider for its NameID and returns the signed LogoutResponse to send
// (nil when the IdP has no SLO endpoint or the provider no SP key). A
// signed LogoutResponse must answer a LogoutRequest Bulwark issued (used
// once); it returns the local page to go to. Anything else is refused
// and changes nothing.
func (s *Service) SLO(ctx context.Context, slug, id string, in SLOInput) (*LogoutAnswer, string, error) {
	if err := s.addrs.Allow(ctx, time.Now()); err != nil {
		return nil, "", err
	}
	pr, _, err := s.B.SSOProvider(ctx, slug, id)
	if err != nil {
		return nil, "", err
	}
	if pr.Kind != KindSAML {
		return nil, "", bulwark.NotFound("identity provider")
	}
	md, err := ParseMetadata([]byte(pr.IdPMetadata))
	if err != nil {
		return nil, "", err
	}
	u := s.URLs(slug, id)
	m, err := s.SP.readSLO(pr, md, u, in)
	if err != nil {
		return nil, "", s.refused(ctx, pr, err)
	}
	if r := m.response; r != nil {
		req, err := s.B.SSOState().TakeRequest(ctx, pr.TenantID, pr.ID, r.InResponseTo)
		if err != nil || req.Nonce != logoutNonce {
			return nil, "", s.refused(ctx, pr, refused("LogoutResponse InResponseTo %q unknown, used or not a logout", r.InResponseTo))
		}
		return nil, req.ReturnTo, nil
	}
	r := m.request
	if r.NameID == nil || strings.TrimSpace(r.NameID.Value) == "" {
		return nil, "", s.refused(ctx, pr, refused("LogoutRequest without NameID"))
	}
	// Used once: a LogoutRequest seen again (from a browser's history, a
	// log) could otherwise end the sessions of the user's next login.
	// Remembered as long as its IssueInstant keeps it acceptable.
	if err := s.B.SSOState().SeeAssertion(ctx, pr.TenantID, md.EntityID, "logout-request:"+r.ID, r.IssueInstant.Add(issueWindow+2*s.SP.skew())); err != nil {
		if bulwark.ErrorCode(err) == bulwark.EConflict {
			return nil, "", s.refused(ctx, pr, refused("LogoutRequest %q replayed", r.ID))
		}
		return nil, "", err
	}
	if err := s.B.FederatedLogout(ctx, pr, md.EntityID, strings.TrimSpace(r.NameID.Value), m.sessionIndexes); err != nil {
		return nil, "", err
	}
	ans, err := s.SP.answerLogout(pr, md, u, r.ID, m.relay)
	return ans, "", err
}

// EndSession logs the caller out through logout and, when the session
// came from a SAML login with an IdP that has a single-logout endpoint,
// returns the signed LogoutRequest to send the browser on with, so the
// IdP ends its session too (SP-initiated logout). Bulwark's own session
// ends first, whatever happens with the IdP.
func (s *Service) EndSession(ctx context.Context, logout func(context.Context) error) (*LogoutAnswer, error) {
	p := bulwark.FromContext(ctx)
	var pr *Provider
	var ref *SessionRef
	if p != nil && p.Kind == bulwark.KindUser && p.SessionID != "" {
		// A failed lookup only means no IdP logout.
		pr, ref, _ = s.B.SAMLSession(ctx)
	}
	if err := logout(ctx); err != nil {
		return nil, err
	}
	if pr == nil || ref == nil || pr.Kind != KindSAML {
		return nil, nil
	}
	ans, err := s.SP.StartLogout(ctx, s.B.SSOState(), pr, s.URLs(p.TenantSlug, pr.ID), ref)
	if err != nil {
		// The local logout is done; the IdP session stays.
		return nil, nil
	}
	return ans, nil
}

// prepare fetches SAML metadata from MetadataURL (through the guard) when
// no XML was given.
func (s *Service) prepare(ctx context.Context, p *Provider) error {
	if p.Kind == KindSAML && p.IdPMetadata == "" && p.MetadataURL != "" {
		b, _, err := s.Guard.FetchMetadata(ctx, p.MetadataURL)
		if err != nil {
			return err
		}
		p.IdPMetadata = string(b)
	}
	return nil
}

// CreateProvider adds a provider to the caller's tenant.
func (s *Service) CreateProvider(ctx context.Context, p Provider) (*Provider, error) {
	if err := s.prepare(ctx, &p); err != nil {
		return nil, err
	}
	return s.B.CreateSSOProvider(ctx, p)
}

// UpdateProvider replaces a provider's configuration.
func (s *Service) UpdateProvider(ctx context.Context, id string, p Provider) (*Provider, error) {
	if err := s.prepare(ctx, &p); err != nil {
		return nil, err
	}
	return s.B.UpdateSSOProvider(ctx, id, p)
}

// MetadataSource is a SAML provider whose metadata is fetched from a URL.
type MetadataSource struct {
	TenantID, ProviderID, URL string
	Current                   string
}

// RefreshMetadata fetches every metadata URL again (through the guard) and
// stores what changed, so an IdP's certificate rollover, published in its
// metadata ahead of time, reaches Bulwark without an admin. A document
// that does not parse, or names another entity id, is skipped: a changed
// URL content never swaps one IdP for another. It returns how many
// providers were updated and the first error met.
func (s *Service) RefreshMetadata(ctx context.Context) (int, error) {
	srcs, err := s.B.SSOMetadataSources(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, src := range srcs {
		b, md, err := s.Guard.FetchMetadata(ctx, src.URL)
		if err != nil {
			keep(err)
			continue
		}
		old, err := ParseMetadata([]byte(src.Current))
		if err != nil || old.EntityID != md.EntityID {
			keep(errorf("metadata at %s names entity %q, not the configured one", src.URL, md.EntityID))
			continue
		}
		if sameMetadata(old, md) {
			continue // validUntil and formatting may change on every fetch
		}
		if err := s.B.SetSSOMetadata(ctx, src.TenantID, src.ProviderID, string(b)); err != nil {
			keep(err)
			continue
		}
		n++
	}
	return n, first
}

func sameMetadata(a, b *IdPMetadata) bool {
	if a.EntityID != b.EntityID || a.SSOURL != b.SSOURL || a.SLOURL != b.SLOURL || len(a.Certs) != len(b.Certs) {
		return false
	}
	for i := range a.Certs {
		if !a.Certs[i].Equal(b.Certs[i]) {
			return false
		}
	}
	return true
}
