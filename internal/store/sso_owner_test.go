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
