package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestSSOProviderWritesNeedOwner: an identity provider vouches for whom it
// likes, so configuring one is the power to sign in as anyone, owners
// included. Creating, changing, deleting a provider (its mappings are part
// of it) and rolling its SP key over need tenant.own; an admin or a custom
// role with settings.manage is refused, though it may still read them.
func TestSSOProviderWritesNeedOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateRole(owner, bulwark.Role{Name: "sso-admin", Permissions: []bulwark.Permission{bulwark.PermSettingsManage}}); err != nil {
			t.Fatal(err)
		}
		admin, _ := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		settings, _ := f.User(t, owner, "sso@acme.example", bulwark.Grant{Role: "sso-admin"})
		oidc := must[*sso.Provider](t)(f.CreateSSOProvider(owner, oidcProvider(false)))
		saml := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "saml", IdPMetadata: samlMetadata(t, "https://idp.example/md")}))

		for _, c := range []struct {
			name string
			who  context.Context
		}{{"admin", admin}, {"settings.manage", settings}} {
			who := c.who
			t.Run(c.name, func(t *testing.T) {
				_, err := f.CreateSSOProvider(who, oidcProvider(false))
				wantCode(t, err, bulwark.EForbidden)
				changed := oidcProvider(false)
				changed.Issuer = "https://attacker.example"
				_, err = f.UpdateSSOProvider(who, oidc.ID, changed)
				wantCode(t, err, bulwark.EForbidden)
				wantCode(t, f.DeleteSSOProvider(who, oidc.ID), bulwark.EForbidden)
				_, err = f.RolloverSPKey(who, saml.ID, store.KeyPrepare)
				wantCode(t, err, bulwark.EForbidden)
				// Reading stays with settings.manage.
				if _, err := f.ListSSOProviders(who); err != nil {
					t.Fatal(err)
				}
				if _, err := f.GetSSOProvider(who, oidc.ID); err != nil {
					t.Fatal(err)
				}
			})
		}
		got := must[*sso.Provider](t)(f.GetSSOProvider(owner, oidc.ID))
		if got.Issuer != testIssuer {
			t.Fatalf("issuer changed to %q", got.Issuer)
		}
		// The owner still can.
		changed := oidcProvider(false)
		changed.Name = "renamed"
		must[*sso.Provider](t)(f.UpdateSSOProvider(owner, oidc.ID, changed))
		must[*sso.Provider](t)(f.RolloverSPKey(owner, saml.ID, store.KeyPrepare))
		if err := f.DeleteSSOProvider(owner, oidc.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLegacyProviderNeverLinksAnOwner: a provider saved before only owners
// could configure providers (by an admin, perhaps, pointing at an IdP of
// their own) does not link a first login to an owner's account, though it
// still links other users'; once an owner saves it, it may.
func TestLegacyProviderNeverLinksAnOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		p := must[*sso.Provider](t)(f.CreateSSOProvider(owner, oidcProvider(false)))
		if err := f.ForgetProviderOwner(owner, p.ID); err != nil {
			t.Fatal(err)
		}
		login := func(subject, email string) error {
			pr, _, err := f.SSOProvider(ctx, "acme", p.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.FederatedLogin(ctx, pr, &sso.Identity{Issuer: testIssuer, Subject: subject, Email: email, EmailVerified: true, MFA: true})
			return err
		}
		wantCode(t, login("s-owner", "owner@acme.example"), bulwark.EUnauthenticated)
		if err := login("s-viewer", "v@acme.example"); err != nil {
			t.Fatalf("a viewer's first login through a legacy provider: %v", err)
		}
		must[*sso.Provider](t)(f.UpdateSSOProvider(owner, p.ID, oidcProvider(false)))
		if err := login("s-owner", "owner@acme.example"); err != nil {
			t.Fatalf("the owner's first login through a provider an owner saved: %v", err)
		}
	})
}
