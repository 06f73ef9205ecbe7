package bulwark

import (
	"regexp"
	"slices"
	"sort"
)

// Permission is one thing a tenant principal may do. The set is fixed;
// custom roles are made from it.
type Permission string

const (
	PermCollectionsRead   Permission = "collections.read"
	PermCollectionsManage Permission = "collections.manage"
	PermRecordsRead       Permission = "records.read"
	PermRecordsWrite      Permission = "records.write"
	PermRecordsDelete     Permission = "records.delete"
	PermUsersRead         Permission = "users.read"
	PermUsersManage       Permission = "users.manage"
	PermRolesManage       Permission = "roles.manage"
	PermTokensManage      Permission = "tokens.manage"
	PermAuditRead         Permission = "audit.read"
	PermSettingsManage    Permission = "settings.manage"
	// PermTenantOwn marks owners. Nobody without it can grant the owner
	// role, or change or remove an owner (see CanActOn).
	PermTenantOwn Permission = "tenant.own"
)

// AllPermissions lists every permission, in a stable order.
var AllPermissions = []Permission{
	PermCollectionsRead, PermCollectionsManage,
	PermRecordsRead, PermRecordsWrite, PermRecordsDelete,
	PermUsersRead, PermUsersManage, PermRolesManage, PermTokensManage,
	PermAuditRead, PermSettingsManage, PermTenantOwn,
}

// Scopable reports whether a grant of p can be limited to one collection.
func (p Permission) Scopable() bool {
	switch p {
	case PermCollectionsRead, PermRecordsRead, PermRecordsWrite, PermRecordsDelete:
		return true
	}
	return false
}

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool { return slices.Contains(AllPermissions, p) }

// Role is a named set of permissions within a tenant.
type Role struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	BuiltIn     bool         `json:"built_in"`
}

// Built-in role names.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleEditor  = "editor"
	RoleViewer  = "viewer"
	RoleAuditor = "auditor"
)

// BuiltInRoles are present in every tenant and cannot be changed.
var BuiltInRoles = []Role{
	{Name: RoleOwner, Description: "Everything, including managing other owners.", Permissions: AllPermissions, BuiltIn: true},
	{Name: RoleAdmin, Description: "Everything except managing owners.", Permissions: without(AllPermissions, PermTenantOwn), BuiltIn: true},
	{Name: RoleEditor, Description: "Read and change records.", Permissions: []Permission{PermCollectionsRead, PermRecordsRead, PermRecordsWrite, PermRecordsDelete}, BuiltIn: true},
	{Name: RoleViewer, Description: "Read records.", Permissions: []Permission{PermCollectionsRead, PermRecordsRead}, BuiltIn: true},
	{Name: RoleAuditor, Description: "Read the audit log and the user list.", Permissions: []Permission{PermAuditRead, PermUsersRead, PermCollectionsRead}, BuiltIn: true},
}

func without(ps []Permission, drop Permission) []Permission {
	var out []Permission
	for _, p := range ps {
		if p != drop {
			out = append(out, p)
		}
	}
	return out
}

// BuiltInRole returns the built-in role with that name.
func BuiltInRole(name string) (Role, bool) {
	for _, r := range BuiltInRoles {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

var roleNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,40}$`)

// Validate checks a custom role definition.
func (r *Role) Validate() error {
	if !roleNameRE.MatchString(r.Name) {
		return FieldError("name", "must be 2-41 characters: lowercase letters, digits, '-' or '_', starting with a letter")
	}
	if _, ok := BuiltInRole(r.Name); ok {
		return FieldError("name", "is a built-in role")
	}
	if len(r.Description) > 500 {
		return FieldError("description", "must be at most 500 characters")
	}
	if len(r.Permissions) == 0 {
		return FieldError("permissions", "must name at least one permission")
	}
	for _, p := range r.Permissions {
		if !p.Valid() {
			return FieldError("permissions", "unknown permission "+string(p))
		}
		if p == PermTenantOwn {
			return FieldError("permissions", "tenant.own belongs to the owner role only")
		}
	}
	r.Permissions = sortedUnique(r.Permissions)
	return nil
}

func sortedUnique(ps []Permission) []Permission {
	out := slices.Clone(ps)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

// Grant gives a role to a user or token, for the whole tenant or, when
// Collection is set, for one collection only (need-to-know).
type Grant struct {
	Role       string `json:"role"`
	Collection string `json:"collection,omitempty"`
}

// ResolvedGrant is a grant with its role's permissions looked up.
type ResolvedGrant struct {
	Grant
	Permissions []Permission
}

// Can reports whether p holds perm for collection. An empty collection asks
// for a tenant-wide grant; a collection-scoped grant never satisfies it.
// Deny by default: a nil principal or an operator can do nothing here.
func (p *Principal) Can(perm Permission, collection string) bool {
	if _, ok := p.Tenant(); !ok {
		return false
	}
	for _, g := range p.Grants {
		if g.Collection != "" && g.Collection != collection {
			continue
		}
		if slices.Contains(g.Permissions, perm) {
			return true
		}
	}
	return false
}

// CanSome reports whether p holds perm tenant-wide or for at least one
// collection. Listing routes use it, then filter what they show with Can.
func (p *Principal) CanSome(perm Permission) bool {
	if _, ok := p.Tenant(); !ok {
		return false
	}
	for _, g := range p.Grants {
		if slices.Contains(g.Permissions, perm) {
			return true
		}
	}
	return false
}

// Covers reports whether p holds, tenant-wide, every permission in perms.
// A principal may hand out (grant, assign to a token) or act upon only what
// it covers: nobody escalates beyond their own rights.
func (p *Principal) Covers(perms []Permission) bool {
	for _, perm := range perms {
		if !p.Can(perm, "") {
			return false
		}
	}
	return true
}
