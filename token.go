package bulwark

import (
	"time"
	"unicode/utf8"
)

// APIToken is a credential for a machine client: bound to one tenant and one
// grant, stored hashed, shown once.
type APIToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Grant      Grant      `json:"grant"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Token lifetimes.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
)

// NewAPIToken is the input to create a token.
type NewAPIToken struct {
	Name  string `json:"name"`
	Grant Grant  `json:"grant"`
	// ExpiresIn is a duration such as "720h"; default 90 days, at most 366.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// Validate checks the input and returns the token's lifetime.
func (n *NewAPIToken) Validate() (time.Duration, error) {
	if n.Name == "" || utf8.RuneCountInString(n.Name) > 100 {
		return 0, FieldError("name", "must be 1-100 characters")
	}
	if err := ValidateGrants([]Grant{n.Grant}); err != nil {
		return 0, FieldError("grant", "must name a role")
	}
	ttl := DefaultTokenTTL
	if n.ExpiresIn != "" {
		d, err := time.ParseDuration(n.ExpiresIn)
		if err != nil || d < time.Minute || d > MaxTokenTTL {
			return 0, FieldError("expires_in", "must be a duration between 1m and 8784h, such as 720h")
		}
		ttl = d
	}
	return ttl, nil
}

// CreatedToken is an APIToken with its secret, returned once at creation.
type CreatedToken struct {
	APIToken
	Secret string `json:"token"`
}
