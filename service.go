package bulwark

import (
	"context"
	"time"
)

// The services below are what the web layer, the CLI and Go library users
// call. Tenant-scoped services take the tenant from the Principal in ctx
// (see TenantFromContext) and never from an argument: a call without a
// tenant principal fails with EUnauthenticated (ISO-1). Each also checks
// the fine-grained rules the route table cannot express (who may grant
// what, collection-scoped grants).

// Session is a login: the bearer secret, shown once, and when it ends.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// IdleTimeout is how long the session lives without use.
	IdleTimeout time.Duration `json:"-"`
	// Next is what the session must do before it is complete (a Stage
	// constant); "" for a full session.
	Next string `json:"next,omitempty"`
	// NewDevice reports a sign-in from a device (user agent) the account
	// has not used before; the owner is told (ASVS V6.3.7).
	NewDevice bool `json:"-"`
}

// Credentials is a tenant user's password login.
type Credentials struct {
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// AuthService authenticates people and machines.
type AuthService interface {
	// Login checks a tenant user's password and opens a session. Every
	// failure (unknown tenant, unknown email, wrong password, disabled
	// user) is the same EUnauthenticated error.
	Login(ctx context.Context, c Credentials) (*Session, error)
	// OperatorLogin does the same for the vendor's staff.
	OperatorLogin(ctx context.Context, email, password string) (*Session, error)
	// Authenticate resolves a bearer secret (session or API token) to a
	// principal, or fails with EUnauthenticated.
	Authenticate(ctx context.Context, bearer string) (*Principal, error)
	// Activate uses a one-time activation secret to set a password. A used
	// or expired secret fails with EGone.
	Activate(ctx context.Context, activationToken, password string) error
	// Logout ends the session of the principal in ctx.
	Logout(ctx context.Context) error
}

// TenantService is the operators' view of tenants. It never reaches tenant
// data: it creates tenants and their first owner.
type TenantService interface {
	CreateTenant(ctx context.Context, n NewTenant) (*Tenant, *Invitation, error)
	ListTenants(ctx context.Context) ([]*Tenant, error)
}

// OperatorService manages the vendor's staff accounts.
type OperatorService interface {
	// CreateOperator creates an operator holding roles. Without roles the
	// operator can log in and reach nothing (deny by default).
	CreateOperator(ctx context.Context, email string, roles ...OperatorRole) (*Operator, *Invitation, error)
	// SetOperatorRoles replaces the roles of the operator with email.
	SetOperatorRoles(ctx context.Context, email string, roles []OperatorRole) (*Operator, error)
}

// UserService manages the users of the caller's tenant (AUTH-6).
type UserService interface {
	InviteUser(ctx context.Context, n NewUser) (*User, *Invitation, error)
	ListUsers(ctx context.Context, opt ListOptions) ([]*User, string, error)
	GetUser(ctx context.Context, id string) (*User, error)
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	DeleteUser(ctx context.Context, id string) error
}

// RoleService manages the caller's tenant's custom roles (PRIV-1).
type RoleService interface {
	ListRoles(ctx context.Context) ([]*Role, error)
	CreateRole(ctx context.Context, r Role) (*Role, error)
	DeleteRole(ctx context.Context, name string) error
}

// TokenService manages the caller's tenant's API tokens.
type TokenService interface {
	CreateToken(ctx context.Context, n NewAPIToken) (*CreatedToken, error)
	ListTokens(ctx context.Context) ([]*APIToken, error)
	RevokeToken(ctx context.Context, id string) error
}

// CollectionService manages the caller's tenant's collections (DATA-1).
type CollectionService interface {
	CreateCollection(ctx context.Context, c Collection) (*Collection, error)
	ListCollections(ctx context.Context) ([]*Collection, error)
	GetCollection(ctx context.Context, name string) (*Collection, error)
	UpdateCollection(ctx context.Context, name string, u CollectionUpdate) (*Collection, error)
	DeleteCollection(ctx context.Context, name string) error
}

// RecordService reads and writes the records of the caller's tenant.
type RecordService interface {
	CreateRecord(ctx context.Context, collection string, data map[string]any) (*Record, error)
	GetRecord(ctx context.Context, collection, id string) (*Record, error)
	// UpdateRecord applies a patch; ifVersion > 0 makes it conditional and a
	// mismatch fails with EFailedPrecondition.
	UpdateRecord(ctx context.Context, collection, id string, patch map[string]any, ifVersion int64) (*Record, error)
	DeleteRecord(ctx context.Context, collection, id string, ifVersion int64) error
	ListRecords(ctx context.Context, collection string, opt ListOptions) ([]*Record, string, error)
}

// RequestInfo describes the request behind a call, for the audit log.
type RequestInfo struct {
	ID        string
	ClientIP  string
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request info in ctx, if any.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// SessionInfo describes one of a user's sessions, for listing and
// revoking (AUTH-7). The secret itself is never shown again.
type SessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientIP   string    `json:"client_ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
	Stage      string    `json:"stage,omitempty"`
}

// SessionService lets users see and end their own sessions, and admins end
// a user's sessions (AUTH-6, AUTH-7).
type SessionService interface {
	ListSessions(ctx context.Context) ([]*SessionInfo, error)
	RevokeSession(ctx context.Context, id string) error
	RevokeUserSessions(ctx context.Context, userID string) error
	ListUserSessions(ctx context.Context, userID string) ([]*SessionInfo, error)
}
