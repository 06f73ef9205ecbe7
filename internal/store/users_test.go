package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

func TestUsers(t *testing.T) {
	disabledStatus := bulwark.StatusDisabled
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		admin, _ := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		viewer, viewerTok := f.User(t, owner, "viewer@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		adminID := bulwark.FromContext(admin).ID
		viewerID := bulwark.FromContext(viewer).ID
		ownerID := bulwark.FromContext(owner).ID

		users, next, err := f.ListUsers(admin, bulwark.ListOptions{Limit: 2})
		if err != nil || len(users) != 2 || next == "" {
			t.Fatalf("ListUsers page 1 = %d users, next %q, %v", len(users), next, err)
		}
		rest, next2, err := f.ListUsers(admin, bulwark.ListOptions{Limit: 2, Cursor: next})
		if err != nil || len(rest) != 1 || next2 != "" {
			t.Fatalf("ListUsers page 2 = %d users, next %q, %v", len(rest), next2, err)
		}
		u, err := f.GetUser(admin, viewerID)
		if err != nil || u.Email != "viewer@acme.example" || len(u.Grants) != 1 || u.Grants[0].Role != bulwark.RoleViewer {
			t.Fatalf("GetUser = %+v, %v", u, err)
		}

		// A viewer cannot manage users; an invite with a bad role or email fails.
		_, _, err = f.InviteUser(viewer, bulwark.NewUser{Email: "x@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		wantCode(t, err, bulwark.EForbidden)
		_, _, err = f.InviteUser(admin, bulwark.NewUser{Email: "x@acme.example", Grants: []bulwark.Grant{{Role: "nope"}}})
		wantCode(t, err, bulwark.EInvalid)
		_, _, err = f.InviteUser(admin, bulwark.NewUser{Email: "not an email", Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		wantCode(t, err, bulwark.EInvalid)
		_, _, err = f.InviteUser(admin, bulwark.NewUser{Email: "VIEWER@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		wantCode(t, err, bulwark.EConflict)
		// Without users.manage, changing any user is refused before the
		// user is looked up: a made-up id is forbidden, not "not found",
		// so the refusal tells nothing of who exists.
		for _, id := range []string{ownerID, "no-such-user"} {
			_, err = f.UpdateUser(viewer, id, bulwark.UserUpdate{Status: &disabledStatus})
			wantCode(t, err, bulwark.EForbidden)
			wantCode(t, f.DeleteUser(viewer, id), bulwark.EForbidden)
			wantCode(t, f.RevokeUserSessions(viewer, id), bulwark.EForbidden)
			wantCode(t, f.ResetUserMFA(viewer, id), bulwark.EForbidden)
		}

		// No escalation: an admin cannot make an owner, nor touch one.
		_, _, err = f.InviteUser(admin, bulwark.NewUser{Email: "o2@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleOwner}}})
		wantCode(t, err, bulwark.EForbidden)
		disabled := bulwark.StatusDisabled
		_, err = f.UpdateUser(admin, ownerID, bulwark.UserUpdate{Status: &disabled})
		wantCode(t, err, bulwark.EForbidden)
		wantCode(t, f.DeleteUser(admin, ownerID), bulwark.EForbidden)
		// Nobody changes their own account here.
		_, err = f.UpdateUser(admin, adminID, bulwark.UserUpdate{Grants: &[]bulwark.Grant{{Role: bulwark.RoleOwner}}})
		wantCode(t, err, bulwark.EForbidden)
		wantCode(t, f.DeleteUser(owner, ownerID), bulwark.EForbidden)

		// Disabling ends the user's sessions and logins; re-enabling
		// allows a new login.
		if _, err := f.UpdateUser(admin, viewerID, bulwark.UserUpdate{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
		_, err = f.Auth.Authenticate(ctx, viewerTok)
		wantCode(t, err, bulwark.EUnauthenticated)
		creds := bulwark.Credentials{Tenant: "acme", Email: "viewer@acme.example", Password: storetest.Password}
		_, err = f.Auth.Login(ctx, creds)
		wantCode(t, err, bulwark.EUnauthenticated)
		active := bulwark.StatusActive
		if _, err := f.UpdateUser(admin, viewerID, bulwark.UserUpdate{Status: &active}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Auth.Login(ctx, creds); err != nil {
			t.Fatal(err)
		}

		// Grants change at the next request.
		editorGrants := []bulwark.Grant{{Role: bulwark.RoleEditor}}
		if _, err := f.UpdateUser(admin, viewerID, bulwark.UserUpdate{Grants: &editorGrants}); err != nil {
			t.Fatal(err)
		}
		s, _ := f.Auth.Login(ctx, creds)
		if p := bulwark.FromContext(f.As(t, s.Token)); !p.Can(bulwark.PermRecordsWrite, "anything") {
			t.Fatalf("editor grant not in effect: %+v", p.Grants)
		}

		// Deleting a user keeps the audit trail; the user is gone.
		if err := f.DeleteUser(admin, viewerID); err != nil {
			t.Fatal(err)
		}
		_, err = f.GetUser(admin, viewerID)
		wantCode(t, err, bulwark.ENotFound)
		wantCode(t, f.DeleteUser(admin, viewerID), bulwark.ENotFound)
		if n := countAudit(t, f, admin, "user.invite", viewerID); n != 1 {
			t.Fatalf("audit entries for the deleted user's invite = %d, want 1", n)
		}
		if n := countAudit(t, f, admin, "user.delete", viewerID); n != 1 {
			t.Fatalf("audit entries for the deletion = %d, want 1", n)
		}

		// The last owner cannot be removed, even by another owner.
		owner2, _ := f.User(t, owner, "o2@acme.example", bulwark.Grant{Role: bulwark.RoleOwner})
		if err := f.DeleteUser(owner2, ownerID); err != nil {
			t.Fatal(err)
		}
		o2 := bulwark.FromContext(owner2).ID
		_, err = f.UpdateUser(admin, o2, bulwark.UserUpdate{Status: &disabled})
		wantCode(t, err, bulwark.EForbidden)
	})
}

func TestRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		r, err := f.CreateRole(owner, bulwark.Role{Name: "note-reader", Permissions: []bulwark.Permission{bulwark.PermRecordsRead, bulwark.PermCollectionsRead}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.CreateRole(owner, *r)
		wantCode(t, err, bulwark.EConflict)
		for _, bad := range []bulwark.Role{
			{Name: "admin", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}},
			{Name: "x", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}},
			{Name: "empty"},
			{Name: "unknown", Permissions: []bulwark.Permission{"records.everything"}},
			{Name: "owner-like", Permissions: []bulwark.Permission{bulwark.PermTenantOwn}},
		} {
			_, err := f.CreateRole(owner, bad)
			wantCode(t, err, bulwark.EInvalid)
		}
		roles, err := f.ListRoles(owner)
		if err != nil || len(roles) != len(bulwark.BuiltInRoles)+1 {
			t.Fatalf("ListRoles = %d roles, %v", len(roles), err)
		}
		// An editor may not define roles; a role manager may not define one
		// with more than they hold.
		editor, _ := f.User(t, owner, "e@acme.example", bulwark.Grant{Role: bulwark.RoleEditor})
		_, err = f.CreateRole(editor, bulwark.Role{Name: "mine", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}})
		wantCode(t, err, bulwark.EForbidden)
		if _, err := f.CreateRole(owner, bulwark.Role{Name: "role-admin", Permissions: []bulwark.Permission{bulwark.PermRolesManage, bulwark.PermUsersManage}}); err != nil {
			t.Fatal(err)
		}
		ra, _ := f.User(t, owner, "ra@acme.example", bulwark.Grant{Role: "role-admin"})
		_, err = f.CreateRole(ra, bulwark.Role{Name: "sneaky", Permissions: []bulwark.Permission{bulwark.PermAuditRead}})
		wantCode(t, err, bulwark.EForbidden)
		_, _, err = f.InviteUser(ra, bulwark.NewUser{Email: "s@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleEditor}}})
		wantCode(t, err, bulwark.EForbidden)

		// A granted custom role cannot be deleted; an unused one can.
		f.User(t, owner, "reader@acme.example", bulwark.Grant{Role: "note-reader", Collection: "notes"})
		wantCode(t, f.DeleteRole(owner, "note-reader"), bulwark.EConflict)
		wantCode(t, f.DeleteRole(owner, bulwark.RoleViewer), bulwark.EForbidden)
		wantCode(t, f.DeleteRole(owner, "nope"), bulwark.ENotFound)
		if _, err := f.CreateRole(owner, bulwark.Role{Name: "unused", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteRole(owner, "unused"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		tok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "ci", Grant: bulwark.Grant{Role: bulwark.RoleEditor, Collection: "notes"}, ExpiresIn: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.Auth.Authenticate(ctx, tok.Secret)
		if err != nil || p.Kind != bulwark.KindToken || p.TenantSlug != "acme" {
			t.Fatalf("Authenticate(token) = %+v, %v", p, err)
		}
		if !p.Can(bulwark.PermRecordsWrite, "notes") || p.Can(bulwark.PermRecordsWrite, "other") || p.Can(bulwark.PermUsersRead, "") {
			t.Fatalf("token grants = %+v", p.Grants)
		}
		// A token acts within its grant.
		tctx := bulwark.NewContext(ctx, p)
		if _, err := f.CreateRecord(tctx, "notes", map[string]any{"title": "from ci"}); err != nil {
			t.Fatal(err)
		}
		_, err = f.ListTokens(tctx)
		wantCode(t, err, bulwark.EForbidden)

		list, err := f.ListTokens(owner)
		if err != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsedAt == nil {
			t.Fatalf("ListTokens = %+v, %v", list, err)
		}
		for _, bad := range []bulwark.NewAPIToken{
			{Name: "", Grant: bulwark.Grant{Role: bulwark.RoleViewer}},
			{Name: "x", Grant: bulwark.Grant{Role: "nope"}},
			{Name: "x", Grant: bulwark.Grant{Role: bulwark.RoleViewer}, ExpiresIn: "9000h"},
			{Name: "x", Grant: bulwark.Grant{Role: bulwark.RoleViewer}, ExpiresIn: "soon"},
			{Name: "x", Grant: bulwark.Grant{Role: bulwark.RoleAdmin, Collection: "notes"}},
		} {
			_, err := f.CreateToken(owner, bad)
			wantCode(t, err, bulwark.EInvalid)
		}
		// Expiry and revocation.
		f.Clock.Advance(2 * time.Hour)
		_, err = f.Auth.Authenticate(ctx, tok.Secret)
		wantCode(t, err, bulwark.EUnauthenticated)
		tok2, _ := f.CreateToken(owner, bulwark.NewAPIToken{Name: "ci2", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		if err := f.RevokeToken(owner, tok2.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.Auth.Authenticate(ctx, tok2.Secret)
		wantCode(t, err, bulwark.EUnauthenticated)
		wantCode(t, f.RevokeToken(owner, "nope"), bulwark.ENotFound)
	})
}

// countAudit counts a tenant's audit entries with action and target id.
func countAudit(t *testing.T, f *storetest.Fixture, ctx context.Context, action, targetID string) int {
	t.Helper()
	n, err := f.CountAudit(ctx, action, targetID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPromotionEndsSessionsOwingEnrolment: under the MFA mode "admins", a
// user without a second factor promoted to admin does not keep a complete
// session acting as admin: the promotion ends it, and the next login owes
// enrolment (AUTH-3). Under "optional" the session stays.
func TestPromotionEndsSessionsOwingEnrolment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		admin := []bulwark.Grant{{Role: bulwark.RoleAdmin}}
		promote := func(email string) string {
			t.Helper()
			vctx, bearer := f.User(t, owner, email, bulwark.Grant{Role: bulwark.RoleViewer})
			must[*bulwark.User](t)(f.UpdateUser(owner, bulwark.FromContext(vctx).ID, bulwark.UserUpdate{Grants: &admin}))
			return bearer
		}

		// "optional": nothing is owed, the session stays and acts as admin.
		p, err := f.Auth.Authenticate(ctx, promote("opt@acme.example"))
		if err != nil || p.Stage != "" || !p.Can(bulwark.PermUsersManage, "") {
			t.Fatalf("under optional, the promoted session = %+v, %v", p, err)
		}

		s := must[*bulwark.AuthSettings](t)(f.AuthSettings(owner))
		s.MFA = bulwark.MFAAdmins
		must[*bulwark.AuthSettings](t)(f.SetAuthSettings(owner, *s))
		_, err = f.Auth.Authenticate(ctx, promote("val@acme.example"))
		wantCode(t, err, bulwark.EUnauthenticated)
		fresh := must[*bulwark.Session](t)(f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "val@acme.example", Password: storetest.Password}))
		if fresh.Next != bulwark.StageEnrol {
			t.Fatalf("a fresh login owes %q, want %q", fresh.Next, bulwark.StageEnrol)
		}
	})
}

// TestStricterMFAModeEndsSessionsOwingEnrolment: a tenant's MFA mode
// made stricter ends the complete sessions of the users it now requires a
// second factor of and who have none, as a promotion does; the others
// stay (AUTH-3).
func TestStricterMFAModeEndsSessionsOwingEnrolment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		_, viewer := f.User(t, owner, "viewer@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		_, admin := f.User(t, owner, "admin@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		setMode := func(m bulwark.MFAMode) {
			t.Helper()
			s := must[*bulwark.AuthSettings](t)(f.AuthSettings(owner))
			s.MFA = m
			must[*bulwark.AuthSettings](t)(f.SetAuthSettings(owner, *s))
		}
		alive := func(bearer string) bool {
			t.Helper()
			_, err := f.Auth.Authenticate(ctx, bearer)
			if err != nil {
				wantCode(t, err, bulwark.EUnauthenticated)
			}
			return err == nil
		}
		setMode(bulwark.MFAAdmins)
		if alive(admin) || !alive(viewer) {
			t.Fatalf("under admins: admin alive %v (want false), viewer alive %v (want true)", alive(admin), alive(viewer))
		}
		setMode(bulwark.MFAEveryone)
		if alive(viewer) {
			t.Fatal("under everyone the viewer's session without a second factor lives on")
		}
	})
}
