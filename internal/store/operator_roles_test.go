package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// operatorAs creates an operator with roles, activates it, logs in with a
// second factor and returns its context and session token.
func operatorAs(t *testing.T, f *storetest.Fixture, email string, roles ...bulwark.OperatorRole) (context.Context, string) {
	t.Helper()
	ctx := context.Background()
	_, inv, err := f.CreateOperator(storetest.System(ctx), email, roles...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
		t.Fatal(err)
	}
	s, err := f.Auth.OperatorLogin(ctx, email, storetest.Password)
	if err != nil {
		t.Fatal(err)
	}
	tok := f.CompleteMFA(t, s).Token
	return f.As(t, tok), tok
}

// TestOperatorRolesInStore is PRIV-1 below the web layer: the store
// itself refuses admin work to an operator without the admin role and the
// cross-tenant search to one without the security role; roles are read
// at each request, so a change applies at once; bad roles change nothing.
func TestOperatorRolesInStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		sys := storetest.System(context.Background())
		admin, _ := operatorAs(t, f, "admin@vendor.example", bulwark.OperatorAdmin)
		sec, secTok := operatorAs(t, f, "sec@vendor.example", bulwark.OperatorSecurity)
		none, _ := operatorAs(t, f, "none@vendor.example")

		for _, ctx := range []context.Context{sec, none} {
			_, _, err := f.CreateTenant(ctx, bulwark.NewTenant{Slug: "x", Name: "X", AdminEmail: "o@x.example"})
			wantCode(t, err, bulwark.EForbidden)
			_, err = f.ListTenants(ctx)
			wantCode(t, err, bulwark.EForbidden)
			_, _, err = f.CreateOperator(ctx, "y@vendor.example", bulwark.OperatorAdmin)
			wantCode(t, err, bulwark.EForbidden)
			_, err = f.ListKeys(ctx)
			wantCode(t, err, bulwark.EForbidden)
			_, err = f.SetOperatorRoles(ctx, "sec@vendor.example", []bulwark.OperatorRole{bulwark.OperatorAdmin})
			wantCode(t, err, bulwark.EForbidden)
		}
		for _, ctx := range []context.Context{admin, none, sys} {
			_, _, err := f.SearchAllAudit(ctx, bulwark.AuditFilter{})
			wantCode(t, err, bulwark.EForbidden)
		}
		_, _, err := f.SearchAllAudit(context.Background(), bulwark.AuditFilter{})
		wantCode(t, err, bulwark.EUnauthenticated)
		if _, _, err := f.CreateTenant(admin, bulwark.NewTenant{Slug: "acme", Name: "Acme", AdminEmail: "o@acme.example"}); err != nil {
			t.Fatal(err)
		}

		// The search is recorded, with the filters by name, before it
		// answers: the search that lists searches finds itself.
		es, _, err := f.SearchAllAudit(sec, bulwark.AuditFilter{Action: "audit.search", Outcome: bulwark.OutcomeSuccess})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Actor.ID != bulwark.FromContext(sec).ID || !slices.Equal(es[0].Fields, []string{"action", "outcome"}) || es[0].Target.ID != "*" || !es[0].Privileged {
			t.Fatalf("search entries: %+v", es)
		}
		created, _, err := f.SearchAllAudit(sec, bulwark.AuditFilter{Action: "tenant.create"})
		if err != nil || len(created) != 1 {
			t.Fatalf("tenant.create across tenants: %d, %v", len(created), err)
		}
		// A filter on a tenant that has no entries finds nothing; one that
		// is not a tenant id is refused (it would be recorded as target).
		other, _, err := f.SearchAllAudit(sec, bulwark.AuditFilter{Tenant: "0190b3a4-0000-7000-8000-000000000000"})
		if err != nil || len(other) != 0 {
			t.Fatalf("tenant filter: %d, %v", len(other), err)
		}
		_, _, err = f.SearchAllAudit(sec, bulwark.AuditFilter{Tenant: "someone@example.com"})
		wantCode(t, err, bulwark.EInvalid)

		// Invalid roles change nothing.
		for _, roles := range [][]bulwark.OperatorRole{nil, {"root"}, {bulwark.OperatorAdmin, bulwark.OperatorAdmin}} {
			_, err := f.SetOperatorRoles(sys, "sec@vendor.example", roles)
			wantCode(t, err, bulwark.EInvalid)
		}
		_, _, err = f.CreateOperator(sys, "z@vendor.example", "root")
		wantCode(t, err, bulwark.EInvalid)
		_, err = f.SetOperatorRoles(sys, "nobody@vendor.example", []bulwark.OperatorRole{bulwark.OperatorAdmin})
		wantCode(t, err, bulwark.ENotFound)
		if _, _, err := f.SearchAllAudit(sec, bulwark.AuditFilter{}); err != nil {
			t.Fatal("a refused role change took the security role away:", err)
		}

		// Roles change at once, for the running session.
		op, err := f.SetOperatorRoles(admin, "sec@vendor.example", []bulwark.OperatorRole{bulwark.OperatorAdmin})
		if err != nil || !slices.Equal(op.Roles, []bulwark.OperatorRole{bulwark.OperatorAdmin}) {
			t.Fatalf("set roles: %+v, %v", op, err)
		}
		sec2 := f.As(t, secTok)
		_, _, err = f.SearchAllAudit(sec2, bulwark.AuditFilter{})
		wantCode(t, err, bulwark.EForbidden)
		if _, err := f.ListTenants(sec2); err != nil {
			t.Fatal(err)
		}
	})
}
