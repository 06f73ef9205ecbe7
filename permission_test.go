package bulwark

import (
	"slices"
	"testing"
)

func principalWith(grants ...Grant) *Principal {
	p := &Principal{Kind: KindUser, ID: "u", TenantID: "t"}
	for _, g := range grants {
		r, _ := BuiltInRole(g.Role)
		perms := r.Permissions
		if g.Collection != "" {
			perms = nil
			for _, pm := range r.Permissions {
				if pm.Scopable() {
					perms = append(perms, pm)
				}
			}
		}
		p.Grants = append(p.Grants, ResolvedGrant{Grant: g, Permissions: perms})
	}
	return p
}

// TestRolePermissionMatrix pins down what every built-in role may do
// (PRIV-1). A change to a role's rights must change this table.
func TestRolePermissionMatrix(t *testing.T) {
	all := AllPermissions
	want := map[string][]Permission{
		RoleOwner:   all,
		RoleAdmin:   without(all, PermTenantOwn),
		RoleEditor:  {PermCollectionsRead, PermRecordsRead, PermRecordsWrite, PermRecordsDelete},
		RoleViewer:  {PermCollectionsRead, PermRecordsRead},
		RoleAuditor: {PermAuditRead, PermUsersRead, PermCollectionsRead},
	}
	for role, perms := range want {
		p := principalWith(Grant{Role: role})
		for _, perm := range all {
			if got := p.Can(perm, ""); got != slices.Contains(perms, perm) {
				t.Errorf("%s.Can(%s) = %v", role, perm, got)
			}
		}
	}
}

func TestCollectionScopedCan(t *testing.T) {
	p := principalWith(Grant{Role: RoleEditor, Collection: "notes"}, Grant{Role: RoleViewer, Collection: "docs"})
	cases := []struct {
		perm       Permission
		collection string
		want       bool
	}{
		{PermRecordsWrite, "notes", true},
		{PermRecordsDelete, "notes", true},
		{PermRecordsRead, "docs", true},
		{PermRecordsWrite, "docs", false},
		{PermRecordsRead, "other", false},
		{PermRecordsRead, "", false}, // a scoped grant is never tenant-wide
		{PermCollectionsManage, "notes", false},
	}
	for _, c := range cases {
		if got := p.Can(c.perm, c.collection); got != c.want {
			t.Errorf("Can(%s, %q) = %v, want %v", c.perm, c.collection, got, c.want)
		}
	}
	if !p.CanSome(PermRecordsRead) || p.CanSome(PermUsersRead) {
		t.Error("CanSome is wrong")
	}
	if p.Covers([]Permission{PermRecordsRead}) {
		t.Error("scoped grants cover a tenant-wide permission")
	}
}

func TestDenyByDefault(t *testing.T) {
	var nilP *Principal
	op := &Principal{Kind: KindOperator, ID: "o", Grants: principalWith(Grant{Role: RoleOwner}).Grants}
	sys := &Principal{Kind: KindSystem, ID: "cli", TenantID: "t", Grants: op.Grants}
	noTenant := &Principal{Kind: KindUser, ID: "u", Grants: op.Grants}
	for name, p := range map[string]*Principal{"nil": nilP, "operator": op, "system": sys, "no tenant": noTenant, "no grants": {Kind: KindUser, ID: "u", TenantID: "t"}} {
		for _, perm := range AllPermissions {
			if p.Can(perm, "") || p.CanSome(perm) {
				t.Errorf("%s principal may %s", name, perm)
			}
		}
	}
}

func TestRoleValidate(t *testing.T) {
	ok := Role{Name: "reader", Permissions: []Permission{PermRecordsRead, PermCollectionsRead, PermRecordsRead}}
	if err := ok.Validate(); err != nil || len(ok.Permissions) != 2 {
		t.Fatalf("Validate = %v, perms %v", err, ok.Permissions)
	}
	for _, bad := range []Role{
		{Name: "A", Permissions: []Permission{PermRecordsRead}},
		{Name: "viewer", Permissions: []Permission{PermRecordsRead}},
		{Name: "nothing"},
		{Name: "typo", Permissions: []Permission{"records.reed"}},
		{Name: "own", Permissions: []Permission{PermTenantOwn}},
	} {
		if ErrorCode(bad.Validate()) != EInvalid {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}
