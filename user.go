package bulwark

import "time"

// Status is the life-cycle state of a user or operator account.
type Status string

const (
	StatusInvited  Status = "invited"  // activation link not used yet
	StatusActive   Status = "active"   // may log in
	StatusDisabled Status = "disabled" // may not log in; sessions revoked
)

// User is a person in exactly one tenant. The same email in two tenants is
// two unrelated users (ISO-2).
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Status    Status    `json:"status"`
	Grants    []Grant   `json:"grants"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewUser is the input to invite a user.
type NewUser struct {
	Email  string  `json:"email"`
	Grants []Grant `json:"grants"`
}

// UserUpdate changes a user; nil fields stay as they are.
type UserUpdate struct {
	Status *Status  `json:"status,omitempty"`
	Grants *[]Grant `json:"grants,omitempty"`
}

// Validate checks the update's shape; whether the grants exist is the
// store's business.
func (u *UserUpdate) Validate() error {
	if u.Status != nil && *u.Status != StatusActive && *u.Status != StatusDisabled {
		return FieldError("status", "must be active or disabled")
	}
	if u.Grants != nil {
		if err := ValidateGrants(*u.Grants); err != nil {
			return err
		}
	}
	if u.Status == nil && u.Grants == nil {
		return Errorf(EInvalid, "nothing to change: give status or grants")
	}
	return nil
}

// ValidateGrants checks the shape of grants.
func ValidateGrants(gs []Grant) error {
	if len(gs) > 50 {
		return FieldError("grants", "at most 50 grants")
	}
	for _, g := range gs {
		if g.Role == "" {
			return FieldError("grants", "every grant names a role")
		}
		if g.Collection != "" && !identRE.MatchString(g.Collection) {
			return FieldError("grants", "unknown collection "+g.Collection)
		}
	}
	return nil
}

// Invitation is a one-time activation secret, handed to a person out of
// band. It is shown once and stored only as a hash.
type Invitation struct {
	Token     string    `json:"activation_token"`
	ExpiresAt time.Time `json:"expires_at"`
}
