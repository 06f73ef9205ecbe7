package web

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// crossCase is one request of the cross-tenant matrix, sent twice by a
// principal of tenant A: once naming tenant B's objects, once naming
// objects that exist nowhere. vary lists the parts that differ between the
// two (B's id, the missing id), blanked out before the bodies are compared.
type crossCase struct {
	pattern         string
	pathB, pathMiss string
	bodyB, bodyMiss string
	header          []string
	// unavailable allows 503 for both (the audit export needs a signed
	// checkpoint, which this fixture's lack of a sequencer never makes).
	unavailable bool
}

func (c crossCase) vary() []string {
	var out []string
	for _, pair := range [][2]string{{c.pathB, c.pathMiss}, {c.bodyB, c.bodyMiss}} {
		a, b := wordRE.FindAllString(pair[0], -1), wordRE.FindAllString(pair[1], -1)
		if len(a) != len(b) {
			continue
		}
		for i := range a {
			if a[i] != b[i] {
				out = append(out, a[i], b[i])
			}
		}
	}
	return out
}

// wordRE splits paths and bodies into the names and ids they hold.
var wordRE = regexp.MustCompile(`[A-Za-z0-9_@.%-]+`)

// blank replaces every string of vary in s, and JSON string values that
// hold one, with a placeholder.
func blank(s string, vary []string) string {
	for _, v := range vary {
		if v == "" {
			continue
		}
		s = strings.ReplaceAll(s, v, "<X>")
	}
	return s
}

// TestE2ECrossTenant is ISO-1: for every tenant route, a principal of
// tenant A (an owner session and an admin API token) that sends tenant B's
// ids gets exactly the status and body that a missing id gets; nothing of
// B appears in any response; and B is unchanged afterwards.
func TestE2ECrossTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)

		// Tenant B and its objects.
		ownerB := e.tenant("bravo")
		e.collection(ownerB, "contacts", contactFields...)
		e.collection(ownerB, "b_only",
			bulwark.Field{Name: "name", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal, Required: true},
			bulwark.Field{Name: "code", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic})
		bContact := e.record(ownerB, "contacts", map[string]any{"name": "Bravo Secret Person", "email": "secret@bravo.example", "score": 7})
		bOnly := e.record(ownerB, "b_only", map[string]any{"name": "Bravo Only Person", "code": 99})
		e.want(e.do("POST", "/api/v1/roles", ownerB, createRoleRequest{Name: "b_role", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}), 201)
		bUser, bUserTok := e.user(ownerB, "bravo", "b-user@bravo.example", bulwark.Grant{Role: bulwark.RoleViewer})
		bTok := decodeInto[*bulwark.CreatedToken](t, e.want(e.do("POST", "/api/v1/tokens", ownerB, createTokenRequest{Name: "b-token-name", Grant: grantRequest{Role: bulwark.RoleViewer}}), 201))
		bProv := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", ownerB,
			`{"kind":"oidc","name":"Bravo IdP","issuer":"https://idp.bravo.example","client_id":"bravo-client","client_secret":"bravo-secret"}`), 201))["id"].(string)
		bSecrets := []string{
			"Bravo IdP", "idp.bravo.example", "bravo-client", "bravo-secret", bProv,
			"bravo", "b_only", "b_role", "b-token-name", "Bravo Secret Person", "Bravo Only Person", "secret@bravo.example",
			"b-user@bravo.example", "owner@bravo.example", bContact.ID, bOnly.ID, bUser, bTok.ID, bTok.Secret, ownerB, bUserTok,
		}
		beforeB := snapshot(t, e, ownerB)

		// Tenant A, with a collection of the same name as one of B's.
		ownerA := e.tenant("alpha")
		e.collection(ownerA, "contacts", contactFields...)
		e.record(ownerA, "contacts", map[string]any{"name": "Alpha Person", "email": "a@alpha.example"})
		aUser, _ := e.user(ownerA, "alpha", "a-user@alpha.example", bulwark.Grant{Role: bulwark.RoleViewer})
		adminTokA := decodeInto[*bulwark.CreatedToken](t, e.want(e.do("POST", "/api/v1/tokens", ownerA, createTokenRequest{Name: "a-admin", Grant: grantRequest{Role: bulwark.RoleAdmin}}), 201)).Secret
		beforeA := snapshot(t, e, ownerA)

		miss := missingID()
		rec := "/api/v1/collections/%s/records/%s"
		cases := []crossCase{
			{pattern: "GET /api/v1/users/{id}", pathB: "/api/v1/users/" + bUser, pathMiss: "/api/v1/users/" + miss},
			{pattern: "PATCH /api/v1/users/{id}", pathB: "/api/v1/users/" + bUser, pathMiss: "/api/v1/users/" + miss, bodyB: `{"status":"disabled"}`, bodyMiss: `{"status":"disabled"}`},
			{pattern: "PATCH /api/v1/users/{id}", pathB: "/api/v1/users/" + bUser, pathMiss: "/api/v1/users/" + miss, bodyB: `{"grants":[{"role":"viewer"}]}`, bodyMiss: `{"grants":[{"role":"viewer"}]}`},
			{pattern: "PATCH /api/v1/users/{id}", pathB: "/api/v1/users/" + aUser, pathMiss: "/api/v1/users/" + aUser, bodyB: `{"grants":[{"role":"b_role"}]}`, bodyMiss: `{"grants":[{"role":"no_role"}]}`},
			{pattern: "PATCH /api/v1/users/{id}", pathB: "/api/v1/users/" + aUser, pathMiss: "/api/v1/users/" + aUser, bodyB: `{"grants":[{"role":"viewer","collection":"b_only"}]}`, bodyMiss: `{"grants":[{"role":"viewer","collection":"nosuch"}]}`},
			{pattern: "DELETE /api/v1/users/{id}", pathB: "/api/v1/users/" + bUser, pathMiss: "/api/v1/users/" + miss},
			{pattern: "POST /api/v1/users", pathB: "/api/v1/users", pathMiss: "/api/v1/users", bodyB: `{"email":"n@alpha.example","grants":[{"role":"b_role"}]}`, bodyMiss: `{"email":"n@alpha.example","grants":[{"role":"no_role"}]}`},
			{pattern: "POST /api/v1/users", pathB: "/api/v1/users", pathMiss: "/api/v1/users", bodyB: `{"email":"n@alpha.example","grants":[{"role":"viewer","collection":"b_only"}]}`, bodyMiss: `{"email":"n@alpha.example","grants":[{"role":"viewer","collection":"nosuch"}]}`},
			{pattern: "DELETE /api/v1/roles/{name}", pathB: "/api/v1/roles/b_role", pathMiss: "/api/v1/roles/no_role"},
			{pattern: "POST /api/v1/tokens", pathB: "/api/v1/tokens", pathMiss: "/api/v1/tokens", bodyB: `{"name":"t","grant":{"role":"b_role"}}`, bodyMiss: `{"name":"t","grant":{"role":"no_role"}}`},
			{pattern: "POST /api/v1/tokens", pathB: "/api/v1/tokens", pathMiss: "/api/v1/tokens", bodyB: `{"name":"t","grant":{"role":"viewer","collection":"b_only"}}`, bodyMiss: `{"name":"t","grant":{"role":"viewer","collection":"nosuch"}}`},
			{pattern: "DELETE /api/v1/tokens/{id}", pathB: "/api/v1/tokens/" + bTok.ID, pathMiss: "/api/v1/tokens/" + miss},
			{pattern: "GET /api/v1/collections/{collection}", pathB: "/api/v1/collections/b_only", pathMiss: "/api/v1/collections/nosuch"},
			{pattern: "PATCH /api/v1/collections/{collection}", pathB: "/api/v1/collections/b_only", pathMiss: "/api/v1/collections/nosuch", bodyB: `{"classifications":{"name":"public"}}`, bodyMiss: `{"classifications":{"name":"public"}}`},
			{pattern: "PATCH /api/v1/collections/{collection}", pathB: "/api/v1/collections/b_only", pathMiss: "/api/v1/collections/nosuch", bodyB: `{"add_fields":[{"name":"extra","type":"text","classification":"public"}]}`, bodyMiss: `{"add_fields":[{"name":"extra","type":"text","classification":"public"}]}`},
			{pattern: "DELETE /api/v1/collections/{collection}", pathB: "/api/v1/collections/b_only", pathMiss: "/api/v1/collections/nosuch"},
			{pattern: "GET /api/v1/collections/{collection}/records", pathB: "/api/v1/collections/b_only/records", pathMiss: "/api/v1/collections/nosuch/records"},
			{pattern: "GET /api/v1/collections/{collection}/records", pathB: "/api/v1/collections/b_only/records?code=99", pathMiss: "/api/v1/collections/nosuch/records?code=99"},
			{pattern: "GET /api/v1/collections/{collection}/records", pathB: "/api/v1/collections/contacts/records?email=secret%40bravo.example", pathMiss: "/api/v1/collections/contacts/records?email=nobody%40nowhere.example"},
			{pattern: "POST /api/v1/collections/{collection}/records", pathB: "/api/v1/collections/b_only/records", pathMiss: "/api/v1/collections/nosuch/records", bodyB: `{"name":"x","code":1}`, bodyMiss: `{"name":"x","code":1}`},
		}
		for _, coll := range []struct{ b, miss, id string }{{"b_only", "nosuch", bOnly.ID}, {"contacts", "contacts", bContact.ID}} {
			pb, pm := fmt.Sprintf(rec, coll.b, coll.id), fmt.Sprintf(rec, coll.miss, miss)
			body := `{"name":"changed"}`
			cases = append(cases,
				crossCase{pattern: "GET /api/v1/collections/{collection}/records/{id}", pathB: pb, pathMiss: pm},
				crossCase{pattern: "PATCH /api/v1/collections/{collection}/records/{id}", pathB: pb, pathMiss: pm, bodyB: body, bodyMiss: body},
				crossCase{pattern: "PATCH /api/v1/collections/{collection}/records/{id}", pathB: pb, pathMiss: pm, bodyB: body, bodyMiss: body, header: []string{"If-Match", `"1"`}},
				crossCase{pattern: "DELETE /api/v1/collections/{collection}/records/{id}", pathB: pb, pathMiss: pm},
				crossCase{pattern: "DELETE /api/v1/collections/{collection}/records/{id}", pathB: pb, pathMiss: pm, header: []string{"If-Match", `"1"`}},
			)
		}
		cases = append(cases,
			crossCase{pattern: "GET /api/v1/users/{id}/sessions", pathB: "/api/v1/users/" + bUser + "/sessions", pathMiss: "/api/v1/users/" + miss + "/sessions"},
			crossCase{pattern: "DELETE /api/v1/users/{id}/sessions", pathB: "/api/v1/users/" + bUser + "/sessions", pathMiss: "/api/v1/users/" + miss + "/sessions"},
			crossCase{pattern: "DELETE /api/v1/users/{id}/mfa", pathB: "/api/v1/users/" + bUser + "/mfa", pathMiss: "/api/v1/users/" + miss + "/mfa"},
			crossCase{pattern: "GET /api/v1/settings/password-policy", pathB: "/api/v1/settings/password-policy", pathMiss: "/api/v1/settings/password-policy"},
			crossCase{pattern: "GET /api/v1/settings/authentication", pathB: "/api/v1/settings/authentication", pathMiss: "/api/v1/settings/authentication"},
			crossCase{pattern: "PUT /api/v1/settings/password-policy", pathB: "/api/v1/settings/password-policy", pathMiss: "/api/v1/settings/password-policy", bodyB: `{"min_length":16,"blocked_words":["bravo"]}`, bodyMiss: `{"min_length":16,"blocked_words":["bravo"]}`},
			crossCase{pattern: "PUT /api/v1/settings/authentication", pathB: "/api/v1/settings/authentication", pathMiss: "/api/v1/settings/authentication", bodyB: `{"password_policy":{"min_length":15},"mfa":"optional","session_idle_minutes":30,"session_absolute_minutes":720}`, bodyMiss: `{"password_policy":{"min_length":15},"mfa":"optional","session_idle_minutes":30,"session_absolute_minutes":720}`},
		)
		// Single sign-on configuration.
		prov := `{"kind":"oidc","name":"x","issuer":"https://idp.alpha.example","client_id":"c"}`
		cases = append(cases,
			crossCase{pattern: "GET /api/v1/settings/sso/providers/{id}", pathB: "/api/v1/settings/sso/providers/" + bProv, pathMiss: "/api/v1/settings/sso/providers/" + miss},
			crossCase{pattern: "PUT /api/v1/settings/sso/providers/{id}", pathB: "/api/v1/settings/sso/providers/" + bProv, pathMiss: "/api/v1/settings/sso/providers/" + miss, bodyB: prov, bodyMiss: prov},
			crossCase{pattern: "DELETE /api/v1/settings/sso/providers/{id}", pathB: "/api/v1/settings/sso/providers/" + bProv, pathMiss: "/api/v1/settings/sso/providers/" + miss},
			crossCase{pattern: "POST /api/v1/settings/sso/providers/{id}/sp-keys", pathB: "/api/v1/settings/sso/providers/" + bProv + "/sp-keys", pathMiss: "/api/v1/settings/sso/providers/" + miss + "/sp-keys", bodyB: `{"action":"prepare"}`, bodyMiss: `{"action":"prepare"}`},
			crossCase{pattern: "GET /api/v1/settings/sso", pathB: "/api/v1/settings/sso", pathMiss: "/api/v1/settings/sso"},
			crossCase{pattern: "PUT /api/v1/settings/sso", pathB: "/api/v1/settings/sso", pathMiss: "/api/v1/settings/sso", bodyB: `{"sso_only":false,"fallback_users":["` + bUser + `"]}`, bodyMiss: `{"sso_only":false,"fallback_users":["` + miss + `"]}`},
			crossCase{pattern: "POST /api/v1/settings/sso/providers", pathB: "/api/v1/settings/sso/providers", pathMiss: "/api/v1/settings/sso/providers",
				bodyB: `{"kind":"oidc","name":"x","issuer":"https://idp.alpha.example","client_id":"c","jit":true,"allowed_domains":["alpha.example"],"default_role":"b_role"}`, bodyMiss: `{"kind":"oidc","name":"x","issuer":"https://idp.alpha.example","client_id":"c","jit":true,"allowed_domains":["alpha.example"],"default_role":"no_role"}`},
		)
		// The audit log: searching for B's actors and targets finds what
		// searching for ids that exist nowhere finds; an export shows
		// nothing of B.
		cases = append(cases,
			crossCase{pattern: "GET /api/v1/audit", pathB: "/api/v1/audit?actor=" + bUser, pathMiss: "/api/v1/audit?actor=" + miss},
			crossCase{pattern: "GET /api/v1/audit", pathB: "/api/v1/audit?target=" + bContact.ID, pathMiss: "/api/v1/audit?target=" + miss},
			crossCase{pattern: "GET /api/v1/audit/export", pathB: "/api/v1/audit/export", pathMiss: "/api/v1/audit/export", unavailable: true},
		)
		// Lists take no ids: they must show nothing of B.
		for _, p := range []string{"/api/v1/users", "/api/v1/roles", "/api/v1/tokens", "/api/v1/collections", "/api/v1/collections/contacts/records", "/api/v1/audit", "/api/v1/settings/sso/providers"} {
			cases = append(cases, crossCase{pattern: "GET " + strings.Replace(p, "contacts", "{collection}", 1), pathB: p, pathMiss: p})
		}

		// Every tenant route has a case.
		covered := map[string]bool{"POST /api/v1/roles": true, "POST /api/v1/collections": true} // below
		for _, c := range cases {
			covered[c.pattern] = true
		}
		for _, rt := range e.api.routes {
			switch rt.access.kind {
			case accessTenant, accessTenantScoped, accessTenantSome:
				if !covered[rt.pattern()] {
					t.Errorf("no cross-tenant case for %s", rt.pattern())
				}
			}
		}

		// check fails on any of B's data in a response, except what A sent
		// itself (an error message may echo a name from the request).
		check := func(r resp, sent ...string) {
			t.Helper()
			body := string(r.body)
			for _, s := range bSecrets {
				echoed := false
				for _, in := range sent {
					echoed = echoed || strings.Contains(in, s)
				}
				if !echoed && strings.Contains(body, s) {
					t.Errorf("a response to tenant A contains B's %q: %s", s, body)
				}
			}
		}
		for _, who := range []struct{ name, tok string }{{"owner session", ownerA}, {"admin token", adminTokA}} {
			for _, c := range cases {
				method, _, _ := strings.Cut(c.pattern, " ")
				var bodyB, bodyMiss any
				if c.bodyB != "" {
					bodyB, bodyMiss = c.bodyB, c.bodyMiss
				}
				rb := e.do(method, c.pathB, who.tok, bodyB, c.header...)
				rm := e.do(method, c.pathMiss, who.tok, bodyMiss, c.header...)
				check(rb, c.pathB, c.bodyB)
				check(rm, c.pathMiss, c.bodyMiss)
				if rb.status >= 500 && !(c.unavailable && rb.status == http.StatusServiceUnavailable) {
					t.Errorf("%s: %s %s: %d", who.name, method, c.pathB, rb.status)
				}
				if rb.status < 400 && rb.status != rm.status {
					// A success on B's id would be a breach; a success on
					// both (lists) is compared below.
					t.Errorf("%s: %s %s succeeded with %d where a missing id gets %d", who.name, method, c.pathB, rb.status, rm.status)
				}
				v := c.vary()
				if rb.status != rm.status || blank(string(rb.body), v) != blank(string(rm.body), v) {
					t.Errorf("%s: %s %s\n  B's id:  %s\n  missing: %s", who.name, method, c.pathB, rb, rm)
				}
			}
		}

		// The failed requests changed nothing in A either.
		if afterA := snapshot(t, e, ownerA); afterA != beforeA {
			t.Errorf("tenant A changed:\nbefore %s\nafter  %s", beforeA, afterA)
		}

		// Names taken in B are free in A: tenants do not share namespaces.
		check(e.want(e.do("POST", "/api/v1/roles", ownerA, createRoleRequest{Name: "b_role", Permissions: []bulwark.Permission{bulwark.PermUsersRead}}), 201), "b_role")
		check(e.want(e.do("POST", "/api/v1/collections", ownerA, createCollectionRequest{Name: "b_only", Fields: []fieldRequest{{Name: "name", Type: "text", Classification: "personal"}}}), 201), "b_only")
		check(e.want(e.do("POST", "/api/v1/collections/contacts/records", ownerA, `{"name":"Dup","email":"secret@bravo.example"}`), 201), "secret@bravo.example")

		if afterB := snapshot(t, e, ownerB); afterB != beforeB {
			t.Errorf("tenant B changed:\nbefore %s\nafter  %s", beforeB, afterB)
		}
	})
}

// badCase is a request that must fail without changing anything.
type badCase struct {
	name         string
	method, path string
	body         string
	header       []string
	status       int // 0: any 4xx
}

// TestE2EBadInputChangesNothing: every kind of bad input gets a 4xx with
// the right status, never a 500, and leaves the tenant exactly as it was.
func TestE2EBadInputChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "contacts", contactFields...)
		r1 := e.record(owner, "contacts", map[string]any{"name": "One", "email": "one@example.com", "score": 1})
		e.record(owner, "contacts", map[string]any{"name": "Two", "email": "two@example.com"})
		uid, _ := e.user(owner, "acme", "u@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "reader", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}), 201)
		recPath := "/api/v1/collections/contacts/records/" + r1.ID
		big := `{"name":"` + strings.Repeat("x", maxBody) + `"}`
		longText := `{"name":"` + strings.Repeat("x", bulwark.MaxTextLen+1) + `"}`

		cases := []badCase{
			{"invite: bad email", "POST", "/api/v1/users", `{"email":"not-an-email","grants":[{"role":"viewer"}]}`, nil, 400},
			{"invite: unknown field", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":[{"role":"viewer"}],"status":"active"}`, nil, 400},
			{"invite: unknown role", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":[{"role":"nosuch"}]}`, nil, 400},
			{"invite: empty role", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":[{"role":""}]}`, nil, 400},
			{"invite: unknown collection", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":[{"role":"viewer","collection":"nosuch"}]}`, nil, 400},
			{"invite: taken email", "POST", "/api/v1/users", `{"email":"U@acme.example","grants":[{"role":"viewer"}]}`, nil, 409},
			{"invite: grants wrong type", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":"viewer"}`, nil, 400},
			{"invite: text/plain", "POST", "/api/v1/users", `{"email":"x@acme.example"}`, []string{"Content-Type", "text/plain"}, 415},
			{"invite: array", "POST", "/api/v1/users", `[{"email":"x@acme.example"}]`, nil, 400},
			{"invite: two objects", "POST", "/api/v1/users", `{"email":"x@acme.example","grants":[{"role":"viewer"}]}{"email":"y@acme.example"}`, nil, 400},
			{"invite: too large", "POST", "/api/v1/users", big, nil, 413},
			{"update user: nothing", "PATCH", "/api/v1/users/" + uid, `{}`, nil, 400},
			{"update user: bad status", "PATCH", "/api/v1/users/" + uid, `{"status":"gone"}`, nil, 400},
			{"update user: unknown role", "PATCH", "/api/v1/users/" + uid, `{"grants":[{"role":"nosuch"}]}`, nil, 400},
			{"update user: unknown field", "PATCH", "/api/v1/users/" + uid, `{"status":"disabled","email":"z@acme.example"}`, nil, 400},
			{"update user: malformed", "PATCH", "/api/v1/users/" + uid, `{"status":`, nil, 400},
			{"role: bad name", "POST", "/api/v1/roles", `{"name":"Bad Name","permissions":["users.read"]}`, nil, 400},
			{"role: built-in name", "POST", "/api/v1/roles", `{"name":"owner","permissions":["users.read"]}`, nil, 400},
			{"role: no permissions", "POST", "/api/v1/roles", `{"name":"r2","permissions":[]}`, nil, 400},
			{"role: unknown permission", "POST", "/api/v1/roles", `{"name":"r2","permissions":["everything"]}`, nil, 400},
			{"role: tenant.own", "POST", "/api/v1/roles", `{"name":"r2","permissions":["tenant.own"]}`, nil, 400},
			{"role: built_in", "POST", "/api/v1/roles", `{"name":"r2","permissions":["users.read"],"built_in":true}`, nil, 400},
			{"role: taken", "POST", "/api/v1/roles", `{"name":"reader","permissions":["users.read"]}`, nil, 409},
			{"role: delete built-in", "DELETE", "/api/v1/roles/owner", "", nil, 0},
			{"token: no name", "POST", "/api/v1/tokens", `{"name":"","grant":{"role":"viewer"}}`, nil, 400},
			{"token: bad ttl", "POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer"},"expires_in":"10y"}`, nil, 400},
			{"token: ttl too long", "POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer"},"expires_in":"9000h"}`, nil, 400},
			{"token: unknown role", "POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"nosuch"}}`, nil, 400},
			{"token: unknown collection", "POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer","collection":"nosuch"}}`, nil, 400},
			{"token: secret given", "POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer"},"token":"mine"}`, nil, 400},
			{"collection: bad name", "POST", "/api/v1/collections", `{"name":"9bad","fields":[{"name":"a","type":"text","classification":"public"}]}`, nil, 400},
			{"collection: no classification", "POST", "/api/v1/collections", `{"name":"c2","fields":[{"name":"a","type":"text"}]}`, nil, 400},
			{"collection: duplicate field", "POST", "/api/v1/collections", `{"name":"c2","fields":[{"name":"a","type":"text","classification":"public"},{"name":"a","type":"bool","classification":"public"}]}`, nil, 400},
			{"collection: reserved field", "POST", "/api/v1/collections", `{"name":"c2","fields":[{"name":"id","type":"text","classification":"public"}]}`, nil, 400},
			{"collection: unique json", "POST", "/api/v1/collections", `{"name":"c2","fields":[{"name":"a","type":"json","classification":"public","unique":true}]}`, nil, 400},
			{"collection: bad type", "POST", "/api/v1/collections", `{"name":"c2","fields":[{"name":"a","type":"blob","classification":"public"}]}`, nil, 400},
			{"collection: taken", "POST", "/api/v1/collections", `{"name":"contacts","fields":[{"name":"a","type":"text","classification":"public"}]}`, nil, 409},
			{"collection: id given", "POST", "/api/v1/collections", `{"name":"c2","id":"x","fields":[{"name":"a","type":"text","classification":"public"}]}`, nil, 400},
			{"update collection: nothing", "PATCH", "/api/v1/collections/contacts", `{}`, nil, 400},
			{"update collection: unknown field", "PATCH", "/api/v1/collections/contacts", `{"classifications":{"nosuch":"public"}}`, nil, 400},
			{"update collection: bad class", "PATCH", "/api/v1/collections/contacts", `{"classifications":{"name":"topsecret"}}`, nil, 400},
			{"update collection: duplicate field", "PATCH", "/api/v1/collections/contacts", `{"add_fields":[{"name":"name","type":"text","classification":"public"}]}`, nil, 400},
			{"record: wrong type", "POST", "/api/v1/collections/contacts/records", `{"name":5}`, nil, 400},
			{"record: number as string", "POST", "/api/v1/collections/contacts/records", `{"name":"x","score":"high"}`, nil, 400},
			{"record: huge number", "POST", "/api/v1/collections/contacts/records", `{"name":"x","score":1e400}`, nil, 400},
			{"record: bad email", "POST", "/api/v1/collections/contacts/records", `{"name":"x","email":"nope"}`, nil, 400},
			{"record: bad bool", "POST", "/api/v1/collections/contacts/records", `{"name":"x","vip":"yes"}`, nil, 400},
			{"record: unknown field", "POST", "/api/v1/collections/contacts/records", `{"name":"x","shoe":44}`, nil, 400},
			{"record: required missing", "POST", "/api/v1/collections/contacts/records", `{"score":1}`, nil, 400},
			{"record: required null", "POST", "/api/v1/collections/contacts/records", `{"name":null}`, nil, 400},
			{"record: metadata", "POST", "/api/v1/collections/contacts/records", `{"name":"x","id":"mine","version":9}`, nil, 400},
			{"record: duplicate unique", "POST", "/api/v1/collections/contacts/records", `{"name":"x","email":"ONE@example.com"}`, nil, 409},
			{"record: text too long", "POST", "/api/v1/collections/contacts/records", longText, nil, 400},
			{"record: too large", "POST", "/api/v1/collections/contacts/records", big, nil, 413},
			{"record: null body", "POST", "/api/v1/collections/contacts/records", `null`, nil, 400},
			{"record: no content type", "POST", "/api/v1/collections/contacts/records", `{"name":"x"}`, []string{"Content-Type", ""}, 415},
			{"patch record: stale", "PATCH", recPath, `{"score":2}`, []string{"If-Match", `"7"`}, 412},
			{"patch record: bad If-Match", "PATCH", recPath, `{"score":2}`, []string{"If-Match", "7"}, 400},
			{"patch record: required null", "PATCH", recPath, `{"name":null}`, nil, 400},
			{"patch record: nothing", "PATCH", recPath, `{}`, nil, 400},
			{"patch record: duplicate unique", "PATCH", recPath, `{"email":"two@example.com"}`, nil, 409},
			{"patch record: wrong type", "PATCH", recPath, `{"score":"x"}`, nil, 400},
			{"patch record: trailing data", "PATCH", recPath, `{"score":2} {"score":3}`, nil, 400},
			{"delete record: stale", "DELETE", recPath, "", []string{"If-Match", `"7"`}, 412},
			{"delete record: bad If-Match", "DELETE", recPath, "", []string{"If-Match", `"one"`}, 400},
			{"path: invalid utf-8", "GET", "/api/v1/users/%FF", "", nil, 404},
			{"path: NUL", "DELETE", "/api/v1/tokens/a%00b", "", nil, 404},
			{"path: NUL in collection", "GET", "/api/v1/collections/a%00b/records", "", nil, 404},
			{"query: NUL cursor", "GET", "/api/v1/users?cursor=a%00", "", nil, 400},
			{"query: invalid utf-8 cursor", "GET", "/api/v1/collections/contacts/records?cursor=%FF", "", nil, 400},
			{"query: NUL filter", "GET", "/api/v1/collections/contacts/records?name=a%00", "", nil, 400},
			{"record: NUL in text", "POST", "/api/v1/collections/contacts/records", `{"name":"a\u0000b"}`, nil, 400},
			{"record: invalid utf-8", "POST", "/api/v1/collections/contacts/records", "{\"name\":\"\xff\"}", nil, 400},
			{"role: NUL in description", "POST", "/api/v1/roles", `{"name":"r3","description":"x\u0000","permissions":["users.read"]}`, nil, 400},
			{"token: NUL in name", "POST", "/api/v1/tokens", `{"name":"x\u0000y","grant":{"role":"viewer"}}`, nil, 400},
			{"activate: unknown token", "POST", "/api/v1/auth/activate", `{"token":"nope","password":"` + storetest.Password + `"}`, nil, 410},
			{"login: unknown field", "POST", "/api/v1/auth/login", `{"tenant":"acme","email":"owner@acme.example","password":"x","mfa":"1"}`, nil, 400},
		}
		before := snapshot(t, e, owner)
		for _, c := range cases {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := e.do(c.method, c.path, owner, body, c.header...)
			if c.status != 0 && r.status != c.status || r.status < 400 || r.status >= 500 {
				t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
			}
		}
		if after := snapshot(t, e, owner); after != before {
			t.Errorf("bad input changed the tenant:\nbefore %s\nafter  %s", before, after)
		}
		// And the owner's session still works: nothing was revoked.
		e.want(e.do("GET", "/api/v1/auth/me", owner, nil), http.StatusOK)
	})
}
