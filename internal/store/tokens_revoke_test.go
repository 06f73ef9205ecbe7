package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// Revoking a token needs every permission its grant gives: owners only
// for owners' tokens, whether the caller is an admin's session or token.
func TestRevokeTokenNeedsItsRights(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		admin, _ := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		ownerTok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "owner-automation", Grant: bulwark.Grant{Role: bulwark.RoleOwner}})
		if err != nil {
			t.Fatal(err)
		}
		adminTok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "admin-automation", Grant: bulwark.Grant{Role: bulwark.RoleAdmin}})
		if err != nil {
			t.Fatal(err)
		}
		for name, as := range map[string]context.Context{"admin session": admin, "admin token": f.As(t, adminTok.Secret)} {
			if err := f.RevokeToken(as, ownerTok.ID); bulwark.ErrorCode(err) != bulwark.EForbidden {
				t.Errorf("%s revoking an owner token: %v, want forbidden", name, err)
			}
		}
		if _, err := f.Auth.Authenticate(ctx, ownerTok.Secret); err != nil {
			t.Errorf("the owner token after refused revocations: %v", err)
		}
		if es, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: "token.revoke", Target: ownerTok.ID}); err != nil || len(es) != 0 {
			t.Errorf("refused revocations audited as done: %v %d", err, len(es))
		}
		if err := f.RevokeToken(admin, "no-such-token"); bulwark.ErrorCode(err) != bulwark.ENotFound {
			t.Errorf("revoking a token that does not exist: %v, want not_found", err)
		}
		if err := f.RevokeToken(admin, adminTok.ID); err != nil {
			t.Errorf("an admin revoking an admin token: %v", err)
		}
		if err := f.RevokeToken(owner, ownerTok.ID); err != nil {
			t.Errorf("the owner revoking an owner token: %v", err)
		}
		for _, s := range []string{ownerTok.Secret, adminTok.Secret} {
			if _, err := f.Auth.Authenticate(ctx, s); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
				t.Errorf("a revoked token: %v, want unauthenticated", err)
			}
		}
	})
}
