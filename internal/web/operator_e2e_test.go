package web

import (
	"context"
	"net/http"
	"slices"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// operatorSession creates an operator with roles through the store (as the
// command line does), activates it, logs in and enrols a second factor;
// it returns the operator's id and session token.
func (e *e2e) operatorSession(email string, roles ...bulwark.OperatorRole) (string, string) {
	e.t.Helper()
	op, inv, err := e.fx.CreateOperator(storetest.System(context.Background()), email, roles...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: inv.Token, Password: storetest.Password}), http.StatusNoContent)
	tok := decodeInto[sessionResponse](e.t, e.want(e.do("POST", "/api/v1/operator/login", "", operatorLoginRequest{Email: email, Password: storetest.Password}), 200)).Token
	return op.ID, e.enrolTOTP(tok)
}

// TestE2EOperatorRoles is PRIV-1 for the vendor's staff over HTTP: an
// admin-only operator is refused the security route and a security-only
// operator every admin route (403); an operator without roles reaches no
// operator route; the cross-tenant audit search works for security, is
// itself recorded with the filters by name and shows no sealed value
// opened; bad input is a 400; a role change takes effect at once and is
// audited (PRIV-2).
func TestE2EOperatorRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.tenant("globex")
		e.collection(owner, "notes", bulwark.Field{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal})
		e.record(owner, "notes", map[string]any{"title": "x"})

		adminID, admin := e.operatorSession("admin@vendor.example", bulwark.OperatorAdmin)
		secID, sec := e.operatorSession("sec@vendor.example", bulwark.OperatorSecurity)
		_, none := e.operatorSession("none@vendor.example")

		adminRoutes := []struct{ method, path string }{
			{"GET", "/api/v1/operator/tenants"},
			{"POST", "/api/v1/operator/tenants"},
			{"POST", "/api/v1/operator/operators"},
			{"GET", "/api/v1/operator/keys"},
		}
		for _, rt := range adminRoutes {
			e.want(e.do(rt.method, rt.path, sec, `{}`), 403, bulwark.EForbidden)
			e.want(e.do(rt.method, rt.path, none, `{}`), 403, bulwark.EForbidden)
		}
		e.want(e.do("GET", "/api/v1/operator/tenants", admin, nil), 200)
		e.want(e.do("GET", "/api/v1/operator/audit", admin, nil), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/operator/audit", none, nil), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/operator/audit", owner, nil), 403, bulwark.EForbidden)
		// A refused search is not a search: no audit.search entry for it.
		// Bad input is a 400 and records nothing either.
		e.want(e.do("GET", "/api/v1/operator/audit?outcome=maybe", sec, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/operator/audit?nope=1", sec, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/operator/audit?cursor=x", sec, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/operator/audit?tenant=someone@example.com", sec, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/audit?tenant=x", owner, nil), 400, bulwark.EInvalid)

		// Across tenants: both tenants' creations are there.
		list := decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/operator/audit?action=tenant.create&limit=100", sec, nil), 200))
		if len(list.Items) != 2 {
			t.Fatalf("tenant.create entries: %d", len(list.Items))
		}
		// With the tenant filter: only that tenant's entries.
		acme := decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/audit?action=record.", owner, nil), 200)).Items
		if len(acme) != 1 || acme[0].Client == "" {
			t.Fatalf("the tenant's own reader: %+v", acme)
		}
		tenantID := acme[0].Tenant
		list = decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/operator/audit?tenant="+tenantID+"&action=record.&limit=100", sec, nil), 200))
		if len(list.Items) != 1 || list.Items[0].Tenant != tenantID {
			t.Fatalf("tenant filter: %+v", list.Items)
		}
		// Operators never see a tenant's sealed client fields opened.
		if list.Items[0].Client != "" || list.Items[0].UserAgent != "" {
			t.Fatalf("an operator sees sealed values: %+v", list.Items[0])
		}

		// Every search, and only a search, left its own entry: who, and
		// which filters by name.
		searches := decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/operator/audit?action=audit.search&limit=100", sec, nil), 200)).Items
		if len(searches) != 3 {
			t.Fatalf("%d audit.search entries, want 3 (the refused and invalid ones record nothing)", len(searches))
		}
		newest := searches[0] // the search that lists them
		if newest.Actor.Kind != "operator" || newest.Actor.ID != secID || !newest.Privileged || !slices.Equal(newest.Fields, []string{"action"}) || newest.Tenant != "" {
			t.Fatalf("search entry: %+v", newest)
		}
		if f := searches[1].Fields; !slices.Equal(f, []string{"tenant", "action"}) || searches[1].Target.ID != tenantID {
			t.Fatalf("filtered search entry: %+v", searches[1])
		}

		// Creating an operator over the API needs its roles, known ones.
		e.want(e.do("POST", "/api/v1/operator/operators", admin, createOperatorRequest{Email: "x@vendor.example"}), 400, bulwark.EInvalid)
		e.want(e.do("POST", "/api/v1/operator/operators", admin, `{"email":"x@vendor.example","roles":["support"]}`), 400, bulwark.EInvalid)
		e.want(e.do("POST", "/api/v1/operator/operators", admin, `{"email":"x@vendor.example","roles":["admin","admin"]}`), 400, bulwark.EInvalid)
		r := e.want(e.do("POST", "/api/v1/operator/operators", admin, createOperatorRequest{Email: "x@vendor.example", Roles: []bulwark.OperatorRole{bulwark.OperatorSecurity}}), 201)
		if o := decodeInto[createOperatorResponse](t, r).Operator; !slices.Equal(o.Roles, []bulwark.OperatorRole{bulwark.OperatorSecurity}) {
			t.Fatalf("created operator roles: %+v", o)
		}

		// A role change takes effect at the next request, and is audited.
		if _, err := e.fx.SetOperatorRoles(storetest.System(context.Background()), "admin@vendor.example",
			[]bulwark.OperatorRole{bulwark.OperatorAdmin, bulwark.OperatorSecurity}); err != nil {
			t.Fatal(err)
		}
		changes := decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/operator/audit?action=operator.roles&target="+adminID, admin, nil), 200)).Items
		if len(changes) != 1 || !changes[0].Privileged || !slices.Contains(changes[0].Fields, "role:security") {
			t.Fatalf("role change entries: %+v", changes)
		}
		if _, err := e.fx.SetOperatorRoles(storetest.System(context.Background()), "admin@vendor.example", []bulwark.OperatorRole{bulwark.OperatorSecurity}); err != nil {
			t.Fatal(err)
		}
		e.want(e.do("GET", "/api/v1/operator/tenants", admin, nil), 403, bulwark.EForbidden)
	})
}
