package bulwark

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Tenant is one customer of the SaaS company that runs Bulwark.
type Tenant struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidateSlug checks a tenant slug: 2-63 lowercase letters, digits or '-'.
func ValidateSlug(slug string) error {
	if !slugRE.MatchString(slug) {
		return FieldError("slug", "must be 2-63 characters: lowercase letters, digits or '-', not starting with '-'")
	}
	return nil
}

// ValidateName checks a display name.
func ValidateName(field, name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 200 {
		return FieldError(field, "must be 1-200 characters")
	}
	return nil
}

// NormalizeEmail checks an email address and returns it in the form used as
// an identity: trimmed and lowercased.
func NormalizeEmail(field, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > 254 {
		return "", FieldError(field, "must be at most 254 characters")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "", FieldError(field, "must be a plain email address such as ada@example.com")
	}
	return email, nil
}

// NewTenant is the input to create a tenant with its first owner.
type NewTenant struct {
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	AdminEmail string `json:"admin_email"`
}

// Validate checks and normalises the input.
func (n *NewTenant) Validate() error {
	if err := ValidateSlug(n.Slug); err != nil {
		return err
	}
	if err := ValidateName("name", n.Name); err != nil {
		return err
	}
	email, err := NormalizeEmail("admin_email", n.AdminEmail)
	if err != nil {
		return err
	}
	n.AdminEmail = email
	return nil
}

// Operator is one of the vendor's staff. Operators are not tenant users and
// see no tenant data (PRIV-1).
type Operator struct {
	ID        string         `json:"id"`
	Email     string         `json:"email"`
	Status    Status         `json:"status"`
	Roles     []OperatorRole `json:"roles"`
	CreatedAt time.Time      `json:"created_at"`
}

// OperatorRole is what an operator may do (PRIV-1). An operator holds one
// or more; every operator route requires one, and none grants access to
// tenant data.
type OperatorRole string

const (
	// OperatorAdmin runs the deployment: tenant lifecycle, keys, operators.
	OperatorAdmin OperatorRole = "admin"
	// OperatorSecurity searches the audit log across tenants (itself
	// audited).
	OperatorSecurity OperatorRole = "security"
)

// OperatorRoles lists every operator role.
var OperatorRoles = []OperatorRole{OperatorAdmin, OperatorSecurity}

// Valid reports whether r is a known operator role.
func (r OperatorRole) Valid() bool {
	for _, k := range OperatorRoles {
		if r == k {
			return true
		}
	}
	return false
}

// CheckOperatorRoles validates a set of roles for field: at least one,
// each known, none twice.
func CheckOperatorRoles(field string, roles []OperatorRole) error {
	if len(roles) == 0 {
		return FieldError(field, "must name at least one role: admin or security")
	}
	seen := map[OperatorRole]bool{}
	for _, r := range roles {
		if !r.Valid() {
			return FieldError(field, "names an unknown role: the roles are admin and security")
		}
		if seen[r] {
			return FieldError(field, "names a role twice")
		}
		seen[r] = true
	}
	return nil
}
