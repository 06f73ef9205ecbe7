package sso

import (
	"slices"
	"strings"
)

// RoleMapping gives users whose group attribute (SAML) or claim (OIDC)
// holds Value the tenant role Role.
//
// The roles named by a provider's mappings are managed by the IdP: they
// are set at just-in-time provisioning and re-synced at every login
// through that provider (granted when a mapped value is present, removed
// when none is). Roles no mapping names are managed in Bulwark and never
// touched by a login. Owner cannot be mapped.
type RoleMapping struct {
	Value string `json:"value"`
	Role  string `json:"role"`
}

// Limits on mappings and on the group values read from an IdP.
const (
	MaxRoleMappings = 50
	maxGroups       = 500
	maxGroupLen     = 256
)

// MappedRoles returns the roles pr's mappings give to groups, sorted and
// without repeats.
func (pr *Provider) MappedRoles(groups []string) []string {
	var out []string
	for _, m := range pr.RoleMappings {
		if slices.Contains(groups, m.Value) && !slices.Contains(out, m.Role) {
			out = append(out, m.Role)
		}
	}
	slices.Sort(out)
	return out
}

// ManagedRoles are the roles pr's mappings name.
func (pr *Provider) ManagedRoles() []string {
	var out []string
	for _, m := range pr.RoleMappings {
		if !slices.Contains(out, m.Role) {
			out = append(out, m.Role)
		}
	}
	return out
}

// groupValues reads a claim or attribute value that may be one string or
// a list of them; anything else, and overlong values, are ignored.
func groupValues(v any) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && len(s) <= maxGroupLen && len(out) < maxGroups {
			out = append(out, s)
		}
	}
	switch x := v.(type) {
	case string:
		add(x)
	case []string:
		for _, s := range x {
			add(s)
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}
