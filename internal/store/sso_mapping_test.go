package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// userByEmail finds a user of the owner's tenant.
func userByEmail(t *testing.T, f *storetest.Fixture, owner context.Context, email string) *bulwark.User {
	t.Helper()
	us, _, err := f.ListUsers(owner, bulwark.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return nil
}

func roleNames(u *bulwark.User) []string {
	var out []string
	for _, g := range u.Grants {
		out = append(out, g.Role)
	}
	slices.Sort(out)
	return out
}

// Group-to-role mapping: validated against the tenant's roles and the
// configuring admin's own permissions; applied at just-in-time
// provisioning; re-synced at each login for the roles the mappings name,
// leaving roles given in Bulwark alone; audited. The display name is kept.
func TestSSORoleMapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateRole(owner, bulwark.Role{Name: "sso_admin", Permissions: []bulwark.Permission{bulwark.PermSettingsManage}}); err != nil {
			t.Fatal(err)
		}
		limited, _ := f.User(t, owner, "limited@acme.example", bulwark.Grant{Role: "sso_admin"})
		base := oidcProvider(true)
		base.GroupAttribute = "groups"

		for name, c := range map[string]struct {
			who  context.Context
			ms   []sso.RoleMapping
			attr string
			code bulwark.Code
		}{
			"owner":                    {owner, []sso.RoleMapping{{Value: "x", Role: bulwark.RoleOwner}}, "groups", bulwark.EInvalid},
			"unknown role":             {owner, []sso.RoleMapping{{Value: "x", Role: "no_such_role"}}, "groups", bulwark.EInvalid},
			"empty value":              {owner, []sso.RoleMapping{{Value: "", Role: bulwark.RoleViewer}}, "groups", bulwark.EInvalid},
			"no group attribute":       {owner, []sso.RoleMapping{{Value: "x", Role: bulwark.RoleViewer}}, "", bulwark.EInvalid},
			"more than the admin has":  {limited, []sso.RoleMapping{{Value: "x", Role: bulwark.RoleAdmin}}, "groups", bulwark.EForbidden},
			"more than the admin has2": {limited, []sso.RoleMapping{{Value: "x", Role: bulwark.RoleViewer}}, "groups", bulwark.EForbidden},
		} {
			t.Run(name, func(t *testing.T) {
				p := base
				p.DefaultRole, p.JIT = "", false
				p.RoleMappings, p.GroupAttribute = c.ms, c.attr
				_, err := f.CreateSSOProvider(c.who, p)
				wantCode(t, err, c.code)
			})
		}

		p := base
		p.RoleMappings = []sso.RoleMapping{{Value: "eng", Role: bulwark.RoleEditor}, {Value: "audit", Role: bulwark.RoleAuditor}, {Value: "eng-leads", Role: bulwark.RoleEditor}}
		created, err := f.CreateSSOProvider(owner, p)
		if err != nil {
			t.Fatal(err)
		}
		pr, tenantID, _ := f.SSOProvider(ctx, "acme", created.ID)
		login := func(groups ...string) {
			t.Helper()
			if _, err := f.FederatedLogin(ctx, pr, &sso.Identity{Issuer: testIssuer, Subject: "s-dan", Email: "dan@acme.example", EmailVerified: true, MFA: true, Name: "Dan Example", Groups: groups}); err != nil {
				t.Fatal(err)
			}
		}
		user := func() *bulwark.User { return userByEmail(t, f, owner, "dan@acme.example") }
		login("eng", "unrelated")
		u := user()
		if got := roleNames(u); !slices.Equal(got, []string{bulwark.RoleEditor}) {
			t.Fatalf("provisioned with %v", got)
		}
		// An admin gives a role no mapping names: logins leave it alone.
		if _, err := f.UpdateUser(owner, u.ID, bulwark.UserUpdate{Grants: &[]bulwark.Grant{{Role: bulwark.RoleEditor}, {Role: bulwark.RoleViewer}}}); err != nil {
			t.Fatal(err)
		}
		login("audit")
		if got := roleNames(user()); !slices.Equal(got, []string{bulwark.RoleAuditor, bulwark.RoleViewer}) {
			t.Fatalf("after re-sync %v", got)
		}
		login()
		if got := roleNames(user()); !slices.Equal(got, []string{bulwark.RoleViewer}) {
			t.Fatalf("after losing every group %v", got)
		}
		login("eng-leads", "eng")
		if got := roleNames(user()); !slices.Equal(got, []string{bulwark.RoleEditor, bulwark.RoleViewer}) {
			t.Fatalf("%v", got)
		}
		entries, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: "user.grants.sso_sync"})
		if err != nil || len(entries) != 3 {
			t.Fatalf("sync audit entries %d %v", len(entries), err)
		}
		// No mapped group at provisioning: the default role.
		if _, err := f.FederatedLogin(ctx, pr, &sso.Identity{Issuer: testIssuer, Subject: "s-eve", Email: "eve@acme.example", EmailVerified: true, MFA: true}); err != nil {
			t.Fatal(err)
		}
		if got := roleNames(userByEmail(t, f, owner, "eve@acme.example")); !slices.Equal(got, []string{bulwark.RoleViewer}) {
			t.Fatalf("eve %v", got)
		}
		raw(t, f, tenantID, func(q querier) {
			query := "SELECT display_name FROM federated_identities WHERE subject = ?"
			if backend == "postgres" {
				query = "SELECT display_name FROM federated_identities WHERE subject = $1"
			}
			var name string
			if err := q.QueryRow(query, "s-dan").Scan(&name); err != nil || name != "Dan Example" {
				t.Fatalf("display name %q %v", name, err)
			}
		})
	})
}
