package web

import (
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	bulwark "github.com/bulwarkhq/bulwark"
)

// accessKind is who may call a route. The zero value is no access level
// at all, and newMux refuses it: deny by default.
type accessKind int

const (
	accessNone          accessKind = iota
	accessPublic                   // anyone, no credentials (AUTH-1 allow-list)
	accessAuthenticated            // any principal: tenant user, token or operator
	accessOperator                 // operators holding the route's role; no tenant principal
	accessTenant                   // a tenant principal holding perm tenant-wide
	accessTenantScoped             // ... holding perm for the {collection} in the path
	accessTenantSome               // ... holding perm for at least one collection
)

// access is a route's access level.
type access struct {
	kind accessKind
	perm bulwark.Permission
	role bulwark.OperatorRole // of an operator route
}

var (
	public        = access{kind: accessPublic}
	authenticated = access{kind: accessAuthenticated}
)

// operator requires an operator holding role (PRIV-1): every operator
// route names the one role it needs.
func operator(role bulwark.OperatorRole) access { return access{kind: accessOperator, role: role} }

// tenant requires perm tenant-wide.
func tenant(perm bulwark.Permission) access { return access{kind: accessTenant, perm: perm} }

// scoped requires perm for the collection named by the {collection} path
// value: a grant for that collection or a tenant-wide one (need-to-know).
func scoped(perm bulwark.Permission) access { return access{kind: accessTenantScoped, perm: perm} }

// some requires perm for at least one collection; the service filters what
// the caller sees.
func some(perm bulwark.Permission) access { return access{kind: accessTenantSome, perm: perm} }

// route is one line of the table in routes.go.
type route struct {
	method  string
	path    string
	access  access
	handler http.Handler
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// check panics on a route that would not be safe to serve.
func (rt route) check() {
	if rt.access.kind != accessOperator && rt.access.role != "" {
		panic(fmt.Sprintf("web: route %s: operator role given with a non-operator access level", rt.pattern()))
	}
	switch rt.access.kind {
	case accessPublic, accessAuthenticated, accessOperator:
		if rt.access.perm != "" {
			panic(fmt.Sprintf("web: route %s: permission given with a non-tenant access level", rt.pattern()))
		}
		if rt.access.kind == accessOperator && !rt.access.role.Valid() {
			panic(fmt.Sprintf("web: route %s: an operator route must name a known operator role", rt.pattern()))
		}
	case accessTenant, accessTenantScoped, accessTenantSome:
		if !rt.access.perm.Valid() {
			panic(fmt.Sprintf("web: route %s: unknown permission %q", rt.pattern(), rt.access.perm))
		}
		if rt.access.kind == accessTenantScoped {
			if !rt.access.perm.Scopable() {
				panic(fmt.Sprintf("web: route %s: permission %s cannot be collection-scoped", rt.pattern(), rt.access.perm))
			}
			if !strings.Contains(rt.path, "{collection}") {
				panic(fmt.Sprintf("web: route %s: scoped permission on a path without {collection}", rt.pattern()))
			}
		}
	default:
		panic(fmt.Sprintf("web: route %s has no access level: every route must declare one", rt.pattern()))
	}
	if rt.handler == nil {
		panic(fmt.Sprintf("web: route %s has no handler", rt.pattern()))
	}
	if rt.method == "" || !strings.HasPrefix(rt.path, "/") {
		panic(fmt.Sprintf("web: route %q: method and absolute path required", rt.pattern()))
	}
}

// newMux registers every route behind its access check. Any other path is
// a JSON 404 and a known path with another method a JSON 405: the mux's
// own plain-text answers and redirects are never served.
func newMux(routes []route) http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		rt.check()
		mux.Handle(rt.pattern(), authorize(rt))
		if _, ok := methods[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == http.MethodGet {
			methods[rt.path] = append(methods[rt.path], http.MethodHead)
		}
	}
	for _, p := range paths {
		mux.Handle(p, methodNotAllowed(p, methods[p]))
	}
	mux.Handle("/", http.HandlerFunc(notFound))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux redirects unclean paths (//, /./, /..); an API client
		// gets a plain 404 instead of a redirect to follow. No id or name
		// holds a control character or a broken UTF-8 sequence, so such
		// a path names nothing either.
		if p := r.URL.EscapedPath(); p != cleanPath(p) || !cleanText(r.URL.Path) {
			notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// cleanPath is path.Clean keeping a trailing slash, as ServeMux does.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, errRouteNotFound)
}

func methodNotAllowed(pattern string, methods []string) http.Handler {
	allow := strings.Join(slices.Compact(slices.Sorted(slices.Values(methods))), ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.route = pattern
		}
		w.Header().Set("Allow", allow)
		writeError(w, r, errMethodNotAllowed)
	})
}

// authorize enforces the route's access level before its handler runs.
// The services check again (tenant scope from the Principal, who may grant
// what); this is the coarse gate that makes a forgotten check impossible.
func authorize(rt route) http.Handler {
	pattern := rt.pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.route, st.perm = pattern, rt.access.perm
		}
		if err := allowed(rt.access, bulwark.FromContext(r.Context()), r); err != nil {
			writeError(w, r, err)
			return
		}
		rt.handler.ServeHTTP(w, r)
	})
}

func allowed(a access, p *bulwark.Principal, r *http.Request) error {
	if a.kind == accessPublic {
		return nil
	}
	if p == nil {
		return errNoPrincipal
	}
	switch a.kind {
	case accessAuthenticated:
		return nil
	case accessOperator:
		// Only an operator holding the route's role; an operator session
		// that still owes its second factor holds none yet (AUTH-8).
		if p.HasOperatorRole(a.role) {
			return nil
		}
	case accessTenant:
		if p.Can(a.perm, "") {
			return nil
		}
	case accessTenantScoped:
		if p.Can(a.perm, r.PathValue("collection")) {
			return nil
		}
	case accessTenantSome:
		if p.CanSome(a.perm) {
			return nil
		}
	}
	// Operators calling tenant routes land here too: Can is false for
	// any principal without a tenant (PRIV-1).
	return errForbidden
}
