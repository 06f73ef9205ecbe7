package store_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// A change that gives or takes a grant reaching beyond collections and
// records is audited privileged (PRIV-2), whatever the role's name: a
// custom role holding users.manage is as privileged as admin, one holding
// only record permissions is not. Invitations, user updates and deletions,
// SSO provisioning and SSO grant sync alike.
func TestGrantPrivilegedByPermissions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		for _, r := range []bulwark.Role{
			{Name: "superadmin", Permissions: []bulwark.Permission{bulwark.PermUsersRead, bulwark.PermUsersManage, bulwark.PermRolesManage}},
			{Name: "minter", Permissions: []bulwark.Permission{bulwark.PermTokensManage}},
			{Name: "readers", Permissions: []bulwark.Permission{bulwark.PermCollectionsRead, bulwark.PermRecordsRead}},
		} {
			if _, err := f.CreateRole(owner, r); err != nil {
				t.Fatal(err)
			}
		}
		privileged := func(action, target string) bool {
			t.Helper()
			es, _, err := f.SearchAudit(owner, bulwark.AuditFilter{Action: action, Target: target})
			if err != nil || len(es) == 0 {
				t.Fatalf("audit %s of %s: %v %d", action, target, err, len(es))
			}
			return es[0].Privileged // newest first
		}
		check := func(what, action, target string, want bool) {
			t.Helper()
			if got := privileged(action, target); got != want {
				t.Errorf("%s: privileged %v, want %v", what, got, want)
			}
		}

		invite := func(email, role string) string {
			t.Helper()
			u, _, err := f.InviteUser(owner, bulwark.NewUser{Email: email, Grants: []bulwark.Grant{{Role: role}}})
			if err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		sa, minter, reader := invite("sa@acme.example", "superadmin"), invite("m@acme.example", "minter"), invite("r@acme.example", "readers")
		check("inviting a custom admin", "user.invite", sa, true)
		check("inviting a token minter", "user.invite", minter, true)
		check("inviting a reader", "user.invite", reader, false)

		viewer, _ := f.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		vid := bulwark.FromContext(viewer).ID
		update := func(role string) {
			t.Helper()
			if _, err := f.UpdateUser(owner, vid, bulwark.UserUpdate{Grants: &[]bulwark.Grant{{Role: role}}}); err != nil {
				t.Fatal(err)
			}
		}
		update("readers")
		check("viewer to reader", "user.update", vid, false)
		update("superadmin")
		check("reader to custom admin", "user.update", vid, true)
		update(bulwark.RoleViewer)
		check("custom admin to viewer", "user.update", vid, true)

		if err := f.DeleteUser(owner, sa); err != nil {
			t.Fatal(err)
		}
		check("deleting a custom admin", "user.delete", sa, true)
		if err := f.DeleteUser(owner, reader); err != nil {
			t.Fatal(err)
		}
		check("deleting a reader", "user.delete", reader, false)

		p := oidcProvider(true)
		p.GroupAttribute = "groups"
		p.RoleMappings = []sso.RoleMapping{{Value: "leads", Role: "superadmin"}, {Value: "staff", Role: "readers"}}
		created, err := f.CreateSSOProvider(owner, p)
		if err != nil {
			t.Fatal(err)
		}
		pr, _, _ := f.SSOProvider(ctx, "acme", created.ID)
		login := func(subject, email string, groups ...string) string {
			t.Helper()
			if _, err := f.FederatedLogin(ctx, pr, &sso.Identity{Issuer: testIssuer, Subject: subject, Email: email, EmailVerified: true, MFA: true, Groups: groups}); err != nil {
				t.Fatal(err)
			}
			return userByEmail(t, f, owner, email).ID
		}
		lead := login("s-lead", "lead@acme.example", "leads")
		check("provisioning a custom admin", "user.provision", lead, true)
		staff := login("s-staff", "staff@acme.example", "staff")
		check("provisioning a reader", "user.provision", staff, false)
		login("s-staff", "staff@acme.example", "staff", "leads")
		check("syncing in a custom admin", "user.grants.sso_sync", staff, true)
		login("s-staff", "staff@acme.example", "staff")
		check("syncing out a custom admin", "user.grants.sso_sync", staff, true)
		login("s-lead", "lead@acme.example", "leads", "staff")
		login("s-lead", "lead@acme.example", "leads")
		check("syncing a reader role beside a custom admin", "user.grants.sso_sync", lead, true)
		other := login("s-other", "other@acme.example")
		login("s-other", "other@acme.example", "staff")
		check("syncing in a reader", "user.grants.sso_sync", other, false)
	})
}
