package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
)

// concrete fills a route pattern's wildcards with sample values.
func concrete(path string) string {
	r := strings.NewReplacer("{id}", "x1", "{collection}", "c", "{name}", "r1")
	return r.Replace(path)
}

// request builds a request; a non-empty body is sent as application/json.
func request(method, target, body string, header ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// asPrincipal is a.Handler() with authentication replaced by a fixed
// principal (nil: anonymous), so authorisation can be tested without an
// AuthService.
func asPrincipal(a *API, p *bulwark.Principal) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			if st := stateFrom(r.Context()); st != nil {
				st.principal = p
			}
			r = r.WithContext(bulwark.NewContext(r.Context(), p))
		}
		a.mux.ServeHTTP(w, r)
	})
	return a.wrap(inner)
}

type errorEnvelope struct {
	Error struct {
		Code    bulwark.Code      `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// errCode decodes an error body and returns its code; it fails the test
// when the body is not the error shape.
func errCode(t *testing.T, w *httptest.ResponseRecorder) bulwark.Code {
	t.Helper()
	var e errorEnvelope
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("status %d: body is not an error object: %q", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("error Content-Type = %q", ct)
	}
	return e.Error.Code
}

func tenantPrincipal(grants ...bulwark.ResolvedGrant) *bulwark.Principal {
	return &bulwark.Principal{Kind: bulwark.KindUser, ID: "u1", TenantID: "t1", TenantSlug: "acme", SessionID: "s1", Grants: grants}
}

func grantOf(collection string, perms ...bulwark.Permission) bulwark.ResolvedGrant {
	return bulwark.ResolvedGrant{Grant: bulwark.Grant{Role: "custom", Collection: collection}, Permissions: perms}
}

func ownerPrincipal() *bulwark.Principal {
	return tenantPrincipal(bulwark.ResolvedGrant{Grant: bulwark.Grant{Role: bulwark.RoleOwner}, Permissions: bulwark.AllPermissions})
}

// operatorPrincipal is an operator holding every operator role, so it
// passes the gate of every operator route.
func operatorPrincipal() *bulwark.Principal {
	return &bulwark.Principal{Kind: bulwark.KindOperator, ID: "op1", SessionID: "s2", OperatorRoles: slices.Clone(bulwark.OperatorRoles)}
}

// Test doubles, only to inject faults.

// authDouble answers Authenticate with a fixed result.
type authDouble struct {
	bulwark.AuthService
	p   *bulwark.Principal
	err error
}

func (a authDouble) Authenticate(context.Context, string) (*bulwark.Principal, error) {
	return a.p, a.err
}

// usersFault fails or panics in every call used by the tests.
type usersFault struct {
	bulwark.UserService
	err   error
	panic any
}

func (u usersFault) ListUsers(context.Context, bulwark.ListOptions) ([]*bulwark.User, string, error) {
	if u.panic != nil {
		panic(u.panic)
	}
	return nil, "", u.err
}

func (u usersFault) GetUser(context.Context, string) (*bulwark.User, error) {
	return nil, u.err
}
