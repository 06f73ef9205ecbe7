package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestLinkedIdentityBelongsToItsProvider: a federated identity is found by
// the provider that linked it, not by (issuer, subject) alone. A SAML
// entity id is a string the provider's configuration names: a provider
// last saved before only owners could configure providers, naming the
// owner's IdP's entity id with a key of its own, asserting the owner's
// NameID found the identity the real provider had linked and opened a
// full owner session. Through another provider the same subject links
// anew, by a verified email and the owner check (AUTH-4, AUTH-5).
func TestLinkedIdentityBelongsToItsProvider(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		viewer, _ := f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		const entity = "https://idp.corp.example/saml"
		good := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "real IdP", IdPMetadata: samlMetadata(t, entity)}))
		legacy := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "admin's IdP", IdPMetadata: samlMetadata(t, entity)}))
		if err := f.ForgetProviderOwner(owner, legacy.ID); err != nil {
			t.Fatal(err)
		}
		goodPr := must[*sso.Provider](t)(provider(ctx, f, good.ID))
		legacyPr := must[*sso.Provider](t)(provider(ctx, f, legacy.ID))
		if legacyPr.OwnerConfigured {
			t.Fatal("setup: the legacy provider is still owner-configured")
		}
		ownerID, viewerID := bulwark.FromContext(owner).ID, bulwark.FromContext(viewer).ID
		login := func(pr *sso.Provider, id sso.Identity) (string, error) {
			t.Helper()
			id.Issuer, id.MFA = entity, true
			s, err := f.FederatedLogin(ctx, pr, &id)
			if err != nil {
				return "", err
			}
			return bulwark.FromContext(f.As(t, s.Token)).ID, nil
		}

		// The owner's and the viewer's identities, linked through the real IdP.
		if got, err := login(goodPr, sso.Identity{Subject: "owner@acme.example", Email: "owner@acme.example", EmailVerified: true}); err != nil || got != ownerID {
			t.Fatalf("owner's first login through the real IdP: %s, %v", got, err)
		}
		if got, err := login(goodPr, sso.Identity{Subject: "v-nameid", Email: "v@acme.example", EmailVerified: true}); err != nil || got != viewerID {
			t.Fatalf("viewer's first login through the real IdP: %s, %v", got, err)
		}

		t.Run("legacy provider asserting the owner's NameID", func(t *testing.T) {
			_, err := login(legacyPr, sso.Identity{Subject: "owner@acme.example"})
			wantCode(t, err, bulwark.EUnauthenticated)
			// With the owner's verified email it is a first login through
			// this provider, which never links an owner.
			_, err = login(legacyPr, sso.Identity{Subject: "owner@acme.example", Email: "owner@acme.example", EmailVerified: true})
			wantCode(t, err, bulwark.EUnauthenticated)
			_, err = login(legacyPr, sso.Identity{Subject: "owner@acme.example"})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		t.Run("another provider links a subject anew", func(t *testing.T) {
			_, err := login(legacyPr, sso.Identity{Subject: "v-nameid"})
			wantCode(t, err, bulwark.EUnauthenticated)
			_, err = login(legacyPr, sso.Identity{Subject: "v-nameid", Email: "v@acme.example", EmailVerified: false})
			wantCode(t, err, bulwark.EUnauthenticated)
			// A legacy provider still links other users, by a verified email.
			if got, err := login(legacyPr, sso.Identity{Subject: "v-nameid", Email: "v@acme.example", EmailVerified: true}); err != nil || got != viewerID {
				t.Fatalf("viewer's first login through the legacy provider: %s, %v", got, err)
			}
			if got, err := login(legacyPr, sso.Identity{Subject: "v-nameid"}); err != nil || got != viewerID {
				t.Fatalf("viewer's next login through the legacy provider: %s, %v", got, err)
			}
		})
		// The identities the real IdP linked are unchanged.
		if got, err := login(goodPr, sso.Identity{Subject: "owner@acme.example"}); err != nil || got != ownerID {
			t.Fatalf("owner's next login through the real IdP: %s, %v", got, err)
		}
		if got, err := login(goodPr, sso.Identity{Subject: "v-nameid"}); err != nil || got != viewerID {
			t.Fatalf("viewer's next login through the real IdP: %s, %v", got, err)
		}
	})
}

// TestProvidersSharingAnEntityID: two SAML providers of a tenant whose IdP
// has one entity id (Entra ID: https://sts.windows.net/{directory}/ for
// every application). Each links its own identity for the same NameID;
// an IdP-initiated logout through either ends the sessions opened through
// it and no other (the second's ended nothing while it reused the first's
// identity); each keeps the display name its IdP sent; deleting one
// leaves the other's identity linked.
func TestProvidersSharingAnEntityID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		tenantID := bulwark.FromContext(owner).TenantID
		viewer, _ := f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		f.User(t, owner, "w@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		viewerID := bulwark.FromContext(viewer).ID
		const entity = "https://sts.windows.net/dir-1/"
		md := samlMetadata(t, entity)
		p1 := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "Entra app 1", IdPMetadata: md}))
		p2 := must[*sso.Provider](t)(f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "Entra app 2", IdPMetadata: md}))
		pr1 := must[*sso.Provider](t)(provider(ctx, f, p1.ID))
		pr2 := must[*sso.Provider](t)(provider(ctx, f, p2.ID))
		login := func(pr *sso.Provider, id sso.Identity) (*bulwark.Session, error) {
			id.Issuer, id.MFA = entity, true
			return f.FederatedLogin(ctx, pr, &id)
		}
		alive := func(s *bulwark.Session) bool {
			_, err := f.Auth.Authenticate(ctx, s.Token)
			return err == nil
		}

		s1 := must[*bulwark.Session](t)(login(pr1, sso.Identity{Subject: "v-oid", Email: "v@acme.example", EmailVerified: true, Name: "V One", SessionIndex: "_idx"}))
		s2 := must[*bulwark.Session](t)(login(pr2, sso.Identity{Subject: "v-oid", Email: "v@acme.example", EmailVerified: true, Name: "V Two", SessionIndex: "_idx"}))
		if got := bulwark.FromContext(f.As(t, s2.Token)).ID; got != viewerID {
			t.Fatalf("login through app 2 is %s, want the viewer %s", got, viewerID)
		}
		// Linked through app 1 only: app 2 does not find it without an email.
		must[*bulwark.Session](t)(login(pr1, sso.Identity{Subject: "w-oid", Email: "w@acme.example", EmailVerified: true}))
		_, err := login(pr2, sso.Identity{Subject: "w-oid"})
		wantCode(t, err, bulwark.EUnauthenticated)

		raw(t, f, tenantID, func(q querier) {
			query := "SELECT provider_id, display_name FROM federated_identities WHERE subject = ?"
			if backend == "postgres" {
				query = "SELECT provider_id, display_name FROM federated_identities WHERE subject = $1"
			}
			rows, err := q.Query(query, "v-oid")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			names := map[string]string{}
			for rows.Next() {
				var p, name string
				if err := rows.Scan(&p, &name); err != nil {
					t.Fatal(err)
				}
				names[p] = name
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(names) != 2 || names[p1.ID] != "V One" || names[p2.ID] != "V Two" {
				t.Fatalf("identities of v-oid by provider: %v", names)
			}
		})

		if err := f.FederatedLogout(ctx, pr2, entity, "v-oid", nil); err != nil {
			t.Fatal(err)
		}
		if alive(s2) {
			t.Fatal("the session opened through app 2 survived app 2's logout")
		}
		if !alive(s1) {
			t.Fatal("app 2's logout ended the session opened through app 1")
		}
		s2 = must[*bulwark.Session](t)(login(pr2, sso.Identity{Subject: "v-oid", SessionIndex: "_idx"}))
		if err := f.FederatedLogout(ctx, pr1, entity, "v-oid", []string{"_idx"}); err != nil {
			t.Fatal(err)
		}
		if alive(s1) {
			t.Fatal("the session opened through app 1 survived app 1's logout")
		}
		if !alive(s2) {
			t.Fatal("app 1's logout ended the session opened through app 2")
		}

		if err := f.DeleteSSOProvider(owner, p1.ID); err != nil {
			t.Fatal(err)
		}
		s := must[*bulwark.Session](t)(login(pr2, sso.Identity{Subject: "v-oid"}))
		if got := bulwark.FromContext(f.As(t, s.Token)).ID; got != viewerID {
			t.Fatalf("after app 1 was deleted, app 2 logs in %s, want %s", got, viewerID)
		}
	})
}

// provider is the enabled provider id of tenant acme, as the public login
// endpoints find it.
func provider(ctx context.Context, f *storetest.Fixture, id string) (*sso.Provider, error) {
	pr, _, err := f.SSOProvider(ctx, "acme", id)
	return pr, err
}
