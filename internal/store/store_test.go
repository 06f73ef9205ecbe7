package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// wantCode fails unless err has the code want.
func wantCode(t *testing.T, err error, want bulwark.Code) {
	t.Helper()
	if got := bulwark.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var notes = bulwark.Collection{Name: "notes", Fields: []bulwark.Field{
	{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal, Required: true},
	{Name: "owner_email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal, Unique: true},
	{Name: "score", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic},
	{Name: "done", Type: bulwark.TypeBool, Classification: bulwark.ClassPublic},
	{Name: "due", Type: bulwark.TypeDatetime, Classification: bulwark.ClassInternal},
	{Name: "meta", Type: bulwark.TypeJSON, Classification: bulwark.ClassInternal},
}}

func TestTenantsAndLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		sys := storetest.System(context.Background())
		ownerA, _ := f.Tenant(t, "acme")
		p := bulwark.FromContext(ownerA)
		if p.Kind != bulwark.KindUser || p.TenantSlug != "acme" || !p.Can(bulwark.PermTenantOwn, "") {
			t.Fatalf("owner principal = %+v", p)
		}
		// A slug is unique.
		_, _, err := f.CreateTenant(sys, bulwark.NewTenant{Slug: "acme", Name: "x", AdminEmail: "a@b.example"})
		wantCode(t, err, bulwark.EConflict)
		_, _, err = f.CreateTenant(sys, bulwark.NewTenant{Slug: "Bad Slug", Name: "x", AdminEmail: "a@b.example"})
		wantCode(t, err, bulwark.EInvalid)
		// Only operators create tenants.
		_, _, err = f.CreateTenant(ownerA, bulwark.NewTenant{Slug: "evil", Name: "x", AdminEmail: "a@b.example"})
		wantCode(t, err, bulwark.EForbidden)
		_, _, err = f.CreateTenant(context.Background(), bulwark.NewTenant{Slug: "evil", Name: "x", AdminEmail: "a@b.example"})
		wantCode(t, err, bulwark.EUnauthenticated)

		// The same email in another tenant is another identity with its
		// own password.
		_, inv, err := f.CreateTenant(sys, bulwark.NewTenant{Slug: "globex", Name: "Globex", AdminEmail: "owner@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Auth.Activate(context.Background(), inv.Token, "another long passphrase here"); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "globex", Email: "owner@acme.example", Password: storetest.Password}); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
			t.Fatalf("acme's password opened globex: %v", err)
		}
		s := must[*bulwark.Session](t)(f.Auth.Login(ctx, bulwark.Credentials{Tenant: "globex", Email: "OWNER@acme.example", Password: "another long passphrase here"}))
		pg := must[*bulwark.Principal](t)(f.Auth.Authenticate(ctx, s.Token))
		if pg.TenantSlug != "globex" || pg.ID == p.ID {
			t.Fatalf("globex principal = %+v", pg)
		}

		// Every failed login is the same error.
		for _, c := range []bulwark.Credentials{
			{Tenant: "acme", Email: "owner@acme.example", Password: "wrong password, long enough"},
			{Tenant: "acme", Email: "nobody@acme.example", Password: storetest.Password},
			{Tenant: "nope", Email: "owner@acme.example", Password: storetest.Password},
			{Tenant: "", Email: "", Password: ""},
		} {
			_, err := f.Auth.Login(ctx, c)
			wantCode(t, err, bulwark.EUnauthenticated)
		}
		list := must[[]*bulwark.Tenant](t)(f.ListTenants(sys))
		if len(list) != 2 {
			t.Fatalf("ListTenants = %d tenants", len(list))
		}
	})
}

func TestActivation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		sys := storetest.System(ctx)
		_, inv, err := f.CreateTenant(sys, bulwark.NewTenant{Slug: "acme", Name: "Acme", AdminEmail: "o@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.Auth.Activate(ctx, inv.Token, "short"), bulwark.EInvalid)
		wantCode(t, f.Auth.Activate(ctx, inv.Token+"x", storetest.Password), bulwark.EGone)
		wantCode(t, f.Auth.Activate(ctx, "garbage", storetest.Password), bulwark.EGone)
		// An invited user cannot log in.
		_, err = f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "o@acme.example", Password: storetest.Password})
		wantCode(t, err, bulwark.EUnauthenticated)
		if err := f.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		// Single use.
		wantCode(t, f.Auth.Activate(ctx, inv.Token, "a different long passphrase"), bulwark.EGone)

		// Expiry.
		_, inv2, err := f.CreateOperator(sys, "ops@vendor.example")
		if err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(25 * time.Hour)
		wantCode(t, f.Auth.Activate(ctx, inv2.Token, storetest.Password), bulwark.EGone)
		_, _, err = f.CreateOperator(sys, "ops@vendor.example")
		wantCode(t, err, bulwark.EConflict)
	})
}

func TestOperators(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		_, inv := must2[*bulwark.Operator, *bulwark.Invitation](t)(f.CreateOperator(storetest.System(ctx), "ops@vendor.example", bulwark.OperatorAdmin))
		if err := f.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s := must[*bulwark.Session](t)(f.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password))
		// Operators always need a second factor (AUTH-8): enrol one.
		s = f.CompleteMFA(t, s)
		opCtx := f.As(t, s.Token)
		p := bulwark.FromContext(opCtx)
		if p.Kind != bulwark.KindOperator {
			t.Fatalf("principal = %+v", p)
		}
		// An operator creates tenants but reaches no tenant data.
		if _, _, err := f.CreateTenant(opCtx, bulwark.NewTenant{Slug: "acme", Name: "Acme", AdminEmail: "o@acme.example"}); err != nil {
			t.Fatal(err)
		}
		_, err := f.ListCollections(opCtx)
		wantCode(t, err, bulwark.EUnauthenticated)
		_, _, err = f.ListUsers(opCtx, bulwark.ListOptions{})
		wantCode(t, err, bulwark.EUnauthenticated)
		// A tenant login cannot be used as an operator's and vice versa.
		_, err = f.Auth.OperatorLogin(ctx, "ops@vendor.example", "wrong wrong wrong wrong")
		wantCode(t, err, bulwark.EUnauthenticated)
		if err := f.Auth.Logout(opCtx); err != nil {
			t.Fatal(err)
		}
		_, err = f.Auth.Authenticate(ctx, s.Token)
		wantCode(t, err, bulwark.EUnauthenticated)
	})
}

func must2[A, B any](t *testing.T) func(A, B, error) (A, B) {
	return func(a A, b B, err error) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, tok := f.Tenant(t, "acme")
		_, userTok := f.User(t, owner, "u@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})

		// Idle timeout: 29 minutes of quiet is fine (and refreshes the
		// session), 31 more is not.
		f.Clock.Advance(29 * time.Minute)
		must[*bulwark.Principal](t)(f.Auth.Authenticate(ctx, tok))
		f.Clock.Advance(29 * time.Minute)
		must[*bulwark.Principal](t)(f.Auth.Authenticate(ctx, tok))
		f.Clock.Advance(31 * time.Minute)
		_, err := f.Auth.Authenticate(ctx, tok)
		wantCode(t, err, bulwark.EUnauthenticated)

		// Absolute timeout: 12 hours, however active.
		s := must[*bulwark.Session](t)(f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}))
		for i := 0; i < 25; i++ {
			f.Clock.Advance(29 * time.Minute)
			f.Auth.Authenticate(ctx, s.Token)
		}
		_, err = f.Auth.Authenticate(ctx, s.Token)
		wantCode(t, err, bulwark.EUnauthenticated)

		// Logout ends the session.
		s = must[*bulwark.Session](t)(f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "u@acme.example", Password: storetest.Password}))
		uctx := f.As(t, s.Token)
		if err := f.Auth.Logout(uctx); err != nil {
			t.Fatal(err)
		}
		_, err = f.Auth.Authenticate(ctx, s.Token)
		wantCode(t, err, bulwark.EUnauthenticated)
		_ = userTok

		// A session secret with another tenant's scope finds nothing.
		_, err = f.Auth.Authenticate(ctx, "bws_00000000-0000-0000-0000-000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		wantCode(t, err, bulwark.EUnauthenticated)
	})
}
