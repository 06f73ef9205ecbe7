package bulwark

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MFAMode says who in a tenant must use a second factor (AUTH-3).
type MFAMode string

const (
	MFAOptional MFAMode = "optional" // users may enrol; nobody must
	MFAAdmins   MFAMode = "admins"   // holders of users.manage, roles.manage or settings.manage must
	MFAEveryone MFAMode = "everyone" // every user must
)

// Password length bounds (NIST SP 800-63B-4 §3.1.1.2). A password that can
// log in alone must be at least 15 characters; 8 is allowed only when a
// second factor is always required. At least 64 characters are always
// accepted; MaxPasswordBytes is checked before hashing, so a huge password
// cannot make hashing a denial of service. Passwords are never truncated.
const (
	MinPasswordLenAlone = 15
	MinPasswordLenMFA   = 8
	MaxMinPasswordLen   = 64
	MaxPasswordBytes    = 1024
	MaxPasswordHistory  = 24
)

// PasswordPolicy is a tenant's password policy (AUTH-2). The defaults
// follow NIST SP 800-63B-4: a length floor, a blocklist that is always on,
// no composition rules and no expiry. Composition rules and expiry exist
// only as explicit opt-ins; enabling them earns a warning.
type PasswordPolicy struct {
	// MinLength counts Unicode code points after NFKC normalisation.
	MinLength int `json:"min_length"`
	// History is how many previous passwords may not be reused (0-24).
	History int `json:"history"`
	// BlockedWords are the tenant's own context words (product names,
	// city, ...), refused inside passwords like the tenant's name is.
	BlockedWords []string `json:"blocked_words"`
	// Opt-in composition rules (discouraged by NIST SP 800-63B-4).
	RequireLower  bool `json:"require_lower"`
	RequireUpper  bool `json:"require_upper"`
	RequireDigit  bool `json:"require_digit"`
	RequireSymbol bool `json:"require_symbol"`
	// MaxAgeDays forces a change after so many days; 0 = never (the
	// default; NIST SP 800-63B-4 says not to expire passwords).
	MaxAgeDays int `json:"max_age_days"`
}

// DefaultPasswordPolicy is the policy of a tenant that set none.
var DefaultPasswordPolicy = PasswordPolicy{MinLength: MinPasswordLenAlone, History: 5, BlockedWords: []string{}}

// Warnings lists the opt-ins that weaken the policy by NIST's reckoning;
// the API returns them and the evidence report flags the tenant.
func (p *PasswordPolicy) Warnings() []string {
	w := []string{}
	if p.RequireLower || p.RequireUpper || p.RequireDigit || p.RequireSymbol {
		w = append(w, "character-class rules are enabled: NIST SP 800-63B-4 and OWASP ASVS V6.2.5 advise against them, since they push users to predictable patterns")
	}
	if p.MaxAgeDays > 0 {
		w = append(w, "password expiry is enabled: NIST SP 800-63B-4 and OWASP ASVS V6.2.10 advise against periodic changes without evidence of compromise")
	}
	return w
}

// Validate checks the policy against the tenant's MFA mode: the length
// floor is 15 unless every user must use a second factor.
func (p *PasswordPolicy) Validate(mfa MFAMode) error {
	floor := MinPasswordLenAlone
	if mfa == MFAEveryone {
		floor = MinPasswordLenMFA
	}
	if p.MinLength < floor || p.MinLength > MaxMinPasswordLen {
		if floor == MinPasswordLenAlone {
			return FieldError("min_length", "must be 15-64: a password may be the only factor in this tenant (8 is allowed only when MFA is required for everyone)")
		}
		return FieldError("min_length", "must be 8-64")
	}
	if p.History < 0 || p.History > MaxPasswordHistory {
		return FieldError("history", "must be 0-24")
	}
	if p.MaxAgeDays < 0 || p.MaxAgeDays > 3650 {
		return FieldError("max_age_days", "must be 0-3650")
	}
	if p.BlockedWords == nil {
		p.BlockedWords = []string{}
	}
	if len(p.BlockedWords) > 200 {
		return FieldError("blocked_words", "at most 200 words")
	}
	words := make([]string, 0, len(p.BlockedWords))
	for _, w := range p.BlockedWords {
		w = strings.ToLower(strings.TrimSpace(w))
		if utf8.RuneCountInString(w) < 3 || len(w) > 64 {
			return FieldError("blocked_words", "each word must be 3-64 characters")
		}
		if !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	p.BlockedWords = words
	return nil
}

// AuthSettings are a tenant's authentication settings, set by its admins.
type AuthSettings struct {
	PasswordPolicy PasswordPolicy `json:"password_policy"`
	MFA            MFAMode        `json:"mfa"`
	// Session timeouts in minutes (AUTH-7). Defaults 30 and 720 (12 h).
	SessionIdleMinutes     int `json:"session_idle_minutes"`
	SessionAbsoluteMinutes int `json:"session_absolute_minutes"`
}

// DefaultAuthSettings are the settings of a tenant that set none.
func DefaultAuthSettings() AuthSettings {
	p := DefaultPasswordPolicy
	p.BlockedWords = []string{}
	return AuthSettings{PasswordPolicy: p, MFA: MFAOptional, SessionIdleMinutes: 30, SessionAbsoluteMinutes: 12 * 60}
}

// SessionIdle and SessionAbsolute return the timeouts as durations.
func (s *AuthSettings) SessionIdle() time.Duration {
	return time.Duration(s.SessionIdleMinutes) * time.Minute
}

func (s *AuthSettings) SessionAbsolute() time.Duration {
	return time.Duration(s.SessionAbsoluteMinutes) * time.Minute
}

// Validate checks the settings.
func (s *AuthSettings) Validate() error {
	switch s.MFA {
	case MFAOptional, MFAAdmins, MFAEveryone:
	default:
		return FieldError("mfa", "must be optional, admins or everyone")
	}
	if s.SessionIdleMinutes < 1 || s.SessionIdleMinutes > 24*60 {
		return FieldError("session_idle_minutes", "must be 1-1440")
	}
	if s.SessionAbsoluteMinutes < s.SessionIdleMinutes || s.SessionAbsoluteMinutes > 30*24*60 {
		return FieldError("session_absolute_minutes", "must be at least the idle timeout and at most 43200 (30 days)")
	}
	return s.PasswordPolicy.Validate(s.MFA)
}

// MFARequired reports whether a user holding grants must use a second
// factor under mode.
func MFARequired(mode MFAMode, grants []ResolvedGrant) bool {
	switch mode {
	case MFAEveryone:
		return true
	case MFAAdmins:
		for _, g := range grants {
			for _, p := range g.Permissions {
				if p == PermUsersManage || p == PermRolesManage || p == PermSettingsManage || p == PermTenantOwn {
					return true
				}
			}
		}
	}
	return false
}

// SettingsService reads and changes the caller's tenant's authentication
// settings (settings.manage to change).
type SettingsService interface {
	AuthSettings(ctx context.Context) (*AuthSettings, error)
	SetPasswordPolicy(ctx context.Context, p PasswordPolicy) (*PasswordPolicy, error)
	SetAuthSettings(ctx context.Context, s AuthSettings) (*AuthSettings, error)
}

// TOTPEnrolment is what a user needs to add Bulwark to an authenticator
// app: the secret (shown once) and the otpauth:// URL a QR code encodes.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
}

// AccountService is what a person does with their own credentials, and
// what admins do to another user's second factors (AUTH-2, AUTH-3,
// AUTH-6, AUTH-7). Calls that replace the caller's session return the new
// one: the old token stops working.
type AccountService interface {
	// ChangePassword needs the current password; every session of the
	// user ends and a new one is returned.
	ChangePassword(ctx context.Context, current, next string) (*Session, error)
	// RequestPasswordReset emails a one-time link; it answers the same
	// whether or not the account exists.
	RequestPasswordReset(ctx context.Context, tenant, email string) error
	// ResetPassword uses the link's secret. Second factors are kept.
	ResetPassword(ctx context.Context, token, password string) error
	// Reauthenticate proves the caller again (password or TOTP code) for
	// sensitive actions (step-up).
	Reauthenticate(ctx context.Context, password, code string) (*Session, error)
	BeginTOTP(ctx context.Context) (*TOTPEnrolment, error)
	// ConfirmTOTP returns the new session and, for tenant users, ten
	// recovery codes shown once.
	ConfirmTOTP(ctx context.Context, code string) (*Session, []string, error)
	RemoveTOTP(ctx context.Context) (*Session, error)
	RegenerateRecoveryCodes(ctx context.Context) ([]string, error)
	// VerifyTOTP and UseRecoveryCode complete a login that owes a second
	// factor.
	VerifyTOTP(ctx context.Context, code string) (*Session, error)
	UseRecoveryCode(ctx context.Context, code string) (*Session, error)
	// ResetUserMFA removes a user's second factors (admin, step-up).
	ResetUserMFA(ctx context.Context, userID string) error

	// Passkeys (WebAuthn). Begin* return the options object for
	// navigator.credentials.create/get; Finish* take the browser's
	// PublicKeyCredential as JSON.
	Passkeys(ctx context.Context) ([]PasskeyInfo, error)
	BeginPasskeyRegistration(ctx context.Context) (json.RawMessage, error)
	FinishPasskeyRegistration(ctx context.Context, name string, credential []byte) (*Session, error)
	BeginPasskeyLogin(ctx context.Context) (json.RawMessage, error)
	FinishPasskeyLogin(ctx context.Context, credential []byte) (*Session, error)
	RemovePasskey(ctx context.Context, id string) (*Session, error)
}

// PasskeyInfo is a registered passkey as its owner sees it.
type PasskeyInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}
