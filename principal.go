package bulwark

import (
	"context"
	"time"
)

// PrincipalKind says what kind of identity made a request.
type PrincipalKind string

const (
	KindUser     PrincipalKind = "user"     // a tenant's user, through a session
	KindToken    PrincipalKind = "token"    // a tenant's API token (machine client)
	KindOperator PrincipalKind = "operator" // the vendor's staff; never a tenant
	// KindSystem is the local command line, run by whoever holds the
	// database (bulwark operator create, bulwark tenant create). The web
	// layer never makes one.
	KindSystem PrincipalKind = "system"
)

// Principal is the authenticated identity behind a request. Authentication
// middleware puts it in the context once; nothing else parses identity.
type Principal struct {
	Kind PrincipalKind
	// ID is the user, token or operator id.
	ID string
	// TenantID and TenantSlug are empty for operators. The tenant a request
	// may touch comes only from here, never from request input (ISO-1).
	TenantID   string
	TenantSlug string
	// SessionID is the session behind a user or operator principal.
	SessionID string
	// Grants are the principal's role grants, resolved to permissions.
	Grants []ResolvedGrant
	// Stage is what a session must do before it is complete: "" (nothing),
	// StageMFA, StageEnrol or StagePassword. An incomplete session holds
	// no grants, so it reaches only routes open to any login (AUTH-3).
	Stage string
	// AuthAt is when the person behind a session last proved who they are
	// (login or re-authentication); step-up checks it.
	AuthAt time.Time
	// OperatorRoles are an operator's roles (PRIV-1); empty for everyone
	// else.
	OperatorRoles []OperatorRole
}

// HasOperatorRole reports whether p is a complete operator session
// holding role. Deny by default: any other principal, an operator that
// still owes its second factor, or one without the role, has none.
func (p *Principal) HasOperatorRole(role OperatorRole) bool {
	if p == nil || p.Kind != KindOperator || p.Stage != "" {
		return false
	}
	for _, r := range p.OperatorRoles {
		if r == role {
			return true
		}
	}
	return false
}

// Session stages: what a login still owes.
const (
	StageMFA      = "mfa"      // a second factor, after the password
	StageEnrol    = "enrol"    // enrol a second factor: the tenant requires one
	StagePassword = "password" // change the password: expired or below policy
)

// ReauthWindow is how recent a login must be for sensitive actions (MFA
// changes, token creation, exports, admin MFA resets).
const ReauthWindow = 10 * time.Minute

// RequireRecentAuth fails with EReauthRequired unless p is a session whose
// person proved who they are within ReauthWindow of now (step-up, ASVS
// V7.5). Non-session principals (API tokens) cannot step up, and neither
// can a session whose login is not complete (Stage set): its AuthAt is
// the password's, and a session owing its second factor must not remove
// or replace that factor (AUTH-3, AUTH-8).
func (p *Principal) RequireRecentAuth(now time.Time) error {
	if p != nil && p.Stage != "" {
		return Errorf(EForbidden, "finish signing in first: this session still owes the %q step", p.Stage)
	}
	if p == nil || p.SessionID == "" || p.AuthAt.IsZero() || now.Sub(p.AuthAt) > ReauthWindow {
		return Errorf(EReauthRequired, "confirm it is you: re-authenticate, then retry")
	}
	return nil
}

// Tenant reports whether p may reach a tenant's data at all, and which.
func (p *Principal) Tenant() (string, bool) {
	if p == nil || (p.Kind != KindUser && p.Kind != KindToken) || p.TenantID == "" {
		return "", false
	}
	return p.TenantID, true
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// TenantFromContext returns the tenant of the principal in ctx. It fails
// closed: without a tenant principal it returns an unauthenticated error.
func TenantFromContext(ctx context.Context) (string, error) {
	id, ok := FromContext(ctx).Tenant()
	if !ok {
		return "", Errorf(EUnauthenticated, "a tenant login is required")
	}
	return id, nil
}
