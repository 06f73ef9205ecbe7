package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
)

// wantAccess is the access policy of every route, written out again from
// the specification so that a change to routes.go must change this too.
var wantAccess = map[string]access{
	"GET /healthz":                                         public,
	"GET /readyz":                                          public,
	"GET /api/v1/openapi.yaml":                             public,
	"POST /api/v1/auth/login":                              public,
	"POST /api/v1/auth/activate":                           public,
	"POST /api/v1/auth/logout":                             authenticated,
	"GET /api/v1/auth/me":                                  authenticated,
	"POST /api/v1/operator/login":                          public,
	"GET /api/v1/operator/tenants":                         operator(bulwark.OperatorAdmin),
	"POST /api/v1/operator/tenants":                        operator(bulwark.OperatorAdmin),
	"POST /api/v1/operator/operators":                      operator(bulwark.OperatorAdmin),
	"GET /api/v1/operator/keys":                            operator(bulwark.OperatorAdmin),
	"GET /api/v1/operator/audit":                           operator(bulwark.OperatorSecurity),
	"GET /api/v1/users":                                    tenant(bulwark.PermUsersRead),
	"POST /api/v1/users":                                   tenant(bulwark.PermUsersManage),
	"GET /api/v1/users/{id}":                               tenant(bulwark.PermUsersRead),
	"PATCH /api/v1/users/{id}":                             tenant(bulwark.PermUsersManage),
	"DELETE /api/v1/users/{id}":                            tenant(bulwark.PermUsersManage),
	"GET /api/v1/roles":                                    tenant(bulwark.PermUsersRead),
	"POST /api/v1/roles":                                   tenant(bulwark.PermRolesManage),
	"DELETE /api/v1/roles/{name}":                          tenant(bulwark.PermRolesManage),
	"GET /api/v1/tokens":                                   tenant(bulwark.PermTokensManage),
	"POST /api/v1/tokens":                                  tenant(bulwark.PermTokensManage),
	"DELETE /api/v1/tokens/{id}":                           tenant(bulwark.PermTokensManage),
	"GET /api/v1/collections":                              some(bulwark.PermCollectionsRead),
	"POST /api/v1/collections":                             tenant(bulwark.PermCollectionsManage),
	"GET /api/v1/collections/{collection}":                 scoped(bulwark.PermCollectionsRead),
	"PATCH /api/v1/collections/{collection}":               tenant(bulwark.PermCollectionsManage),
	"DELETE /api/v1/collections/{collection}":              tenant(bulwark.PermCollectionsManage),
	"GET /api/v1/collections/{collection}/records":         scoped(bulwark.PermRecordsRead),
	"POST /api/v1/collections/{collection}/records":        scoped(bulwark.PermRecordsWrite),
	"GET /api/v1/collections/{collection}/records/{id}":    scoped(bulwark.PermRecordsRead),
	"PATCH /api/v1/collections/{collection}/records/{id}":  scoped(bulwark.PermRecordsWrite),
	"DELETE /api/v1/collections/{collection}/records/{id}": scoped(bulwark.PermRecordsDelete),

	// The audit log (DATA-7).
	"GET /api/v1/audit":        tenant(bulwark.PermAuditRead),
	"GET /api/v1/audit/export": tenant(bulwark.PermAuditRead),

	// Authentication, part 1 (AUTH-2, AUTH-3, AUTH-6, AUTH-7).
	"POST /api/v1/auth/password":                    authenticated,
	"POST /api/v1/auth/password/reset-request":      public,
	"POST /api/v1/auth/password/reset":              public,
	"POST /api/v1/auth/reauth":                      authenticated,
	"POST /api/v1/auth/mfa/verify":                  authenticated,
	"POST /api/v1/auth/mfa/totp":                    authenticated,
	"POST /api/v1/auth/mfa/totp/confirm":            authenticated,
	"DELETE /api/v1/auth/mfa/totp":                  authenticated,
	"POST /api/v1/auth/mfa/recovery-codes":          authenticated,
	"GET /api/v1/auth/mfa/passkeys":                 authenticated,
	"POST /api/v1/auth/mfa/passkey/register":        authenticated,
	"POST /api/v1/auth/mfa/passkey/register/finish": authenticated,
	"POST /api/v1/auth/mfa/passkey/login":           authenticated,
	"POST /api/v1/auth/mfa/passkey/login/finish":    authenticated,
	"DELETE /api/v1/auth/mfa/passkeys/{id}":         authenticated,
	"GET /api/v1/auth/sessions":                     authenticated,
	"DELETE /api/v1/auth/sessions/{id}":             authenticated,
	"GET /api/v1/users/{id}/sessions":               tenant(bulwark.PermUsersManage),
	"DELETE /api/v1/users/{id}/sessions":            tenant(bulwark.PermUsersManage),
	"DELETE /api/v1/users/{id}/mfa":                 tenant(bulwark.PermUsersManage),
	"GET /api/v1/settings/password-policy":          tenant(bulwark.PermSettingsManage),
	"PUT /api/v1/settings/password-policy":          tenant(bulwark.PermSettingsManage),
	"GET /api/v1/settings/authentication":           tenant(bulwark.PermSettingsManage),
	"PUT /api/v1/settings/authentication":           tenant(bulwark.PermSettingsManage),

	// Single sign-on (AUTH-4, AUTH-5): settings and reading providers under
	// settings.manage; changing a provider under tenant.own (a provider can
	// vouch for an owner); the browser endpoints public (the IdP's signed
	// answer is the proof).
	"GET /api/v1/settings/sso":                         tenant(bulwark.PermSettingsManage),
	"PUT /api/v1/settings/sso":                         tenant(bulwark.PermSettingsManage),
	"GET /api/v1/settings/sso/providers":               tenant(bulwark.PermSettingsManage),
	"POST /api/v1/settings/sso/providers":              tenant(bulwark.PermTenantOwn),
	"GET /api/v1/settings/sso/providers/{id}":          tenant(bulwark.PermSettingsManage),
	"PUT /api/v1/settings/sso/providers/{id}":          tenant(bulwark.PermTenantOwn),
	"DELETE /api/v1/settings/sso/providers/{id}":       tenant(bulwark.PermTenantOwn),
	"POST /api/v1/settings/sso/providers/{id}/sp-keys": tenant(bulwark.PermTenantOwn),
	"GET /sso/start":                                   public,
	"GET /sso/{tenant}/{provider}/start":               public,
	"GET /sso/{tenant}/oidc/{provider}/callback":       public,
	"POST /sso/{tenant}/saml/{provider}/acs":           public,
	"GET /sso/{tenant}/saml/{provider}/metadata":       public,
	"POST /sso/{tenant}/saml/{provider}/slo":           public,
	"GET /sso/{tenant}/saml/{provider}/slo":            public,
}

func TestRouteTableMatchesPolicy(t *testing.T) {
	a := New(Deps{})
	seen := map[string]bool{}
	for _, rt := range a.routes {
		p := rt.pattern()
		if seen[p] {
			t.Errorf("route %s declared twice", p)
		}
		seen[p] = true
		if rt.access.kind == accessNone {
			t.Errorf("route %s has no access level", p)
		}
		want, ok := wantAccess[p]
		if !ok {
			t.Errorf("route %s is not in the policy table of this test", p)
			continue
		}
		if rt.access != want {
			t.Errorf("route %s access = %+v, want %+v", p, rt.access, want)
		}
	}
	for p := range wantAccess {
		if !seen[p] {
			t.Errorf("policy route %s is not served", p)
		}
	}
}

// TestPublicAllowList is AUTH-1: the routes reachable without credentials
// are exactly this list.
func TestPublicAllowList(t *testing.T) {
	want := []string{
		"GET /healthz",
		"GET /readyz",
		"GET /api/v1/openapi.yaml",
		"POST /api/v1/auth/login",
		"POST /api/v1/auth/activate",
		"POST /api/v1/operator/login",
		"POST /api/v1/auth/password/reset-request",
		"POST /api/v1/auth/password/reset",
		// Single sign-on: start, the IdP's answers, and SP metadata.
		"GET /sso/start",
		"GET /sso/{tenant}/{provider}/start",
		"GET /sso/{tenant}/oidc/{provider}/callback",
		"POST /sso/{tenant}/saml/{provider}/acs",
		"GET /sso/{tenant}/saml/{provider}/metadata",
		"POST /sso/{tenant}/saml/{provider}/slo",
		"GET /sso/{tenant}/saml/{provider}/slo",
	}
	var got []string
	for _, rt := range New(Deps{}).routes {
		if rt.access.kind == accessPublic {
			got = append(got, rt.pattern())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("public routes = %q, want exactly %q", got, want)
	}
}

// TestEveryRouteRequiresAuthentication is AUTH-1: every route not on the
// allow-list answers 401 to a request without credentials.
func TestEveryRouteRequiresAuthentication(t *testing.T) {
	a := New(Deps{})
	for _, rt := range a.routes {
		if rt.access.kind == accessPublic {
			continue
		}
		t.Run(rt.pattern(), func(t *testing.T) {
			w := serve(a.Handler(), request(rt.method, concrete(rt.path), `{}`))
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", w.Code)
			}
			if code := errCode(t, w); code != bulwark.EUnauthenticated {
				t.Errorf("code = %s", code)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestBadRouteDeclarationsPanic(t *testing.T) {
	ok := http.NotFoundHandler()
	tests := []struct {
		name string
		rt   route
	}{
		{"no access level", route{"GET", "/x", access{}, ok}},
		{"unknown permission", route{"GET", "/x", tenant("nope"), ok}},
		{"scoped without {collection}", route{"GET", "/x/{id}", scoped(bulwark.PermRecordsRead), ok}},
		{"scoped unscopable permission", route{"GET", "/x/{collection}", scoped(bulwark.PermUsersRead), ok}},
		{"permission on public route", route{"GET", "/x", access{kind: accessPublic, perm: bulwark.PermUsersRead}, ok}},
		{"operator route without a role", route{"GET", "/x", access{kind: accessOperator}, ok}},
		{"operator route with an unknown role", route{"GET", "/x", operator("support"), ok}},
		{"operator role on a tenant route", route{"GET", "/x", access{kind: accessTenant, perm: bulwark.PermUsersRead, role: bulwark.OperatorAdmin}, ok}},
		{"no handler", route{"GET", "/x", public, nil}},
		{"relative path", route{"GET", "x", public, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("newMux accepted the route")
				}
			}()
			newMux([]route{tt.rt})
		})
	}
}

// TestAccessMatrix is PRIV-1 at the route layer: for every route and
// every single permission, granted tenant-wide, for the collection in the
// path, or for another collection, the request passes the route's gate
// exactly when the policy says so. Handlers are replaced by a stub, so
// only the gate is under test (the e2e tests run the real services).
func TestAccessMatrix(t *testing.T) {
	a := New(Deps{})
	routes := slices.Clone(a.routes)
	reached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	for i := range routes {
		routes[i].handler = reached
	}
	a.mux = newMux(routes)

	type principal struct {
		name string
		p    *bulwark.Principal
		// allowed reports whether p may pass a route of access acc.
		allowed func(acc access) bool
	}
	var principals []principal
	operatorWith := func(stage string, roles ...bulwark.OperatorRole) *bulwark.Principal {
		p := operatorPrincipal()
		p.Stage, p.OperatorRoles = stage, roles
		return p
	}
	principals = append(principals,
		// PRIV-1: each operator route needs its role; no role, no route.
		principal{"operator admin", operatorWith("", bulwark.OperatorAdmin), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated || (acc.kind == accessOperator && acc.role == bulwark.OperatorAdmin)
		}},
		principal{"operator security", operatorWith("", bulwark.OperatorSecurity), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated || (acc.kind == accessOperator && acc.role == bulwark.OperatorSecurity)
		}},
		principal{"operator admin and security", operatorWith("", bulwark.OperatorAdmin, bulwark.OperatorSecurity), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated || acc.kind == accessOperator
		}},
		principal{"operator without roles", operatorWith(""), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated
		}},
		principal{"operator owing its second factor", operatorWith(bulwark.StageMFA, bulwark.OperatorAdmin, bulwark.OperatorSecurity), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated
		}},
		principal{"tenant user without grants", tenantPrincipal(), func(acc access) bool {
			return acc.kind == accessPublic || acc.kind == accessAuthenticated
		}},
		principal{"owner", ownerPrincipal(), func(acc access) bool {
			return acc.kind != accessOperator
		}},
	)
	for _, perm := range bulwark.AllPermissions {
		principals = append(principals, principal{"tenant-wide " + string(perm), tenantPrincipal(grantOf("", perm)), func(acc access) bool {
			switch acc.kind {
			case accessPublic, accessAuthenticated:
				return true
			case accessOperator:
				return false
			}
			return acc.perm == perm
		}})
		// The path's collection is "c" (see concrete).
		principals = append(principals, principal{"on c only: " + string(perm), tenantPrincipal(grantOf("c", perm)), func(acc access) bool {
			switch acc.kind {
			case accessPublic, accessAuthenticated:
				return true
			case accessTenantScoped, accessTenantSome:
				return acc.perm == perm
			}
			return false
		}})
		principals = append(principals, principal{"on other only: " + string(perm), tenantPrincipal(grantOf("other", perm)), func(acc access) bool {
			switch acc.kind {
			case accessPublic, accessAuthenticated:
				return true
			case accessTenantSome:
				return acc.perm == perm
			}
			return false
		}})
	}
	principals = append(principals, principal{"api token with editor on c", &bulwark.Principal{
		Kind: bulwark.KindToken, ID: "tok1", TenantID: "t1", TenantSlug: "acme",
		Grants: []bulwark.ResolvedGrant{{Grant: bulwark.Grant{Role: bulwark.RoleEditor, Collection: "c"}, Permissions: []bulwark.Permission{bulwark.PermCollectionsRead, bulwark.PermRecordsRead, bulwark.PermRecordsWrite, bulwark.PermRecordsDelete}}},
	}, func(acc access) bool {
		switch acc.kind {
		case accessPublic, accessAuthenticated:
			return true
		case accessTenantScoped, accessTenantSome:
			return true // every scoped permission is in editor
		}
		return false
	}})
	// A principal of an unknown kind but carrying a tenant and grants
	// must not get through: Can fails closed.
	principals = append(principals, principal{"system principal", &bulwark.Principal{
		Kind: bulwark.KindSystem, ID: "cli", TenantID: "t1",
		Grants: []bulwark.ResolvedGrant{{Grant: bulwark.Grant{Role: bulwark.RoleOwner}, Permissions: bulwark.AllPermissions}},
	}, func(acc access) bool { return acc.kind == accessPublic || acc.kind == accessAuthenticated }})

	for _, pr := range principals {
		h := asPrincipal(a, pr.p)
		for _, rt := range routes {
			want := pr.allowed(rt.access)
			w := serve(h, request(rt.method, concrete(rt.path), `{}`))
			got := w.Code == 299
			if got != want {
				t.Errorf("%s: %s: passed=%v (status %d), want passed=%v", pr.name, rt.pattern(), got, w.Code, want)
				continue
			}
			if !got && w.Code != http.StatusForbidden {
				t.Errorf("%s: %s: denied with %d, want 403", pr.name, rt.pattern(), w.Code)
			}
			if !got {
				if code := errCode(t, w); code != bulwark.EForbidden {
					t.Errorf("%s: %s: code %s", pr.name, rt.pattern(), code)
				}
			}
		}
	}
}

func TestUnknownPathsAreJSON404(t *testing.T) {
	a := New(Deps{})
	for _, target := range []string{
		"/",
		"/index.html",
		"/api",
		"/api/v1",
		"/api/v1/",
		"/api/v2/users",
		"/api/v1/users/x1/extra",
		"/api/v1/users/",
		"/api//v1/users",
		"/api/v1/./users",
		"/api/v1/roles/../users",
		"/healthz/",
		"/metrics",
		"/api/v1/collections/c/records/",
		"/.well-known/security.txt",
		"/api/v1/users/%FF",
		"/api/v1/users/a%00b",
		"/api/v1/users/a%0Ab",
		"/api/v1/collections/c/records/%C3%28",
	} {
		for _, method := range []string{"GET", "POST", "TRACE"} {
			t.Run(method+" "+target, func(t *testing.T) {
				w := serve(a.Handler(), request(method, target, ""))
				if w.Code != http.StatusNotFound {
					t.Fatalf("status = %d, want 404", w.Code)
				}
				if code := errCode(t, w); code != bulwark.ENotFound {
					t.Errorf("code = %s", code)
				}
				if w.Header().Get("Location") != "" {
					t.Errorf("redirects to %q", w.Header().Get("Location"))
				}
			})
		}
	}
}

func TestWrongMethodIs405(t *testing.T) {
	a := New(Deps{})
	tests := []struct {
		method, target, allow string
	}{
		{"TRACE", "/healthz", "GET, HEAD"},
		{"TRACE", "/api/v1/users", "GET, HEAD, POST"},
		{"OPTIONS", "/api/v1/users", "GET, HEAD, POST"},
		{"PUT", "/api/v1/users/x1", "DELETE, GET, HEAD, PATCH"},
		{"POST", "/api/v1/auth/me", "GET, HEAD"},
		{"GET", "/api/v1/auth/login", "POST"},
		{"DELETE", "/api/v1/collections", "GET, HEAD, POST"},
		{"PROPFIND", "/api/v1/tokens", "GET, HEAD, POST"},
		{"CONNECT", "/api/v1/roles", "GET, HEAD, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w := serve(a.Handler(), request(tt.method, tt.target, ""))
			if w.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", w.Code)
			}
			if code := errCode(t, w); code != bulwark.EInvalid {
				t.Errorf("code = %s", code)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestHeadOnGetRoute(t *testing.T) {
	a := New(Deps{})
	w := serve(a.Handler(), request("HEAD", "/healthz", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d", w.Code)
	}
}
