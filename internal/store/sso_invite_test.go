package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestInvitationUsedUpBySSO is AUTH-4, AUTH-5: an invitation accepted
// through the IdP uses up its link, so whoever holds it (the inviting
// admin had it in the API response) cannot later set a password on the
// account, after it was promoted to owner, say.
func TestInvitationUsedUpBySSO(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		admin, _ := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		const entity = "https://idp.corp.example/saml"
		pr0 := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "corp", IdPMetadata: samlMetadata(t, entity)}))
		pr := must[*sso.Provider](t)(provider(ctx, f, pr0.ID))

		u, inv, err := f.InviteUser(admin, bulwark.NewUser{Email: "new@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.FederatedLogin(ctx, pr, &sso.Identity{Issuer: entity, Subject: "new-nameid", Email: "new@acme.example", EmailVerified: true, MFA: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := bulwark.FromContext(f.As(t, s.Token)).ID; got != u.ID {
			t.Fatalf("SSO login as %s, want %s", got, u.ID)
		}
		if _, err := f.UpdateUser(owner, u.ID, bulwark.UserUpdate{Grants: &[]bulwark.Grant{{Role: bulwark.RoleOwner}}}); err != nil {
			t.Fatal(err)
		}
		const pw = "Another-long-passphrase-42!"
		wantCode(t, f.CheckActivation(ctx, inv.Token), bulwark.EGone)
		wantCode(t, f.Auth.Activate(ctx, inv.Token, pw), bulwark.EGone)
		_, err = f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "new@acme.example", Password: pw})
		wantCode(t, err, bulwark.EUnauthenticated)
	})
}
