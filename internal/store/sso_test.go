package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

const testIssuer = "https://idp.example"

func oidcProvider(jit bool) sso.Provider {
	return sso.Provider{Kind: sso.KindOIDC, Name: "Example IdP", Issuer: testIssuer, ClientID: "client", ClientSecret: "s3cret", JIT: jit, DefaultRole: bulwark.RoleViewer,
		AllowedDomains: []string{"acme.example", "beta.example"}}
}

// seedSSO gives the tenant of owner a row in every SSO table (rls_test).
func seedSSO(t *testing.T, f *storetest.Fixture, owner context.Context) {
	t.Helper()
	p, err := f.CreateSSOProvider(owner, oidcProvider(true))
	if err != nil {
		t.Fatal(err)
	}
	pr, _, err := f.SSOProvider(context.Background(), bulwark.FromContext(owner).TenantSlug, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := f.SSOState()
	if err := st.SaveRequest(context.Background(), &sso.Request{ID: "req-1", TenantID: pr.TenantID, ProviderID: pr.ID, ExpiresAt: f.Clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SeeAssertion(context.Background(), pr.TenantID, testIssuer, "a-1", f.Clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.FederatedLogin(context.Background(), pr, &sso.Identity{Issuer: testIssuer, Subject: "seed", Email: "seed@" + bulwark.FromContext(owner).TenantSlug + ".example", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetSSOSettings(owner, sso.Settings{}); err != nil {
		t.Fatal(err)
	}
}

func TestSSOProviders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		other, _ := f.Tenant(t, "beta")
		viewer, _ := f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})

		_, err := f.CreateSSOProvider(viewer, oidcProvider(false))
		wantCode(t, err, bulwark.EForbidden)
		bad := oidcProvider(false)
		bad.Issuer = "ftp://x"
		_, err = f.CreateSSOProvider(owner, bad)
		wantCode(t, err, bulwark.EInvalid)
		bad = oidcProvider(true)
		bad.AllowedDomains = nil // JIT from a public issuer: anyone could join
		_, err = f.CreateSSOProvider(owner, bad)
		wantCode(t, err, bulwark.EInvalid)
		bad = oidcProvider(true)
		bad.DefaultRole = bulwark.RoleOwner
		_, err = f.CreateSSOProvider(owner, bad)
		wantCode(t, err, bulwark.EInvalid)
		_, err = f.CreateSSOProvider(owner, sso.Provider{Kind: sso.KindSAML, Name: "x", IdPMetadata: "<!DOCTYPE x><x/>"})
		wantCode(t, err, bulwark.EInvalid)

		p, err := f.CreateSSOProvider(owner, oidcProvider(false))
		if err != nil {
			t.Fatal(err)
		}
		if p.ClientSecret == "s3cret" {
			t.Fatal("client secret returned")
		}
		got, err := f.GetSSOProvider(owner, p.ID)
		if err != nil || got.Issuer != testIssuer || got.ClientSecret == "s3cret" {
			t.Fatalf("get = %+v %v", got, err)
		}
		// Another tenant's provider is not found, by id or by slug.
		_, err = f.GetSSOProvider(other, p.ID)
		wantCode(t, err, bulwark.ENotFound)
		_, _, err = f.SSOProvider(context.Background(), "beta", p.ID)
		wantCode(t, err, bulwark.ENotFound)
		wantCode(t, f.DeleteSSOProvider(other, p.ID), bulwark.ENotFound)

		// An update without a secret keeps the stored one.
		up := oidcProvider(false)
		up.ClientSecret, up.Name = "", "Renamed"
		if _, err := f.UpdateSSOProvider(owner, p.ID, up); err != nil {
			t.Fatal(err)
		}
		pr, _, err := f.SSOProvider(context.Background(), "acme", p.ID)
		if err != nil || pr.ClientSecret != "s3cret" || pr.Name != "Renamed" {
			t.Fatalf("public lookup = %+v %v", pr, err)
		}
		// So does writing back what a read showed (the secret masked).
		read, err := f.GetSSOProvider(owner, p.ID)
		if err != nil || read.ClientSecret != sso.SecretMask {
			t.Fatalf("read = %+v %v", read, err)
		}
		read.Name = "Renamed again"
		if _, err := f.UpdateSSOProvider(owner, p.ID, *read); err != nil {
			t.Fatal(err)
		}
		if pr, _, err = f.SSOProvider(context.Background(), "acme", p.ID); err != nil || pr.ClientSecret != "s3cret" {
			t.Fatalf("after writing back a read: secret %q, %v", pr.ClientSecret, err)
		}
		list, err := f.ListSSOProviders(owner)
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %v %v", list, err)
		}
		if err := f.DeleteSSOProvider(owner, p.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.SSOProvider(context.Background(), "acme", p.ID)
		wantCode(t, err, bulwark.ENotFound)
	})
}

func TestSSOState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "beta")
		ta, tb := bulwark.FromContext(a).TenantID, bulwark.FromContext(b).TenantID
		ctx := context.Background()
		st := f.SSOState()
		save := func(id, tenant string) {
			if err := st.SaveRequest(ctx, &sso.Request{ID: id, TenantID: tenant, ProviderID: "p1", Nonce: "n", Verifier: "v", ReturnTo: "/x", Binding: "h", ExpiresAt: f.Clock.Now().Add(sso.RequestTTL)}); err != nil {
				t.Fatal(err)
			}
		}
		save("r1", ta)
		r, err := st.TakeRequest(ctx, ta, "p1", "r1")
		if err != nil || r.Nonce != "n" || r.Verifier != "v" || r.ReturnTo != "/x" || r.Binding != "h" {
			t.Fatalf("take = %+v %v", r, err)
		}
		_, err = st.TakeRequest(ctx, ta, "p1", "r1")
		wantCode(t, err, bulwark.ENotFound) // single use
		save("r2", ta)
		_, err = st.TakeRequest(ctx, tb, "p1", "r2")
		wantCode(t, err, bulwark.ENotFound) // another tenant
		_, err = st.TakeRequest(ctx, ta, "p2", "r2")
		wantCode(t, err, bulwark.ENotFound) // another provider, and now used up
		_, err = st.TakeRequest(ctx, ta, "p1", "r2")
		wantCode(t, err, bulwark.ENotFound)
		save("r3", ta)
		f.Clock.Advance(sso.RequestTTL)
		_, err = st.TakeRequest(ctx, ta, "p1", "r3")
		wantCode(t, err, bulwark.ENotFound) // expired

		until := f.Clock.Now().Add(time.Minute)
		if err := st.SeeAssertion(ctx, ta, testIssuer, "a1", until); err != nil {
			t.Fatal(err)
		}
		wantCode(t, st.SeeAssertion(ctx, ta, testIssuer, "a1", until), bulwark.EConflict)
		if err := st.SeeAssertion(ctx, tb, testIssuer, "a1", until); err != nil {
			t.Fatal(err) // per tenant
		}
	})
}

func TestFederatedLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		ownerB, _ := f.Tenant(t, "beta")
		p, err := f.CreateSSOProvider(owner, oidcProvider(false))
		if err != nil {
			t.Fatal(err)
		}
		pr, _, _ := f.SSOProvider(ctx, "acme", p.ID)
		login := func(pr *sso.Provider, id sso.Identity) (*bulwark.Session, error) {
			return f.FederatedLogin(ctx, pr, &id)
		}

		t.Run("invite-only refuses unknown people", func(t *testing.T) {
			_, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-new", Email: "new@acme.example", EmailVerified: true})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		// An invited user links through a verified email and is activated.
		inv, _, err := f.InviteUser(owner, bulwark.NewUser{Email: "ada@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleEditor}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Run("email_verified=false never links", func(t *testing.T) {
			_, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", Email: "ada@acme.example", EmailVerified: false})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		s, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", Email: "ada@acme.example", EmailVerified: true, MFA: true})
		if err != nil {
			t.Fatal(err)
		}
		pa := bulwark.FromContext(f.As(t, s.Token))
		if pa.ID != inv.ID || pa.Stage != "" || !pa.Can(bulwark.PermRecordsWrite, "") {
			t.Fatalf("principal = %+v", pa)
		}
		t.Run("keyed by issuer and subject, not email", func(t *testing.T) {
			// The same subject with another email is still Ada.
			s, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", Email: "changed@elsewhere.example", EmailVerified: true})
			if err != nil || bulwark.FromContext(f.As(t, s.Token)).ID != inv.ID {
				t.Fatalf("%v", err)
			}
			// Ada's email at another subject is not Ada: it is already
			// linked... to nobody else; a second identity with a
			// verified email links too, but an unverified one never.
			_, err = login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-mallory", Email: "ada@acme.example", EmailVerified: false})
			wantCode(t, err, bulwark.EUnauthenticated)
			_, err = login(pr, sso.Identity{Issuer: "https://other-idp.example", Subject: "s-ada", Email: "x@acme.example", EmailVerified: false})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		t.Run("MFA owed without IdP evidence", func(t *testing.T) {
			set, _ := f.AuthSettings(owner)
			set.MFA = bulwark.MFAEveryone
			set.PasswordPolicy.MinLength = 8
			if _, err := f.SetAuthSettings(owner, *set); err != nil {
				t.Fatal(err)
			}
			s, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada"})
			if err != nil || s.Next != bulwark.StageEnrol {
				t.Fatalf("session = %+v %v", s, err)
			}
			s, err = login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", MFA: true})
			if err != nil || s.Next != "" {
				t.Fatalf("session = %+v %v", s, err)
			}
		})
		t.Run("IdP logout ends the user's sessions", func(t *testing.T) {
			s, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", MFA: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.FederatedLogout(ctx, pr, testIssuer, "s-ada", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Auth.Authenticate(ctx, s.Token); err == nil {
				t.Fatal("session survived the IdP's logout")
			}
			// Another tenant's provider with the same issuer ends nothing here.
			if err := f.FederatedLogout(ctx, &sso.Provider{ID: "x", TenantID: bulwark.FromContext(ownerB).TenantID}, testIssuer, "s-ada", nil); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("IdP logout of one SessionIndex ends that session only", func(t *testing.T) {
			s1, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", MFA: true, SessionIndex: "_idx1"})
			if err != nil {
				t.Fatal(err)
			}
			s2, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", MFA: true, SessionIndex: "_idx2"})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.FederatedLogout(ctx, pr, testIssuer, "s-ada", []string{"_idx1", "_unknown"}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Auth.Authenticate(ctx, s1.Token); err == nil {
				t.Fatal("the named session survived")
			}
			if _, err := f.Auth.Authenticate(ctx, s2.Token); err != nil {
				t.Fatalf("another IdP session ended: %v", err)
			}
			// Another subject's logout ends nothing of Ada's.
			if err := f.FederatedLogout(ctx, pr, testIssuer, "s-bob", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Auth.Authenticate(ctx, s2.Token); err != nil {
				t.Fatalf("another subject's logout ended Ada's session: %v", err)
			}
		})
		t.Run("disabled users cannot log in", func(t *testing.T) {
			d := bulwark.StatusDisabled
			if _, err := f.UpdateUser(owner, inv.ID, bulwark.UserUpdate{Status: &d}); err != nil {
				t.Fatal(err)
			}
			_, err := login(pr, sso.Identity{Issuer: testIssuer, Subject: "s-ada", MFA: true})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		t.Run("just-in-time provisioning", func(t *testing.T) {
			jp, err := f.CreateSSOProvider(owner, oidcProvider(true))
			if err != nil {
				t.Fatal(err)
			}
			jpr, _, _ := f.SSOProvider(ctx, "acme", jp.ID)
			s, err := login(jpr, sso.Identity{Issuer: testIssuer + "/jit", Subject: "s-bob", Email: "bob@acme.example", EmailVerified: true, MFA: true, Role: bulwark.RoleOwner})
			if err != nil {
				t.Fatal(err)
			}
			pb := bulwark.FromContext(f.As(t, s.Token))
			if pb.Can(bulwark.PermUsersManage, "") || !pb.Can(bulwark.PermRecordsRead, "") {
				t.Fatalf("JIT user holds %+v; want the default viewer role (a mapped owner role is ignored)", pb.Grants)
			}
			_, err = login(jpr, sso.Identity{Issuer: testIssuer + "/jit", Subject: "s-eve", Email: "eve@acme.example", EmailVerified: false})
			wantCode(t, err, bulwark.EUnauthenticated)
		})
		// ISO-2: an identity linked in tenant A never logs into tenant B,
		// even through a provider of B with the same issuer.
		t.Run("cross-tenant", func(t *testing.T) {
			pB, err := f.CreateSSOProvider(ownerB, oidcProvider(false))
			if err != nil {
				t.Fatal(err)
			}
			prB, _, _ := f.SSOProvider(ctx, "beta", pB.ID)
			_, err = login(prB, sso.Identity{Issuer: testIssuer, Subject: "s-ada", Email: "ada@acme.example", EmailVerified: true, MFA: true})
			wantCode(t, err, bulwark.EUnauthenticated)
			jB, _ := f.CreateSSOProvider(ownerB, oidcProvider(true))
			jprB, _, _ := f.SSOProvider(ctx, "beta", jB.ID)
			s, err := login(jprB, sso.Identity{Issuer: testIssuer + "/jit", Subject: "s-bob", Email: "bob@acme.example", EmailVerified: true, MFA: true})
			if err != nil {
				t.Fatal(err)
			}
			if p := bulwark.FromContext(f.As(t, s.Token)); p.TenantID != bulwark.FromContext(ownerB).TenantID {
				t.Fatalf("logged into tenant %s", p.TenantID)
			}
		})
	})
}

func TestSSOOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		viewerID := ""
		if us, _, err := f.ListUsers(owner, bulwark.ListOptions{}); err == nil {
			for _, u := range us {
				if u.Email == "v@acme.example" {
					viewerID = u.ID
				}
			}
		}
		_, err := f.SetSSOSettings(owner, sso.Settings{SSOOnly: true})
		wantCode(t, err, bulwark.EInvalid) // no provider yet
		if _, err := f.CreateSSOProvider(owner, oidcProvider(false)); err != nil {
			t.Fatal(err)
		}
		_, err = f.SetSSOSettings(owner, sso.Settings{SSOOnly: true, FallbackUsers: []string{viewerID}})
		wantCode(t, err, bulwark.EInvalid) // only owners
		ownerID := bulwark.FromContext(owner).ID
		if _, err := f.SetSSOSettings(owner, sso.Settings{SSOOnly: true, FallbackUsers: []string{ownerID}}); err != nil {
			t.Fatal(err)
		}
		_, err = f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "v@acme.example", Password: storetest.Password})
		wantCode(t, err, bulwark.EForbidden)
		_, err = f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "nobody@acme.example", Password: "whatever whatever"})
		wantCode(t, err, bulwark.EForbidden) // the same answer for anyone
		if _, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}); err != nil {
			t.Fatalf("fallback owner refused: %v", err)
		}
		got, err := f.GetSSOSettings(owner)
		if err != nil || !got.SSOOnly || len(got.FallbackUsers) != 1 {
			t.Fatalf("settings = %+v %v", got, err)
		}
	})
}

// TestSSOOnlyRefusesAlike: in an SSO-only tenant a refused password login
// answers the same (403) whatever the email, a fallback owner's with a
// wrong password included, and is counted alike, so the throttle's answer
// does not single the fallback owners out either; only a fallback owner's
// right password gets in.
func TestSSOOnlyRefusesAlike(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		must[*sso.Provider](t)(f.CreateSSOProvider(owner, oidcProvider(false)))
		must[*sso.Settings](t)(f.SetSSOSettings(owner, sso.Settings{SSOOnly: true, FallbackUsers: []string{bulwark.FromContext(owner).ID}}))

		emails := []string{"owner@acme.example", "v@acme.example", "nobody@acme.example"}
		for _, email := range emails {
			_, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: email, Password: "a wrong password, long enough"})
			wantCode(t, err, bulwark.EForbidden)
		}
		if _, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}); err != nil {
			t.Fatalf("fallback owner refused: %v", err)
		}
		// Past the free failures, every email is throttled alike.
		for _, email := range emails {
			var err error
			for range store.FreeFailures + 1 {
				_, err = f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: email, Password: "a wrong password, long enough"})
			}
			wantCode(t, err, bulwark.ERateLimited)
		}
	})
}
