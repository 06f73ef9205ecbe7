package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/bulwarkhq/bulwark"
)

// defaultAuthSettings are a tenant's settings before its admins change
// them: the NIST defaults, with the deployment's session timeouts.
func (db *DB) defaultAuthSettings() bulwark.AuthSettings {
	s := bulwark.DefaultAuthSettings()
	s.SessionIdleMinutes = int(db.opt.SessionIdle.Minutes())
	s.SessionAbsoluteMinutes = int(db.opt.SessionAbsolute.Minutes())
	return s
}

// authSettings reads the tenant's authentication settings.
func (t *tenantTx) authSettings() (bulwark.AuthSettings, error) {
	s := t.db.defaultAuthSettings()
	var raw string
	err := t.queryRow("SELECT settings FROM auth_settings WHERE tenant_id = ?", t.tenantID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, err
	}
	if s.PasswordPolicy.BlockedWords == nil {
		s.PasswordPolicy.BlockedWords = []string{}
	}
	return s, nil
}

func (t *tenantTx) saveAuthSettings(s bulwark.AuthSettings, fields []string) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	res, err := t.exec("UPDATE auth_settings SET settings = ?, updated_at = ? WHERE tenant_id = ?", string(raw), micros(t.now), t.tenantID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := t.exec("INSERT INTO auth_settings (tenant_id, settings, updated_at) VALUES (?, ?, ?)", t.tenantID, string(raw), micros(t.now)); err != nil {
			return err
		}
	}
	return t.audit(auditEntry{Action: "settings.update", TargetKind: "tenant", TargetID: t.tenantID, Fields: fields, Privileged: true})
}

// AuthSettings returns the caller's tenant's authentication settings.
func (db *DB) AuthSettings(ctx context.Context) (*bulwark.AuthSettings, error) {
	var s bulwark.AuthSettings
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		var err error
		s, err = t.authSettings()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// SetPasswordPolicy replaces the caller's tenant's password policy. It is
// checked against the tenant's MFA mode (the 15-character floor holds
// unless MFA is required for everyone). A tightened policy applies to
// existing passwords at their next login (see PasswordLogin).
func (db *DB) SetPasswordPolicy(ctx context.Context, p bulwark.PasswordPolicy) (*bulwark.PasswordPolicy, error) {
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		s, err := t.authSettings()
		if err != nil {
			return err
		}
		if err := p.Validate(s.MFA); err != nil {
			return err
		}
		s.PasswordPolicy = p
		return t.saveAuthSettings(s, []string{"password_policy"})
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// SetAuthSettings replaces all the caller's tenant's authentication
// settings: password policy, MFA mode and session timeouts. Changing the
// MFA mode needs a recent login (step-up). A mode that now requires a
// second factor of users who have none ends their complete sessions, the
// caller's own included: each next login decides its stage under the new
// mode (enrolment first), as for a promotion (setGrants).
func (db *DB) SetAuthSettings(ctx context.Context, s bulwark.AuthSettings) (*bulwark.AuthSettings, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermSettingsManage); err != nil {
			return err
		}
		old, err := t.authSettings()
		if err != nil {
			return err
		}
		if old.MFA != s.MFA {
			if err := t.principal.RequireRecentAuth(t.now); err != nil {
				return err
			}
		}
		if err := t.saveAuthSettings(s, []string{"password_policy", "mfa", "session_idle_minutes", "session_absolute_minutes"}); err != nil {
			return err
		}
		if old.MFA == s.MFA || s.MFA == bulwark.MFAOptional {
			return nil
		}
		return t.endAllSessionsOwingEnrolment()
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

var (
	_ bulwark.SettingsService = (*DB)(nil)
	_ bulwark.SessionService  = (*DB)(nil)
)

// AuthPosture is one tenant's authentication settings as the evidence
// report (GOV-7) shows them: its MFA mode, and a warning for each opt-in
// that NIST SP 800-63B-4 advises against (composition rules, expiry).
type AuthPosture struct {
	Tenant   string          `json:"tenant"`
	MFA      bulwark.MFAMode `json:"mfa"`
	Warnings []string        `json:"warnings"`
}

// AuthPostures lists every tenant's authentication posture, for
// operators and the command line. It reads settings only, never tenant
// data.
func (db *DB) AuthPostures(ctx context.Context) ([]AuthPosture, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	tenants, err := db.tenantRefs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AuthPosture, 0, len(tenants))
	for _, x := range tenants {
		err := db.inTenantID(ctx, x.ID, bulwark.FromContext(ctx), false, func(t *tenantTx) error {
			s, err := t.authSettings()
			if err != nil {
				return err
			}
			out = append(out, AuthPosture{Tenant: x.Slug, MFA: s.MFA, Warnings: s.PasswordPolicy.Warnings()})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
