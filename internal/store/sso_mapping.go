package store

import (
	"slices"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// Group-to-role mapping (AUTH-5 "attribute mapping to user fields and
// roles"). The choice, documented in docs/sso.md: the roles a provider's
// mappings name are managed by the IdP. At just-in-time provisioning the
// user gets the mapped roles (or the default role when none matches); at
// every later login through that provider the user's grants of those
// roles are set to what the IdP's groups map to now: added when a mapped
// group appears, removed when it disappears. Grants of roles no mapping
// names (given by an admin in Bulwark), collection-scoped grants and
// owner are never touched by a login.

// validateMappings checks the shape of p's mappings (whether the roles
// exist and may be granted is checked in the tenant: checkDefaultRole).
func validateMappings(p *sso.Provider) error {
	if len(p.RoleMappings) > sso.MaxRoleMappings {
		return bulwark.FieldError("role_mappings", "at most 50")
	}
	if len(p.GroupAttribute) > 256 {
		return bulwark.FieldError("group_attribute", "at most 256 characters")
	}
	if len(p.RoleMappings) > 0 && p.GroupAttribute == "" {
		return bulwark.FieldError("group_attribute", "is required with role_mappings")
	}
	for _, m := range p.RoleMappings {
		if m.Value == "" || len(m.Value) > 256 {
			return bulwark.FieldError("role_mappings", "each value must be 1 to 256 characters")
		}
		if m.Role == "" {
			return bulwark.FieldError("role_mappings", "each mapping needs a role")
		}
		if m.Role == bulwark.RoleOwner {
			return bulwark.FieldError("role_mappings", "owner cannot be given through an identity provider")
		}
	}
	return nil
}

// mappedGrants are the grants id's groups map to under pr, limited to
// roles that still exist (a deleted role maps to nothing).
func mappedGrants(pr *sso.Provider, id *sso.Identity, roles map[string]bulwark.Role) []bulwark.Grant {
	var out []bulwark.Grant
	for _, r := range pr.MappedRoles(id.Groups) {
		if _, ok := roles[r]; ok && r != bulwark.RoleOwner {
			out = append(out, bulwark.Grant{Role: r})
		}
	}
	return out
}

// syncGrants re-applies pr's mappings to an existing user at login, and
// audits a change (privileged when a privileged role comes or goes).
func (t *tenantTx) syncGrants(userID string, pr *sso.Provider, id *sso.Identity) error {
	managed := pr.ManagedRoles()
	if len(managed) == 0 {
		return nil
	}
	roles, err := t.roles()
	if err != nil {
		return err
	}
	gs, err := t.grantsOf(userID)
	if err != nil {
		return err
	}
	before := gs[userID]
	var after []bulwark.Grant
	for _, g := range before {
		if g.Collection != "" || !slices.Contains(managed, g.Role) {
			after = append(after, g)
		}
	}
	for _, g := range mappedGrants(pr, id, roles) {
		if !slices.Contains(after, g) {
			after = append(after, g)
		}
	}
	if sameGrants(before, after) {
		return nil
	}
	if err := t.setGrants(userID, after); err != nil {
		return err
	}
	privileged, err := t.grantsPrivileged(before, after)
	if err != nil {
		return err
	}
	return t.audit(auditEntry{Action: "user.grants.sso_sync", TargetKind: "user", TargetID: userID, Fields: []string{"grants"}, Privileged: privileged})
}

func sameGrants(a, b []bulwark.Grant) bool {
	if len(a) != len(b) {
		return false
	}
	for _, g := range a {
		if !slices.Contains(b, g) {
			return false
		}
	}
	return true
}

// setDisplayName keeps the display name the IdP asserted with the
// federated identity pr linked, refreshed at each login.
func (t *tenantTx) setDisplayName(pr *sso.Provider, id *sso.Identity) error {
	name := id.Name
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	_, err := t.exec("UPDATE federated_identities SET display_name = ? WHERE tenant_id = ? AND provider_id = ? AND issuer = ? AND subject = ?",
		name, t.tenantID, pr.ID, id.Issuer, id.Subject)
	return err
}
