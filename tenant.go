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
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}
