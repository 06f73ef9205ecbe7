package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// A token acts on its maker's authority: disabling or removing the user
// who made it revokes it, and the tokens it made in turn, at once (cached
// principals included), audited; re-enabling the user brings none back.
func TestTokensEndWithTheirMaker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		admin, _ := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		other, _ := f.User(t, owner, "other@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		adminID, otherID := bulwark.FromContext(admin).ID, bulwark.FromContext(other).ID

		tok, err := f.CreateToken(admin, bulwark.NewAPIToken{Name: "automation", Grant: bulwark.Grant{Role: bulwark.RoleAdmin}})
		if err != nil {
			t.Fatal(err)
		}
		// The token makes its successor, then is revoked (a rotation):
		// the successor still ends with the admin.
		next, err := f.CreateToken(f.As(t, tok.Secret), bulwark.NewAPIToken{Name: "automation-2", Grant: bulwark.Grant{Role: bulwark.RoleEditor}})
		if err != nil {
			t.Fatal(err)
		}
		last, err := f.CreateToken(f.As(t, next.Secret), bulwark.NewAPIToken{Name: "automation-3", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		if err == nil {
			t.Fatal("an editor token made a token") // editor lacks tokens.manage
		}
		last, err = f.CreateToken(f.As(t, tok.Secret), bulwark.NewAPIToken{Name: "automation-3", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.RevokeToken(owner, tok.ID); err != nil {
			t.Fatal(err)
		}
		kept, err := f.CreateToken(other, bulwark.NewAPIToken{Name: "other's", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		if err != nil {
			t.Fatal(err)
		}
		ownerTok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "owner's", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{next.Secret, last.Secret, kept.Secret} {
			if _, err := f.Auth.Authenticate(ctx, s); err != nil { // cached now
				t.Fatal(err)
			}
		}

		disabled, active := bulwark.StatusDisabled, bulwark.StatusActive
		if _, err := f.UpdateUser(owner, adminID, bulwark.UserUpdate{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{next.Secret, last.Secret} {
			if _, err := f.Auth.Authenticate(ctx, s); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
				t.Errorf("a token made (through a token) by a disabled admin: %v, want unauthenticated", err)
			}
		}
		if _, err := f.Auth.Authenticate(ctx, kept.Secret); err != nil {
			t.Errorf("another admin's token: %v", err)
		}
		if _, err := f.UpdateUser(owner, adminID, bulwark.UserUpdate{Status: &active}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Auth.Authenticate(ctx, next.Secret); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
			t.Errorf("a revoked token came back with its maker: %v", err)
		}
		toks, err := f.ListTokens(owner)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			if (tk.ID == tok.ID || tk.ID == next.ID || tk.ID == last.ID) != (tk.RevokedAt != nil) {
				t.Errorf("token %s (%s): revoked at %v", tk.Name, tk.ID, tk.RevokedAt)
			}
		}
		for _, id := range []string{next.ID, last.ID} {
			es, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: "token.revoke", Target: id})
			if err != nil || len(es) != 1 || !es[0].Privileged {
				t.Errorf("audit of the revocation of %s: %v %+v", id, err, es)
			}
		}

		if _, err := f.Auth.Authenticate(ctx, kept.Secret); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteUser(owner, otherID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Auth.Authenticate(ctx, kept.Secret); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
			t.Errorf("a token made by a deleted admin: %v, want unauthenticated", err)
		}
		if es, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: "token.revoke", Target: kept.ID}); err != nil || len(es) != 1 {
			t.Errorf("audit of the revocation of %s: %v %d", kept.ID, err, len(es))
		}
		if _, err := f.Auth.Authenticate(ctx, ownerTok.Secret); err != nil {
			t.Errorf("the owner's token: %v", err)
		}
	})
}
