package storetest

import (
	"context"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/password"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Password is the password every fixture account gets.
const Password = "correct horse battery staple"

// FastHashing makes Argon2id cheap in tests; production uses
// password.Default.
var FastHashing = password.Params{Memory: 64, Time: 1, Threads: 1}

// Fixture is a store with an auth service and a fake clock.
type Fixture struct {
	*DB
	Auth  *auth.Service
	Clock *Clock
}

// NewFixture opens a fresh store on backend.
func NewFixture(t testing.TB, backend string) *Fixture {
	clock := NewClock()
	db := Open(t, backend, store.Options{Now: clock.Now})
	return &Fixture{DB: db, Auth: auth.New(db.DB, auth.Options{Params: FastHashing, Now: clock.Now}), Clock: clock}
}

// Tenant creates a tenant, activates its owner and returns a context acting
// as that owner, with the owner's session token.
func (f *Fixture) Tenant(t testing.TB, slug string) (context.Context, string) {
	t.Helper()
	_, inv, err := f.CreateTenant(System(context.Background()), bulwark.NewTenant{Slug: slug, Name: slug, AdminEmail: "owner@" + slug + ".example"})
	if err != nil {
		t.Fatal(err)
	}
	return f.activateAndLogin(t, slug, "owner@"+slug+".example", inv.Token)
}

// User invites a user into the tenant of ownerCtx with grants, activates
// them and returns their context and session token.
func (f *Fixture) User(t testing.TB, ownerCtx context.Context, email string, grants ...bulwark.Grant) (context.Context, string) {
	t.Helper()
	_, inv, err := f.InviteUser(ownerCtx, bulwark.NewUser{Email: email, Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	return f.activateAndLogin(t, bulwark.FromContext(ownerCtx).TenantSlug, email, inv.Token)
}

func (f *Fixture) activateAndLogin(t testing.TB, slug, email, token string) (context.Context, string) {
	t.Helper()
	ctx := context.Background()
	if err := f.Auth.Activate(ctx, token, Password); err != nil {
		t.Fatal(err)
	}
	s, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: slug, Email: email, Password: Password})
	if err != nil {
		t.Fatal(err)
	}
	return f.As(t, s.Token), s.Token
}

// As authenticates a bearer secret and returns a context carrying its
// principal.
func (f *Fixture) As(t testing.TB, bearer string) context.Context {
	t.Helper()
	p, err := f.Auth.Authenticate(context.Background(), bearer)
	if err != nil {
		t.Fatal(err)
	}
	return bulwark.NewContext(context.Background(), p)
}

// CompleteMFA finishes a session that owes its second factor (or must
// enrol one, as every operator must) by enrolling an authenticator app
// and giving a code; it returns the complete session.
func (f *Fixture) CompleteMFA(t testing.TB, s *bulwark.Session) *bulwark.Session {
	t.Helper()
	if s.Next != bulwark.StageEnrol {
		t.Fatalf("CompleteMFA: the session owes %q, want %q", s.Next, bulwark.StageEnrol)
	}
	ctx := f.As(t, s.Token)
	en, err := f.Auth.BeginTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(en.Secret, f.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	full, _, err := f.Auth.ConfirmTOTP(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	return full
}
