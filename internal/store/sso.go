package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// ssoConfig is the non-secret part of a provider, stored as JSON.
type ssoConfig struct {
	Issuer         string   `json:"issuer,omitempty"`
	ClientID       string   `json:"client_id,omitempty"`
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	HostedDomain   string   `json:"hosted_domain,omitempty"`
	MetadataURL    string   `json:"metadata_url,omitempty"`
	IdPInitiated   bool     `json:"idp_initiated,omitempty"`
	EmailAttribute string   `json:"email_attribute,omitempty"`
	NameAttribute  string   `json:"name_attribute,omitempty"`
	RoleAttribute  string   `json:"role_attribute,omitempty"`
	JIT            bool     `json:"jit,omitempty"`
	DefaultRole    string   `json:"default_role,omitempty"`
	SignRequests   bool     `json:"sign_requests,omitempty"`

	GroupAttribute string            `json:"group_attribute,omitempty"`
	RoleMappings   []sso.RoleMapping `json:"role_mappings,omitempty"`

	OwnerConfigured bool `json:"owner_configured,omitempty"`
}

// validateProvider checks a provider's shape (not whether its IdP works).
func validateProvider(p *sso.Provider) error {
	if p.Name == "" || len(p.Name) > 100 {
		return bulwark.FieldError("name", "must be 1 to 100 characters")
	}
	switch p.Kind {
	case sso.KindOIDC:
		u, err := url.Parse(p.Issuer)
		if err != nil || u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost")) || u.Host == "" || len(p.Issuer) > 500 {
			return bulwark.FieldError("issuer", "must be the provider's https issuer URL, such as https://accounts.google.com")
		}
		if p.ClientID == "" || len(p.ClientID) > 500 {
			return bulwark.FieldError("client_id", "is required")
		}
		if len(p.ClientSecret) > 1000 {
			return bulwark.FieldError("client_secret", "at most 1000 characters")
		}
		for _, d := range p.AllowedDomains {
			if d == "" || strings.ContainsAny(d, "@/ ") || len(d) > 253 {
				return bulwark.FieldError("allowed_domains", "must be domain names such as example.com")
			}
		}
	case sso.KindSAML:
		if _, err := sso.ParseMetadata([]byte(p.IdPMetadata)); err != nil {
			return err
		}
	default:
		return bulwark.FieldError("kind", "must be oidc or saml")
	}
	// A public issuer (Google, Microsoft's consumer accounts) signs in
	// anyone on the internet: just-in-time provisioning through OIDC must
	// be limited to the organisation's domains.
	if p.Kind == sso.KindOIDC && p.JIT && len(p.AllowedDomains) == 0 && p.HostedDomain == "" {
		return bulwark.FieldError("allowed_domains", "just-in-time provisioning through OpenID Connect needs allowed_domains or hosted_domain")
	}
	if p.JIT && p.DefaultRole == "" {
		return bulwark.FieldError("default_role", "is required with just-in-time provisioning")
	}
	if p.DefaultRole == bulwark.RoleOwner {
		return bulwark.FieldError("default_role", "cannot be owner")
	}
	return validateMappings(p)
}

func configOf(p *sso.Provider) string {
	b, _ := json.Marshal(ssoConfig{Issuer: p.Issuer, ClientID: p.ClientID, AllowedDomains: p.AllowedDomains, HostedDomain: p.HostedDomain,
		MetadataURL: p.MetadataURL, IdPInitiated: p.IdPInitiated, EmailAttribute: p.EmailAttribute, NameAttribute: p.NameAttribute,
		RoleAttribute: p.RoleAttribute, JIT: p.JIT, DefaultRole: p.DefaultRole, SignRequests: p.SignRequests,
		GroupAttribute: p.GroupAttribute, RoleMappings: p.RoleMappings, OwnerConfigured: p.OwnerConfigured})
	return string(b)
}

const providerCols = "id, kind, name, config, client_secret, idp_metadata, sp_cert, sp_next_cert"

func (t *tenantTx) scanProvider(s interface{ Scan(...any) error }) (*sso.Provider, error) {
	var p sso.Provider
	var cfg string
	var sealed, cert, nextCert []byte
	if err := s.Scan(&p.ID, &p.Kind, &p.Name, &cfg, &sealed, &p.IdPMetadata, &cert, &nextCert); err != nil {
		return nil, err
	}
	// Certificates only: private keys are opened by provider().
	var err error
	if p.SPKey, err = certOnly(cert); err != nil {
		return nil, err
	}
	if p.SPNextKey, err = certOnly(nextCert); err != nil {
		return nil, err
	}
	// The secret is opened by provider(), after the row is read (a query
	// may not run while rows are open); lists show only that one exists.
	if len(sealed) > 0 {
		p.ClientSecret = string(sealed)
	}
	var c ssoConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		return nil, err
	}
	p.TenantID = t.tenantID
	p.Issuer, p.ClientID, p.AllowedDomains, p.HostedDomain = c.Issuer, c.ClientID, c.AllowedDomains, c.HostedDomain
	p.MetadataURL, p.IdPInitiated, p.EmailAttribute, p.NameAttribute, p.RoleAttribute = c.MetadataURL, c.IdPInitiated, c.EmailAttribute, c.NameAttribute, c.RoleAttribute
	p.JIT, p.DefaultRole, p.SignRequests = c.JIT, c.DefaultRole, c.SignRequests
	p.GroupAttribute, p.RoleMappings, p.OwnerConfigured = c.GroupAttribute, c.RoleMappings, c.OwnerConfigured
	return &p, nil
}

// sealClientSecret seals an OIDC client secret with the tenant's data key,
// bound to the provider's row; no secret is stored as NULL.
func (t *tenantTx) sealClientSecret(id, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	b, err := t.sealSecret("sso_providers", "client_secret", id, []byte(secret))
	if err != nil {
		return nil, fmt.Errorf("seal SSO client secret: %w", err)
	}
	return b, nil
}

func (t *tenantTx) provider(id string) (*sso.Provider, error) {
	p, err := t.scanProvider(t.queryRow("SELECT "+providerCols+" FROM sso_providers WHERE tenant_id = ? AND id = ? AND enabled = 1", t.tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.NotFound("identity provider")
	}
	if err != nil {
		return nil, err
	}
	if p.ClientSecret != "" {
		plain, err := t.openSecret("sso_providers", "client_secret", p.ID, []byte(p.ClientSecret))
		if err != nil {
			return nil, fmt.Errorf("open SSO client secret: %w", err)
		}
		p.ClientSecret = string(plain)
	}
	if p.Kind == sso.KindSAML {
		if err := t.openSPKeys(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// requireProviderOwner guards every change to a tenant's identity
// providers (creating, changing, deleting one, its role mappings, its SP
// keys). A provider vouches for whom it likes, verified email and second
// factor included, and its first login links to the existing account of
// that email, owners' too: configuring one is the power to sign in as
// anyone in the tenant. Only an owner, who holds every power already, may
// (settings.manage, held by admins and custom roles, only reads them).
func (t *tenantTx) requireProviderOwner() error {
	return t.requireCan(bulwark.PermTenantOwn)
}

// checkDefaultRole checks the default role and every mapped role: each
// must exist, and the admin configuring them must hold every permission
// they carry (nobody hands out, even through an IdP, more than they have).
func (t *tenantTx) checkDefaultRole(p *sso.Provider) error {
	var gs []bulwark.Grant
	if p.DefaultRole != "" {
		gs = append(gs, bulwark.Grant{Role: p.DefaultRole})
	}
	for _, r := range p.ManagedRoles() {
		gs = append(gs, bulwark.Grant{Role: r})
	}
	if len(gs) == 0 {
		return nil
	}
	return t.checkGrantable(gs)
}

// CreateSSOProvider adds an identity provider to the caller's tenant
// (owners only: requireProviderOwner).
func (db *DB) CreateSSOProvider(ctx context.Context, p sso.Provider) (*sso.Provider, error) {
	if err := validateProvider(&p); err != nil {
		return nil, err
	}
	p.ID = newID()
	p.SPKey, p.SPNextKey = nil, nil
	if p.Kind == sso.KindSAML {
		// Generated before the transaction: RSA key generation is slow.
		k, err := sso.NewSPKey("bulwark-saml-sp-"+p.ID, db.now())
		if err != nil {
			return nil, err
		}
		p.SPKey = k
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireProviderOwner(); err != nil {
			return err
		}
		if err := t.checkDefaultRole(&p); err != nil {
			return err
		}
		p.TenantID, p.OwnerConfigured = t.tenantID, true
		sealed, err := t.sealClientSecret(p.ID, p.ClientSecret)
		if err != nil {
			return err
		}
		if _, err := t.exec("INSERT INTO sso_providers (tenant_id, id, kind, name, config, client_secret, idp_metadata, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
			t.tenantID, p.ID, p.Kind, p.Name, configOf(&p), sealed, p.IdPMetadata, micros(t.now), micros(t.now)); err != nil {
			return err
		}
		if err := t.storeSPKeys(p.ID, p.SPKey, nil); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "sso.provider.create", TargetKind: "sso_provider", TargetID: p.ID, Fields: []string{"kind", "name", "config", "sp_key"}, Privileged: true})
	})
	if err != nil {
		return nil, err
	}
	return redact(&p), nil
}

// UpdateSSOProvider replaces a provider's configuration. An empty client
// secret keeps the stored one.
func (db *DB) UpdateSSOProvider(ctx context.Context, id string, p sso.Provider) (*sso.Provider, error) {
	var out *sso.Provider
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireProviderOwner(); err != nil {
			return err
		}
		old, err := t.provider(id)
		if err != nil {
			return err
		}
		p.ID, p.Kind, p.TenantID, p.OwnerConfigured = old.ID, old.Kind, t.tenantID, true
		p.SPKey, p.SPNextKey = old.SPKey, old.SPNextKey // keys change only through RolloverSPKey
		if p.ClientSecret == "" || p.ClientSecret == sso.SecretMask {
			p.ClientSecret = old.ClientSecret
		}
		if err := validateProvider(&p); err != nil {
			return err
		}
		if err := t.checkDefaultRole(&p); err != nil {
			return err
		}
		sealed, err := t.sealClientSecret(id, p.ClientSecret)
		if err != nil {
			return err
		}
		if _, err := t.exec("UPDATE sso_providers SET name = ?, config = ?, client_secret = ?, idp_metadata = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
			p.Name, configOf(&p), sealed, p.IdPMetadata, micros(t.now), t.tenantID, id); err != nil {
			return err
		}
		out = redact(&p)
		return t.audit(auditEntry{Action: "sso.provider.update", TargetKind: "sso_provider", TargetID: id, Fields: []string{"name", "config"}, Privileged: true})
	})
	return out, err
}

// DeleteSSOProvider removes a provider; its federated identities go too.
func (db *DB) DeleteSSOProvider(ctx context.Context, id string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireProviderOwner(); err != nil {
			return err
		}
		res, err := t.exec("DELETE FROM sso_providers WHERE tenant_id = ? AND id = ?", t.tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.NotFound("identity provider")
		}
		if _, err := t.exec("DELETE FROM federated_identities WHERE tenant_id = ? AND provider_id = ?", t.tenantID, id); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "sso.provider.delete", TargetKind: "sso_provider", TargetID: id, Privileged: true})
	})
}

// GetSSOProvider returns one provider of the caller's tenant, secret
// withheld.
func (db *DB) GetSSOProvider(ctx context.Context, id string) (*sso.Provider, error) {
	var p *sso.Provider
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		var err error
		p, err = t.provider(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return redact(p), nil
}

// ListSSOProviders lists the caller's tenant's providers, secrets withheld.
func (db *DB) ListSSOProviders(ctx context.Context) ([]*sso.Provider, error) {
	out := []*sso.Provider{}
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		rows, err := t.query("SELECT "+providerCols+" FROM sso_providers WHERE tenant_id = ? ORDER BY created_at, id", t.tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := t.scanProvider(rows)
			if err != nil {
				return err
			}
			out = append(out, redact(p))
		}
		return rows.Err()
	})
	return out, err
}

// redact withholds the client secret (write-only) and the SP private
// keys (never shown).
func redact(p *sso.Provider) *sso.Provider {
	c := *p
	if c.ClientSecret != "" {
		c.ClientSecret = sso.SecretMask
	}
	c.SPKey, c.SPNextKey = c.SPKey.Public(), c.SPNextKey.Public()
	return &c
}

// SSOProvider finds an enabled provider by tenant slug and id, for the
// public login endpoints (the tenant comes from the URL, as the slug of a
// password login does). Unknown ones are not found.
func (db *DB) SSOProvider(ctx context.Context, slug, id string) (*sso.Provider, string, error) {
	tenantID, err := db.ssoTenant(ctx, slug)
	if err != nil {
		return nil, "", err
	}
	var p *sso.Provider
	err = db.inTenantID(ctx, tenantID, nil, false, func(t *tenantTx) error {
		var err error
		p, err = t.provider(id)
		return err
	})
	return p, tenantID, err
}

func (db *DB) ssoTenant(ctx context.Context, slug string) (string, error) {
	if bulwark.ValidateSlug(slug) != nil {
		return "", bulwark.NotFound("identity provider")
	}
	var id string
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		return t.queryRow("SELECT id FROM tenants WHERE slug = ?", slug).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", bulwark.NotFound("identity provider")
	}
	return id, err
}

// SSOState is the store's sso.State: pending logins and seen assertion
// ids in the database, so any node can finish a login another began.
func (db *DB) SSOState() sso.State { return ssoState{db} }

type ssoState struct{ db *DB }

func (s ssoState) SaveRequest(ctx context.Context, r *sso.Request) error {
	return s.db.inTenantID(ctx, r.TenantID, nil, true, func(t *tenantTx) error {
		// Expired requests of this tenant go as new ones come.
		if _, err := t.exec("DELETE FROM sso_requests WHERE tenant_id = ? AND expires_at <= ?", t.tenantID, micros(t.now)); err != nil {
			return err
		}
		_, err := t.exec("INSERT INTO sso_requests (tenant_id, id, provider_id, nonce, verifier, return_to, binding, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			t.tenantID, r.ID, r.ProviderID, r.Nonce, r.Verifier, r.ReturnTo, r.Binding, micros(r.ExpiresAt))
		return err
	})
}

func (s ssoState) TakeRequest(ctx context.Context, tenantID, providerID, id string) (*sso.Request, error) {
	r := &sso.Request{ID: id, TenantID: tenantID}
	valid := false
	err := s.db.inTenantID(ctx, tenantID, nil, true, func(t *tenantTx) error {
		var exp int64
		err := t.queryRow("SELECT provider_id, nonce, verifier, return_to, binding, expires_at FROM sso_requests WHERE tenant_id = ? AND id = ?",
			t.tenantID, id).Scan(&r.ProviderID, &r.Nonce, &r.Verifier, &r.ReturnTo, &r.Binding, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.NotFound("sign-in request")
		}
		if err != nil {
			return err
		}
		// Used once, whatever happens next: the delete commits even when
		// the request turns out not to be valid here.
		res, err := t.exec("DELETE FROM sso_requests WHERE tenant_id = ? AND id = ?", t.tenantID, id)
		if err != nil {
			return err
		}
		r.ExpiresAt = fromMicros(exp)
		n, _ := res.RowsAffected()
		valid = n == 1 && r.ProviderID == providerID && t.now.Before(r.ExpiresAt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, bulwark.NotFound("sign-in request")
	}
	return r, nil
}

func (s ssoState) SeeAssertion(ctx context.Context, tenantID, issuer, id string, until time.Time) error {
	return s.db.inTenantID(ctx, tenantID, nil, true, func(t *tenantTx) error {
		if _, err := t.exec("DELETE FROM sso_seen_assertions WHERE tenant_id = ? AND expires_at <= ?", t.tenantID, micros(t.now)); err != nil {
			return err
		}
		_, err := t.exec("INSERT INTO sso_seen_assertions (tenant_id, issuer, assertion_id, expires_at) VALUES (?, ?, ?, ?)",
			t.tenantID, issuer, id, micros(until))
		if t.db.dialect.isUnique(err) {
			return bulwark.Errorf(bulwark.EConflict, "assertion already used")
		}
		return err
	})
}

// errNoAccount is the answer when an identity may not log in: unknown
// under invite-only, unverified email, disabled account.
var errNoAccount = bulwark.Errorf(bulwark.EUnauthenticated, "single sign-on worked, but you have no active account in this tenant; ask your administrator for an invitation")

// FederatedLogin opens a session for the identity an IdP vouched for, in
// the provider's tenant. The identity is found by (provider, issuer,
// subject) in that tenant only (ISO-2). An unknown identity links to an
// existing user only through a verified email; under just-in-time
// provisioning an unknown verified email becomes a new user with the
// default role. A session opened without the IdP's MFA evidence owes
// Bulwark's own second factor when the user has one or the tenant
// requires one.
//
// A linked identity belongs to the provider that linked it. The issuer
// (a SAML entity id especially) is only a string the provider's
// configuration names, and two providers of a tenant may name the same
// one: every Entra ID application of a directory has one entity id, and
// a provider that may not vouch for an owner can name the owner's IdP's
// entity id with a key of its own. Found by (issuer, subject) alone, such
// a provider's assertion of an owner's subject logged in as the owner;
// the same subject through another provider links anew instead, through
// a verified email and the owner check below.
func (db *DB) FederatedLogin(ctx context.Context, pr *sso.Provider, id *sso.Identity) (*bulwark.Session, error) {
	var s *bulwark.Session
	var userID string
	err := db.inTenantID(ctx, pr.TenantID, nil, true, func(t *tenantTx) error {
		err := t.queryRow("SELECT user_id FROM federated_identities WHERE tenant_id = ? AND provider_id = ? AND issuer = ? AND subject = ?",
			t.tenantID, pr.ID, id.Issuer, id.Subject).Scan(&userID)
		linked, provisioned := err == nil, false
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if !linked {
			if id.Email == "" || !id.EmailVerified {
				return errNoAccount
			}
			var status string
			err := t.queryRow("SELECT id, status FROM users WHERE tenant_id = ? AND email = ?", t.tenantID, id.Email).Scan(&userID, &status)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if !pr.JIT {
					return errNoAccount
				}
				if userID, err = t.provisionUser(pr, id); err != nil {
					return err
				}
				provisioned = true
			case err != nil:
				return err
			case status == string(bulwark.StatusDisabled):
				return errNoAccount
			}
			// A provider saved before only owners could configure one
			// (by an admin, perhaps, pointing at an IdP of their own)
			// never vouches for an owner: the first login links to an
			// owner's account only through a provider an owner saved.
			if !provisioned && !pr.OwnerConfigured {
				gs, err := t.grantsOf(userID)
				if err != nil {
					return err
				}
				if slices.ContainsFunc(gs[userID], func(g bulwark.Grant) bool { return g.Role == bulwark.RoleOwner }) {
					return errNoAccount
				}
			}
			if !provisioned && status == string(bulwark.StatusInvited) {
				// The invitation is accepted through the IdP: its link
				// is used up, or whoever holds it (the inviting admin
				// had it in the API response) could later set a password
				// on the active account.
				if _, err := t.exec("UPDATE users SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?", bulwark.StatusActive, micros(t.now), t.tenantID, userID); err != nil {
					return err
				}
				if _, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ? AND used_at IS NULL", t.tenantID, userID, secret.Activation); err != nil {
					return err
				}
			}
			if _, err := t.exec("INSERT INTO federated_identities (tenant_id, issuer, subject, provider_id, user_id, created_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				t.tenantID, id.Issuer, id.Subject, pr.ID, userID, micros(t.now), micros(t.now)); err != nil {
				return err
			}
			if err := t.audit(auditEntry{Action: "sso.identity.link", TargetKind: "user", TargetID: userID, Fields: []string{"issuer", "subject"}}); err != nil {
				return err
			}
		} else if _, err := t.exec("UPDATE federated_identities SET last_login_at = ? WHERE tenant_id = ? AND provider_id = ? AND issuer = ? AND subject = ?",
			micros(t.now), t.tenantID, pr.ID, id.Issuer, id.Subject); err != nil {
			return err
		}
		var status string
		if err := t.queryRow("SELECT status FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, userID).Scan(&status); err != nil || status != string(bulwark.StatusActive) {
			return errNoAccount
		}
		if err := t.setDisplayName(pr, id); err != nil {
			return err
		}
		if !provisioned {
			if err := t.syncGrants(userID, pr, id); err != nil {
				return err
			}
		}
		t.principal = &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: t.tenantID}
		settings, err := t.authSettings()
		if err != nil {
			return err
		}
		stage := ""
		if !id.MFA {
			if stage, err = t.loginStage(userID, settings, false); err != nil {
				return err
			}
		}
		if s, err = t.newSession(userID, stage, settings, t.now); err != nil {
			return err
		}
		if err := t.rememberFederation(s, pr, id); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.login", TargetKind: "user", TargetID: userID, Fields: append([]string{"method:sso"}, stageFields(stage)...)})
	})
	if err != nil {
		if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
			if aerr := db.auditLoginFailure(ctx, pr.TenantID, "user", userID); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	return s, nil
}

// provisionUser creates an active user for a verified identity (JIT),
// with the mapped role if the IdP sent one that exists and is not owner,
// else the provider's default role.
func (t *tenantTx) provisionUser(pr *sso.Provider, id *sso.Identity) (string, error) {
	roles, err := t.roles()
	if err != nil {
		return "", err
	}
	grants := mappedGrants(pr, id, roles)
	if len(grants) == 0 {
		role := pr.DefaultRole
		if _, ok := roles[id.Role]; ok && id.Role != "" && id.Role != bulwark.RoleOwner && id.Role != bulwark.RoleAdmin {
			role = id.Role
		}
		if _, ok := roles[role]; !ok || role == bulwark.RoleOwner {
			return "", bulwark.Errorf(bulwark.EFailedPrecondition, "the provider's default role no longer exists; ask your administrator")
		}
		grants = []bulwark.Grant{{Role: role}}
	}
	userID := newID()
	if _, err := t.exec("INSERT INTO users (tenant_id, id, email, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		t.tenantID, userID, id.Email, bulwark.StatusActive, micros(t.now), micros(t.now)); err != nil {
		return "", err
	}
	if err := t.setGrants(userID, grants); err != nil {
		return "", err
	}
	privileged, err := t.grantsPrivileged(grants)
	if err != nil {
		return "", err
	}
	return userID, t.audit(auditEntry{Action: "user.provision", TargetKind: "user", TargetID: userID, Fields: []string{"email", "grants"}, Privileged: privileged})
}

// GetSSOSettings reads the caller's tenant's SSO settings.
func (db *DB) GetSSOSettings(ctx context.Context) (*sso.Settings, error) {
	var s *sso.Settings
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		var err error
		s, err = t.ssoSettings()
		return err
	})
	return s, err
}

// SetSSOSettings changes them. Fallback users must be owners; turning SSO
// only on needs at least one provider.
func (db *DB) SetSSOSettings(ctx context.Context, s sso.Settings) (*sso.Settings, error) {
	if s.FallbackUsers == nil {
		s.FallbackUsers = []string{}
	}
	if len(s.FallbackUsers) > 20 {
		return nil, bulwark.FieldError("fallback_users", "at most 20")
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		if s.SSOOnly {
			var n int
			if err := t.queryRow("SELECT count(*) FROM sso_providers WHERE tenant_id = ? AND enabled = 1", t.tenantID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return bulwark.FieldError("sso_only", "configure an identity provider first")
			}
		}
		gs, err := t.grantsOf(s.FallbackUsers...)
		if err != nil {
			return err
		}
		for _, u := range s.FallbackUsers {
			if !slices.ContainsFunc(gs[u], func(g bulwark.Grant) bool { return g.Role == bulwark.RoleOwner }) {
				return bulwark.FieldError("fallback_users", "only owners can keep a password fallback")
			}
		}
		b, _ := json.Marshal(s.FallbackUsers)
		if _, err := t.exec("DELETE FROM sso_settings WHERE tenant_id = ?", t.tenantID); err != nil {
			return err
		}
		if _, err := t.exec("INSERT INTO sso_settings (tenant_id, sso_only, fallback_users, updated_at) VALUES (?, ?, ?, ?)",
			t.tenantID, boolInt(s.SSOOnly), string(b), micros(t.now)); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "settings.sso", TargetKind: "tenant", TargetID: t.tenantID, Fields: []string{"sso_only", "fallback_users"}, Privileged: true})
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *tenantTx) ssoSettings() (*sso.Settings, error) {
	s := &sso.Settings{FallbackUsers: []string{}}
	var only int
	var fb string
	err := t.queryRow("SELECT sso_only, fallback_users FROM sso_settings WHERE tenant_id = ?", t.tenantID).Scan(&only, &fb)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	s.SSOOnly = only == 1
	if err := json.Unmarshal([]byte(fb), &s.FallbackUsers); err != nil {
		return nil, err
	}
	return s, nil
}

// errSSOOnly answers a password login in an SSO-only tenant, whatever the
// email and password, so it reveals neither.
var errSSOOnly = bulwark.Errorf(bulwark.EForbidden, "this tenant signs in with single sign-on; use your organisation's login")

// ssoOnly reports whether tenantID is SSO-only and, if so, whether userID
// is one of its fallback owners. An unknown tenant ("") is not SSO-only:
// the ordinary failure answers it.
func (db *DB) ssoOnly(ctx context.Context, tenantID, userID string) (only, fallback bool, err error) {
	if tenantID == "" {
		return false, false, nil
	}
	err = db.inTenantID(ctx, tenantID, nil, false, func(t *tenantTx) error {
		s, err := t.ssoSettings()
		if err != nil {
			return err
		}
		only = s.SSOOnly
		fallback = only && userID != "" && slices.Contains(s.FallbackUsers, userID)
		return nil
	})
	return only, fallback, err
}

// SSOLoginRefused records, in the provider's tenant, that an identity
// provider's answer was refused (bad signature, replay, wrong audience...):
// failed authentications are audited like failed passwords (ASVS V16.3.1).
func (db *DB) SSOLoginRefused(ctx context.Context, pr *sso.Provider) error {
	return db.auditLoginFailure(ctx, pr.TenantID, "sso_provider", pr.ID)
}

// FederatedLogout ends the sessions opened through provider pr for
// (issuer, subject), the identity pr linked, in the provider's tenant,
// for a verified IdP logout request; when the request names SessionIndex
// values, only the sessions of those IdP sessions. The user's other
// sessions (a password login, another provider) stay. An unknown
// identity ends nothing and is not an error.
func (db *DB) FederatedLogout(ctx context.Context, pr *sso.Provider, issuer, subject string, sessionIndexes []string) error {
	return db.inTenantID(ctx, pr.TenantID, nil, true, func(t *tenantTx) error {
		var userID string
		err := t.queryRow("SELECT user_id FROM federated_identities WHERE tenant_id = ? AND provider_id = ? AND issuer = ? AND subject = ?", t.tenantID, pr.ID, issuer, subject).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := t.endFederatedSessions(userID, pr.ID, subject, sessionIndexes)
		if err != nil || n == 0 {
			return err
		}
		return t.audit(auditEntry{Action: "auth.logout", TargetKind: "user", TargetID: userID, Fields: []string{"method:sso", "initiator:idp"}})
	})
}

// SSOMetadataSources lists, across tenants, the SAML providers whose IdP
// metadata comes from a URL, for the periodic refresh. It is a system
// task: it returns no secrets and reads no tenant data but the provider.
func (db *DB) SSOMetadataSources(ctx context.Context) ([]sso.MetadataSource, error) {
	if err := requireSystem(ctx); err != nil {
		return nil, err
	}
	var tenants []string
	err := db.inGlobal(ctx, false, func(t *globalTx) (err error) {
		tenants, err = t.queryStrings("SELECT id FROM tenants ORDER BY id")
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []sso.MetadataSource{}
	for _, tid := range tenants {
		err := db.inTenantID(ctx, tid, nil, false, func(t *tenantTx) error {
			rows, err := t.query("SELECT id, config, idp_metadata FROM sso_providers WHERE tenant_id = ? AND kind = ? AND enabled = 1", t.tenantID, sso.KindSAML)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, cfg, md string
				if err := rows.Scan(&id, &cfg, &md); err != nil {
					return err
				}
				var c ssoConfig
				if json.Unmarshal([]byte(cfg), &c) == nil && c.MetadataURL != "" {
					out = append(out, sso.MetadataSource{TenantID: t.tenantID, ProviderID: id, URL: c.MetadataURL, Current: md})
				}
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetSSOMetadata replaces a provider's IdP metadata with a refreshed copy
// (system task, audited in the tenant).
func (db *DB) SetSSOMetadata(ctx context.Context, tenantID, providerID, metadata string) error {
	if err := requireSystem(ctx); err != nil {
		return err
	}
	return db.inTenantID(ctx, tenantID, nil, true, func(t *tenantTx) error {
		res, err := t.exec("UPDATE sso_providers SET idp_metadata = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND kind = ?",
			metadata, micros(t.now), t.tenantID, providerID, sso.KindSAML)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.NotFound("identity provider")
		}
		return t.audit(auditEntry{Action: "sso.provider.metadata_refresh", TargetKind: "sso_provider", TargetID: providerID, Fields: []string{"idp_metadata"}})
	})
}

// SSOProviderIDs lists the enabled providers of tenant slug, oldest first,
// for the public "sign in with SSO" entry point. An unknown tenant has
// none (not found, as a tenant without providers).
func (db *DB) SSOProviderIDs(ctx context.Context, slug string) ([]string, error) {
	tenantID, err := db.ssoTenant(ctx, slug)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = db.inTenantID(ctx, tenantID, nil, false, func(t *tenantTx) (err error) {
		ids, err = t.queryStrings("SELECT id FROM sso_providers WHERE tenant_id = ? AND enabled = 1 ORDER BY created_at, id", t.tenantID)
		return err
	})
	if err == nil && len(ids) == 0 {
		err = bulwark.NotFound("identity provider")
	}
	return ids, err
}
