// Package web is Bulwark's REST API: JSON over HTTPS under /api/v1, bearer
// tokens only (no cookies), every route declared with its access level in
// routes.go (AUTH-1, PRIV-1). Tenant scope comes from the authenticated
// Principal, never from request input (ISO-1).
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// Deps are the services the API calls. cmd/bulwark wires them by hand.
type Deps struct {
	Auth        bulwark.AuthService
	Tenants     bulwark.TenantService
	Operators   bulwark.OperatorService
	Users       bulwark.UserService
	Roles       bulwark.RoleService
	Tokens      bulwark.TokenService
	Collections bulwark.CollectionService
	Records     bulwark.RecordService
	Audit       bulwark.AuditService
	// Keys is the key inventory for operators; nil answers its route 404.
	Keys   bulwark.KeyService
	Logger *slog.Logger
	// Ready reports whether the process can serve (database reachable...).
	// Nil means always ready.
	Ready func(context.Context) error
	// Warnings, if set, lists degradations /readyz reports without failing
	// (an audit replica behind or unreachable).
	Warnings func() []string
	// Registry receives the HTTP metrics. Nil gives a private registry.
	Registry *prometheus.Registry

	// Account, Sessions and Settings serve password change and reset,
	// second factors, session lists and authentication settings.
	Account  bulwark.AccountService
	Sessions bulwark.SessionService
	Settings bulwark.SettingsService

	// SSO serves single sign-on; nil answers its routes with 404.
	SSO *sso.Service
}

// API is the REST API. Make one with New.
type API struct {
	deps    Deps
	log     *slog.Logger
	metrics *metrics
	routes  []route
	mux     http.Handler
	handler http.Handler
}

// New builds the API. It panics when the route table is inconsistent (a
// route without an access level, a scoped permission on a path without
// {collection}): deny by default is checked at startup, not at request time.
func New(d Deps) *API {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	a := &API{deps: d, log: d.Logger, metrics: newMetrics(d.Registry)}
	a.routes = a.routeTable()
	a.mux = newMux(a.routes)
	a.handler = a.wrap(a.authenticate(a.mux))
	return a
}

// Handler returns the handler for the public HTTPS listener.
func (a *API) Handler() http.Handler { return a.handler }

// wrap puts the request-independent middleware around inner, outermost
// first: access log and metrics (they see the final status, including the
// 500 of a recovered panic), security headers, request id, panic recovery.
func (a *API) wrap(inner http.Handler) http.Handler {
	return a.observe(securityHeaders(requestID(a.recoverPanics(inner))))
}
