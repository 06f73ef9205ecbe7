package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// passwordTarget loads what judging a new password for userID needs.
func (t *tenantTx) passwordTarget(userID string, history int) (*PasswordTarget, error) {
	s, err := t.authSettings()
	if err != nil {
		return nil, err
	}
	pt := &PasswordTarget{Policy: s.PasswordPolicy}
	if err := t.queryRow("SELECT name, slug FROM tenants WHERE id = ?", t.tenantID).Scan(&pt.TenantName, &pt.TenantSlug); err != nil {
		return nil, err
	}
	if err := t.queryRow("SELECT email, password_hash FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, userID).Scan(&pt.Email, &pt.CurrentHash); err != nil {
		return nil, err
	}
	if history < 0 {
		history = s.PasswordPolicy.History
	}
	if history > 0 {
		var err error
		pt.History, err = t.queryStrings("SELECT password_hash FROM password_history WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
			t.tenantID, userID, history)
		if err != nil {
			return nil, err
		}
	}
	return pt, nil
}

// setPassword stores a new password hash for userID: remembers it in the
// history, ends every session of the user (a credential change revokes
// them, AUTH-7), makes every unused reset or activation secret of the user
// void (a link sent before the change must not undo it) and clears the
// password failure counter. MFA is never touched.
func (t *tenantTx) setPassword(userID, hash string) error {
	if _, err := t.exec("UPDATE users SET password_hash = ?, password_changed_at = ?, password_change_required = 0, updated_at = ? WHERE tenant_id = ? AND id = ?",
		hash, micros(t.now), micros(t.now), t.tenantID, userID); err != nil {
		return err
	}
	if _, err := t.exec("INSERT INTO password_history (tenant_id, user_id, id, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
		t.tenantID, userID, newID(), hash, micros(t.now)); err != nil {
		return err
	}
	// Keep the newest historyKept entries.
	if _, err := t.exec(`DELETE FROM password_history WHERE tenant_id = ? AND user_id = ? AND id NOT IN
		(SELECT id FROM password_history WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?)`,
		t.tenantID, userID, t.tenantID, userID, historyKept); err != nil {
		return err
	}
	if err := t.killSessions(userID, ""); err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind IN (?, ?) AND used_at IS NULL",
		t.tenantID, userID, secret.Reset, secret.Activation); err != nil {
		return err
	}
	var slug, email string
	if err := t.queryRow("SELECT t.slug, u.email FROM tenants t JOIN users u ON u.tenant_id = t.id WHERE t.id = ? AND u.id = ?", t.tenantID, userID).Scan(&slug, &email); err != nil {
		return err
	}
	return t.clearFailures(userKey(slug, email))
}

var errActivation = bulwark.Errorf(bulwark.EGone, "the activation link is invalid, used or expired; ask for a new one")

var errReset = bulwark.Errorf(bulwark.EGone, "the password reset link is invalid, used or expired; ask for a new one")

// ActivationTarget checks an activation secret and returns what judging
// the new password needs, so a bad secret is refused before any hashing.
func (db *DB) ActivationTarget(ctx context.Context, token string) (*PasswordTarget, error) {
	var pt *PasswordTarget
	err := db.useSecret(ctx, token, secret.Activation, "", func(t *tenantTx, userID string) error {
		var err error
		pt, err = t.passwordTarget(userID, -1)
		return err
	}, func(t *globalTx, opID string) error {
		pt = &PasswordTarget{Policy: bulwark.DefaultPasswordPolicy}
		return t.queryRow("SELECT email FROM operators WHERE id = ?", opID).Scan(&pt.Email)
	})
	return pt, err
}

// CheckActivation reports whether an activation secret can still be used.
func (db *DB) CheckActivation(ctx context.Context, token string) error {
	_, err := db.ActivationTarget(ctx, token)
	return err
}

// Activate uses a one-time activation secret to set the account's password
// hash and make it active. The secret works once.
func (db *DB) Activate(ctx context.Context, token, passwordHash string) error {
	if passwordHash == "" {
		return bulwark.Errorf(bulwark.EInvalid, "a password is required")
	}
	return db.useSecret(ctx, token, secret.Activation, passwordHash, func(t *tenantTx, userID string) error {
		if _, err := t.exec("UPDATE users SET status = ? WHERE tenant_id = ? AND id = ?", bulwark.StatusActive, t.tenantID, userID); err != nil {
			return err
		}
		if err := t.setPassword(userID, passwordHash); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.activate", TargetKind: "user", TargetID: userID, Fields: []string{"password"}})
	}, func(t *globalTx, opID string) error {
		if _, err := t.exec("UPDATE operators SET password_hash = ?, status = ?, updated_at = ? WHERE id = ?", passwordHash, bulwark.StatusActive, micros(t.now), opID); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.activate", TargetKind: "operator", TargetID: opID, Fields: []string{"password"}, Privileged: true})
	})
}

// useSecret finds a live one-time secret of kind and runs the tenant or
// operator callback with its account. With write set, it also marks the
// secret used, under a condition that makes it single-use under
// concurrency.
func (db *DB) useSecret(ctx context.Context, token, kind, write string, user func(*tenantTx, string) error, op func(*globalTx, string) error) error {
	gone := errActivation
	if kind == secret.Reset {
		gone = errReset
	}
	k, scope, ok := secret.Parse(token)
	if !ok || k != kind {
		return gone
	}
	hash := secret.Hash(token)
	w := write != ""
	if scope == secret.OperatorScope {
		if op == nil {
			return gone
		}
		return db.inGlobal(ctx, w, func(t *globalTx) error {
			var opID string
			err := t.queryRow("SELECT operator_id FROM operator_secrets WHERE id = ? AND kind = ? AND used_at IS NULL AND expires_at > ?",
				hash, kind, micros(t.now)).Scan(&opID)
			if errors.Is(err, sql.ErrNoRows) {
				return gone
			}
			if err != nil {
				return err
			}
			if w {
				t.principal = &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID}
				res, err := t.exec("UPDATE operator_secrets SET used_at = ? WHERE id = ? AND used_at IS NULL", micros(t.now), hash)
				if err := onlyOnce(res, err, gone); err != nil {
					return err
				}
			}
			return op(t, opID)
		})
	}
	// An activation secret works only while its user is still invited
	// (not once they accepted through an IdP, say); a reset secret while
	// they are not disabled.
	status := "u.status <> ?"
	var statusArg any = bulwark.StatusDisabled
	if kind == secret.Activation {
		status, statusArg = "u.status = ?", bulwark.StatusInvited
	}
	return db.inTenantID(ctx, scope, nil, w, func(t *tenantTx) error {
		var userID string
		err := t.queryRow(`SELECT s.user_id FROM user_secrets s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
			WHERE s.tenant_id = ? AND s.id = ? AND s.kind = ? AND s.used_at IS NULL AND s.expires_at > ? AND `+status,
			t.tenantID, hash, kind, micros(t.now), statusArg).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return gone
		}
		if err != nil {
			return err
		}
		if w {
			t.principal = &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: t.tenantID}
			res, err := t.exec("UPDATE user_secrets SET used_at = ? WHERE tenant_id = ? AND id = ? AND used_at IS NULL", micros(t.now), t.tenantID, hash)
			if err := onlyOnce(res, err, gone); err != nil {
				return err
			}
		}
		return user(t, userID)
	})
}

// onlyOnce turns an UPDATE that changed no row into gone.
func onlyOnce(res sql.Result, err error, gone error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return gone
	}
	return nil
}

// SelfPasswordTarget returns what judging a new password for the user in
// ctx needs, the current hash included (a change needs the current
// password).
func (db *DB) SelfPasswordTarget(ctx context.Context) (*PasswordTarget, error) {
	p, err := userSession(ctx)
	if err != nil {
		return nil, err
	}
	var pt *PasswordTarget
	err = db.inTenant(ctx, false, func(t *tenantTx) error {
		pt, err = t.passwordTarget(p.ID, -1)
		return err
	})
	return pt, err
}

// ChangePassword sets the password of the user in ctx, whose current
// password the caller has checked. Every session of the user ends,
// this one included, and a new session is returned in its place.
func (db *DB) ChangePassword(ctx context.Context, passwordHash string) (*bulwark.Session, error) {
	p, err := userSession(ctx)
	if err != nil {
		return nil, err
	}
	if p.Stage == bulwark.StageMFA {
		return nil, bulwark.Errorf(bulwark.EForbidden, "complete the second factor first")
	}
	var s *bulwark.Session
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.setPassword(p.ID, passwordHash); err != nil {
			return err
		}
		settings, err := t.authSettings()
		if err != nil {
			return err
		}
		stage, err := t.afterMFAStage(p.ID, settings, false)
		if err != nil {
			return err
		}
		if s, err = t.newSession(p.ID, stage, settings, t.now); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.password_change", TargetKind: "user", TargetID: p.ID, Fields: []string{"password"}})
	})
	return s, err
}

// PasswordReset is a reset link to send: the secret and where to send it.
type PasswordReset struct {
	Token     string
	Email     string
	ExpiresAt time.Time
}

// CreatePasswordReset makes a one-time reset secret for an active user,
// valid for ttl. For an unknown tenant or email it returns nil and no
// error: the caller answers the same either way.
func (db *DB) CreatePasswordReset(ctx context.Context, slug, email string, ttl time.Duration) (*PasswordReset, error) {
	email, err := bulwark.NormalizeEmail("email", email)
	if err != nil {
		return nil, nil
	}
	tenantID, userID, _, err := db.lookupUser(ctx, slug, email)
	if err != nil || userID == "" {
		return nil, err
	}
	var r *PasswordReset
	p := &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: tenantID}
	err = db.inTenantID(ctx, tenantID, p, true, func(t *tenantTx) error {
		plain, h := secret.New(secret.Reset, t.tenantID)
		exp := t.now.Add(ttl)
		// One live reset link per user: a new one replaces the old.
		if _, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ?", t.tenantID, userID, secret.Reset); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO user_secrets (tenant_id, id, kind, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.tenantID, h, secret.Reset, userID, micros(t.now), micros(exp), micros(t.now)); err != nil {
			return err
		}
		r = &PasswordReset{Token: plain, Email: email, ExpiresAt: exp}
		return t.audit(auditEntry{Action: "auth.password_reset_request", TargetKind: "user", TargetID: userID})
	})
	return r, err
}

// ResetTarget checks a reset secret and returns what judging the new
// password needs.
func (db *DB) ResetTarget(ctx context.Context, token string) (*PasswordTarget, error) {
	var pt *PasswordTarget
	err := db.useSecret(ctx, token, secret.Reset, "", func(t *tenantTx, userID string) error {
		var err error
		pt, err = t.passwordTarget(userID, -1)
		return err
	}, nil)
	return pt, err
}

// ResetPassword uses a one-time reset secret to set a new password. It
// ends the user's sessions and clears the password and second-factor
// failure counters (so a locked account is unlocked), but keeps every
// second factor: the next login still asks for it (ASVS V6.4.3).
func (db *DB) ResetPassword(ctx context.Context, token, passwordHash string) error {
	if passwordHash == "" {
		return bulwark.Errorf(bulwark.EInvalid, "a password is required")
	}
	return db.useSecret(ctx, token, secret.Reset, passwordHash, func(t *tenantTx, userID string) error {
		if err := t.setPassword(userID, passwordHash); err != nil {
			return err
		}
		if err := t.clearFailures(FailureKey("totp", t.tenantID, userID)); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.password_reset", TargetKind: "user", TargetID: userID, Fields: []string{"password"}})
	}, nil)
}
