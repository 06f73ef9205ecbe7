package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// Second factors (AUTH-3, AUTH-8): a TOTP secret (sealed by the caller),
// hashed single-use recovery codes and WebAuthn credentials per user.
// Every change of a factor ends the user's other sessions.

// TOTPState is a user's TOTP enrolment.
type TOTPState struct {
	Secret    string // base32, opened
	LastStep  int64  // the last accepted time step; never accepted again
	Confirmed bool
}

var errNoTOTP = bulwark.Errorf(bulwark.EFailedPrecondition, "no authenticator app is enrolled")

// subject is the account a factor belongs to: a tenant user or an
// operator, from the session in ctx.
func subject(ctx context.Context) (*bulwark.Principal, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.SessionID == "" || (p.Kind != bulwark.KindUser && p.Kind != bulwark.KindOperator) {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only a login session can manage its second factors")
	}
	return p, nil
}

// TOTP returns the TOTP state of the session's account.
func (db *DB) TOTP(ctx context.Context) (*TOTPState, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	st := &TOTPState{}
	var confirmed sql.NullInt64
	if p.Kind == bulwark.KindOperator {
		err = db.inGlobal(ctx, false, func(t *globalTx) error {
			var sealed string
			if err := t.queryRow("SELECT secret, last_step, confirmed_at FROM operator_totp WHERE operator_id = ?", p.ID).Scan(&sealed, &st.LastStep, &confirmed); err != nil {
				return err
			}
			secret, err := db.openOperatorSecret(t.ctx, p.ID, sealed)
			st.Secret = secret
			return err
		})
	} else {
		err = db.inTenant(ctx, false, func(t *tenantTx) error {
			var sealed []byte
			if err := t.queryRow("SELECT secret, last_step, confirmed_at FROM mfa_totp WHERE tenant_id = ? AND user_id = ?", t.tenantID, p.ID).Scan(&sealed, &st.LastStep, &confirmed); err != nil {
				return err
			}
			secret, err := t.openSecret("mfa_totp", "secret", p.ID, sealed)
			if err != nil {
				return fmt.Errorf("open TOTP secret: %w", err)
			}
			st.Secret = string(secret)
			return nil
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoTOTP
	}
	st.Confirmed = confirmed.Valid
	return st, err
}

// BeginTOTP stores a new, unconfirmed TOTP secret for the session's
// account, replacing an unconfirmed one. A confirmed one must be removed
// first (with re-authentication). A tenant user's secret is sealed with
// the tenant's data key, bound to the user (DATA-3); an operator's, which
// no tenant key covers, is sealed directly under the KEK, bound to the
// operator (keys.Ring.SealSecret).
func (db *DB) BeginTOTP(ctx context.Context, secret string) error {
	p, err := subject(ctx)
	if err != nil {
		return err
	}
	if p.Stage == bulwark.StageMFA {
		return bulwark.Errorf(bulwark.EForbidden, "complete the second factor first")
	}
	if p.Kind == bulwark.KindOperator {
		return db.inGlobal(ctx, true, func(t *globalTx) error {
			var n int
			t.queryRow("SELECT count(*) FROM operator_totp WHERE operator_id = ? AND confirmed_at IS NOT NULL", p.ID).Scan(&n)
			if n > 0 {
				return bulwark.Errorf(bulwark.EConflict, "an authenticator app is already enrolled; remove it first")
			}
			if _, err := t.exec("DELETE FROM operator_totp WHERE operator_id = ?", p.ID); err != nil {
				return err
			}
			sealed, err := t.sealOperatorSecret(p.ID, secret)
			if err != nil {
				return err
			}
			_, err = t.exec("INSERT INTO operator_totp (operator_id, secret, last_step, created_at) VALUES (?, ?, 0, ?)", p.ID, sealed, micros(t.now))
			return err
		})
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		var n int
		t.queryRow("SELECT count(*) FROM mfa_totp WHERE tenant_id = ? AND user_id = ? AND confirmed_at IS NOT NULL", t.tenantID, p.ID).Scan(&n)
		if n > 0 {
			return bulwark.Errorf(bulwark.EConflict, "an authenticator app is already enrolled; remove it first")
		}
		if _, err := t.exec("DELETE FROM mfa_totp WHERE tenant_id = ? AND user_id = ?", t.tenantID, p.ID); err != nil {
			return err
		}
		sealed, err := t.sealSecret("mfa_totp", "secret", p.ID, []byte(secret))
		if err != nil {
			return fmt.Errorf("seal TOTP secret: %w", err)
		}
		_, err = t.exec("INSERT INTO mfa_totp (tenant_id, user_id, secret, last_step, created_at) VALUES (?, ?, ?, 0, ?)", t.tenantID, p.ID, sealed, micros(t.now))
		return err
	})
}

var errReplay = bulwark.Errorf(bulwark.EUnauthenticated, "the code is wrong or was already used; wait for the next one")

// UseTOTPStep records step as used for the session's confirmed
// enrolment. It fails unless step is later than every step accepted
// before: each code works once, and an older one never after a newer
// (RFC 6238 §5.2, NIST).
func (db *DB) UseTOTPStep(ctx context.Context, step int64) error {
	p, err := subject(ctx)
	if err != nil {
		return err
	}
	if p.Kind == bulwark.KindOperator {
		return db.inGlobal(ctx, true, func(t *globalTx) error {
			res, err := t.exec("UPDATE operator_totp SET last_step = ? WHERE operator_id = ? AND last_step < ? AND confirmed_at IS NOT NULL", step, p.ID, step)
			return onlyOnce(res, err, errReplay)
		})
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		res, err := t.exec("UPDATE mfa_totp SET last_step = ? WHERE tenant_id = ? AND user_id = ? AND last_step < ? AND confirmed_at IS NOT NULL", step, t.tenantID, p.ID, step)
		return onlyOnce(res, err, errReplay)
	})
}

// ConfirmTOTP confirms the session's pending enrolment with the step of
// its first code (used, as UseTOTPStep), gives a tenant user the recovery
// codes of the given hashes (mfa.recovery_codes), ends the account's
// other sessions and returns the caller's new one: all in one
// transaction, with the enrolment's entry (mfa.totp_enrol).
func (db *DB) ConfirmTOTP(ctx context.Context, step int64, recoveryHashes []string) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	return db.factorChanged(ctx, p, "mfa.totp_enrol", &factorChange{
		op: func(t *globalTx) error {
			res, err := t.exec("UPDATE operator_totp SET last_step = ?, confirmed_at = ? WHERE operator_id = ? AND last_step < ? AND confirmed_at IS NULL",
				step, micros(t.now), p.ID, step)
			return onlyOnce(res, err, errReplay)
		},
		user: func(t *tenantTx) error {
			res, err := t.exec("UPDATE mfa_totp SET last_step = ?, confirmed_at = ? WHERE tenant_id = ? AND user_id = ? AND last_step < ? AND confirmed_at IS NULL",
				step, micros(t.now), t.tenantID, p.ID, step)
			if err := onlyOnce(res, err, errReplay); err != nil {
				return err
			}
			return t.setRecoveryCodes(p.ID, recoveryHashes)
		},
	})
}

// SetRecoveryCodes replaces the user's recovery codes with the given
// hashes.
func (db *DB) SetRecoveryCodes(ctx context.Context, hashes []string) error {
	p, err := subject(ctx)
	if err != nil || p.Kind != bulwark.KindUser {
		return bulwark.Errorf(bulwark.EForbidden, "only tenant users have recovery codes")
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error { return t.setRecoveryCodes(p.ID, hashes) })
}

// setRecoveryCodes replaces userID's recovery codes, with its entry.
func (t *tenantTx) setRecoveryCodes(userID string, hashes []string) error {
	if _, err := t.exec("DELETE FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ?", t.tenantID, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := t.exec("INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash) VALUES (?, ?, ?)", t.tenantID, userID, h); err != nil {
			return err
		}
	}
	return t.audit(auditEntry{Action: "mfa.recovery_codes", TargetKind: "user", TargetID: userID})
}

// UseRecoveryCode spends one recovery code, by hash. Each works once.
func (db *DB) UseRecoveryCode(ctx context.Context, hash string) error {
	p, err := subject(ctx)
	if err != nil || p.Kind != bulwark.KindUser {
		return bulwark.Errorf(bulwark.EForbidden, "only tenant users have recovery codes")
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		res, err := t.exec("UPDATE mfa_recovery_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL",
			micros(t.now), t.tenantID, p.ID, hash)
		if err := onlyOnce(res, err, errReplay); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "mfa.recovery_code_used", TargetKind: "user", TargetID: p.ID})
	})
}

// CompleteMFA finishes a StageMFA session after a second factor was
// verified: the session is replaced by a new one (new token: the
// privilege rose, so no fixation) at the next stage.
func (db *DB) CompleteMFA(ctx context.Context) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	return db.rotate(ctx, p, "auth.mfa", nil, func(t *tenantTx, s bulwark.AuthSettings) (string, error) {
		var required int
		if err := t.queryRow("SELECT password_change_required FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, p.ID).Scan(&required); err != nil {
			return "", err
		}
		return t.afterMFAStage(p.ID, s, required == 1)
	})
}

// Reauthenticate marks the session's person as just proven (step-up) and
// replaces the session with a new one.
func (db *DB) Reauthenticate(ctx context.Context) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	if p.Stage != "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "finish signing in first")
	}
	return db.rotate(ctx, p, "auth.reauth", nil, func(*tenantTx, bulwark.AuthSettings) (string, error) { return "", nil })
}

// factorChanged makes change, a second factor added or removed, ends
// every other session of the account (AUTH-7) and replaces the current
// one, which moves on from StageEnrol once a factor exists, all in one
// transaction with the change's one entry, action.
func (db *DB) factorChanged(ctx context.Context, p *bulwark.Principal, action string, change *factorChange) (*bulwark.Session, error) {
	return db.rotate(ctx, p, action, change, func(t *tenantTx, s bulwark.AuthSettings) (string, error) {
		if err := t.killSessions(p.ID, p.SessionID); err != nil {
			return "", err
		}
		if p.Stage == bulwark.StageMFA {
			return bulwark.StageMFA, nil
		}
		var required int
		if err := t.queryRow("SELECT password_change_required FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, p.ID).Scan(&required); err != nil {
			return "", err
		}
		return t.afterMFAStage(p.ID, s, required == 1)
	})
}

// factorChange is a change of the account's second factors, made in the
// transaction that ends its sessions and writes the change's entry: op
// for an operator, user for a tenant user.
type factorChange struct {
	op   func(*globalTx) error
	user func(*tenantTx) error
}

// rotate replaces the session in p by a new one at the stage next
// decides, with auth_at = now, and writes one entry of action. A change,
// if given, is made first in the same transaction (DATA-5): the change,
// the session's replacement and the entry commit together or not at all.
func (db *DB) rotate(ctx context.Context, p *bulwark.Principal, action string, change *factorChange, next func(*tenantTx, bulwark.AuthSettings) (string, error)) (*bulwark.Session, error) {
	var s *bulwark.Session
	if p.Kind == bulwark.KindOperator {
		err := db.inGlobal(ctx, true, func(t *globalTx) error {
			if change != nil && change.op != nil {
				if err := change.op(t); err != nil {
					return err
				}
			}
			if _, err := t.exec("DELETE FROM operator_secrets WHERE id = ?", p.SessionID); err != nil {
				return err
			}
			if action != "auth.mfa" && action != "auth.reauth" {
				if _, err := t.exec("DELETE FROM operator_secrets WHERE operator_id = ? AND kind = ?", p.ID, secret.Session); err != nil {
					return err
				}
			}
			n, err := t.operatorFactors(p.ID)
			if err != nil {
				return err
			}
			stage := ""
			if n == 0 {
				stage = bulwark.StageEnrol
			} else if p.Stage == bulwark.StageMFA && action != "auth.mfa" {
				stage = bulwark.StageMFA
			}
			if s, err = t.newOperatorSession(p.ID, stage); err != nil {
				return err
			}
			return t.audit(auditEntry{Action: action, TargetKind: "operator", TargetID: p.ID, Privileged: true})
		})
		return s, err
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if change != nil && change.user != nil {
			if err := change.user(t); err != nil {
				return err
			}
		}
		res, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND id = ?", t.tenantID, p.SessionID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errBadSecret
		}
		settings, err := t.authSettings()
		if err != nil {
			return err
		}
		stage, err := next(t, settings)
		if err != nil {
			return err
		}
		if s, err = t.newSession(p.ID, stage, settings, t.now); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: action, TargetKind: "user", TargetID: p.ID, Fields: stageFields(stage)})
	})
	return s, err
}

// RemoveTOTP deletes the session's account's TOTP enrolment and recovery
// codes, ends its other sessions and returns the caller's new one, in one
// transaction with its entry (mfa.totp_remove). It needs a recent login
// (step-up).
func (db *DB) RemoveTOTP(ctx context.Context) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.RequireRecentAuth(db.now()); err != nil {
		return nil, err
	}
	return db.factorChanged(ctx, p, "mfa.totp_remove", &factorChange{
		op: func(t *globalTx) error {
			_, err := t.exec("DELETE FROM operator_totp WHERE operator_id = ?", p.ID)
			return err
		},
		user: func(t *tenantTx) error {
			if _, err := t.exec("DELETE FROM mfa_totp WHERE tenant_id = ? AND user_id = ?", t.tenantID, p.ID); err != nil {
				return err
			}
			_, err := t.exec("DELETE FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ?", t.tenantID, p.ID)
			return err
		},
	})
}

// ResetUserMFA removes every second factor of a user of the caller's
// tenant and ends their sessions (AUTH-6): for a user who lost their
// device. It needs users.manage, a recent login, and is audited as
// privileged. With an enforced MFA mode the user must enrol again at the
// next login.
func (db *DB) ResetUserMFA(ctx context.Context, userID string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if _, err := t.managedUser(userID); err != nil {
			return err
		}
		if err := t.principal.RequireRecentAuth(t.now); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM mfa_totp WHERE tenant_id = ? AND user_id = ?",
			"DELETE FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ?",
			"DELETE FROM webauthn_credentials WHERE tenant_id = ? AND user_id = ?",
		} {
			if _, err := t.exec(q, t.tenantID, userID); err != nil {
				return err
			}
		}
		if err := t.killSessions(userID, ""); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "mfa.reset", TargetKind: "user", TargetID: userID, Privileged: true})
	})
}

// MFAStatus says which factors the session's user has.
type MFAStatus struct {
	TOTP          bool `json:"totp"`
	Passkeys      int  `json:"passkeys"`
	RecoveryCodes int  `json:"recovery_codes_left"`
}

// Factors returns the MFA status of the session's tenant user.
func (db *DB) Factors(ctx context.Context) (*MFAStatus, error) {
	p, err := subject(ctx)
	if err != nil || p.Kind != bulwark.KindUser {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only tenant users")
	}
	st := &MFAStatus{}
	err = db.inTenant(ctx, false, func(t *tenantTx) error {
		var n int
		if err := t.queryRow("SELECT count(*) FROM mfa_totp WHERE tenant_id = ? AND user_id = ? AND confirmed_at IS NOT NULL", t.tenantID, p.ID).Scan(&n); err != nil {
			return err
		}
		st.TOTP = n > 0
		if err := t.queryRow("SELECT count(*) FROM webauthn_credentials WHERE tenant_id = ? AND user_id = ?", t.tenantID, p.ID).Scan(&st.Passkeys); err != nil {
			return err
		}
		return t.queryRow("SELECT count(*) FROM mfa_recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL", t.tenantID, p.ID).Scan(&st.RecoveryCodes)
	})
	return st, err
}

// AccountEmail returns the email of the session's tenant user or operator.
func (db *DB) AccountEmail(ctx context.Context) (string, error) {
	p, err := subject(ctx)
	if err != nil {
		return "", err
	}
	var email string
	if p.Kind == bulwark.KindOperator {
		err = db.inGlobal(ctx, false, func(t *globalTx) error {
			return t.queryRow("SELECT email FROM operators WHERE id = ?", p.ID).Scan(&email)
		})
	} else {
		err = db.inTenant(ctx, false, func(t *tenantTx) error {
			return t.queryRow("SELECT email FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, p.ID).Scan(&email)
		})
	}
	return email, err
}

// ResetOperatorMFA removes an operator's authenticator app and ends their
// sessions, for an operator who lost their device. Only the local command
// line (whoever holds the database) may do it; it is audited as
// privileged. The operator enrols again at the next login.
func (db *DB) ResetOperatorMFA(ctx context.Context, email string) error {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Kind != bulwark.KindSystem {
		return bulwark.Errorf(bulwark.EForbidden, "only the local command line may reset an operator's second factor")
	}
	email, err := bulwark.NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	return db.inGlobal(ctx, true, func(t *globalTx) error {
		var opID string
		err := t.queryRow("SELECT id FROM operators WHERE email = ?", email).Scan(&opID)
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.NotFound("operator")
		}
		if err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM operator_totp WHERE operator_id = ?", opID); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM operator_webauthn WHERE operator_id = ?", opID); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM operator_secrets WHERE operator_id = ? AND kind = ?", opID, secret.Session); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "mfa.reset", TargetKind: "operator", TargetID: opID, Privileged: true})
	})
}

// operatorFactors counts an operator's confirmed second factors.
func (t *globalTx) operatorFactors(opID string) (int, error) {
	var n int
	err := t.queryRow(`SELECT (SELECT count(*) FROM operator_totp WHERE operator_id = ? AND confirmed_at IS NOT NULL)
		+ (SELECT count(*) FROM operator_webauthn WHERE operator_id = ?)`, opID, opID).Scan(&n)
	return n, err
}

// Operators' TOTP secrets are sealed under the KEK (there is no tenant key
// to use), bound to the operator, and kept as text: "kek:" and base64.
const operatorSecretPrefix = "kek:"

func operatorTOTPLabel(operatorID string) string { return "operator_totp/" + operatorID }

// sealOperatorSecret seals an operator's TOTP secret under the KEK's
// current version, holding the KEK lock (kekLockClass) for the rest of the
// transaction, which writes it.
func (t *globalTx) sealOperatorSecret(operatorID, secret string) (string, error) {
	ring, err := t.db.ring()
	if err != nil {
		return "", err
	}
	if err := t.holdKEK(false); err != nil {
		return "", err
	}
	for range 3 {
		ct, err := ring.SealSecret(t.ctx, operatorTOTPLabel(operatorID), []byte(secret))
		if err != nil {
			return "", err
		}
		if ring.SealedBy(ct) == ring.KEK() { // else a rotation passed meanwhile
			return operatorSecretPrefix + base64.StdEncoding.EncodeToString(ct), nil
		}
	}
	return "", bulwark.Errorf(bulwark.EConflict, "the key-encryption key keeps changing: try again")
}

// operatorSecretKEK names the KEK version that sealed a stored operator
// TOTP secret ("" if none does).
func operatorSecretKEK(ring *keys.Ring, stored string) string {
	b64, ok := strings.CutPrefix(stored, operatorSecretPrefix)
	if !ok {
		return ""
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return ""
	}
	return ring.SealedBy(ct)
}

func (db *DB) openOperatorSecret(ctx context.Context, operatorID, stored string) (string, error) {
	b64, ok := strings.CutPrefix(stored, operatorSecretPrefix)
	if !ok {
		return "", fmt.Errorf("operator TOTP secret is not sealed")
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("operator TOTP secret: %w", err)
	}
	ring, err := db.ring()
	if err != nil {
		return "", err
	}
	pt, err := ring.OpenSecret(ctx, operatorTOTPLabel(operatorID), ct)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// resealOperatorSecrets seals every operator's TOTP secret that the KEK's
// current version does not seal again under it, so that retiring old
// versions loses none. It returns how many it sealed again.
func (db *DB) resealOperatorSecrets(ctx context.Context) (int, error) {
	ring, err := db.ring()
	if err != nil {
		return 0, err
	}
	n := 0
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		n = 0
		if err := t.holdKEK(false); err != nil {
			return err
		}
		rows, err := t.query("SELECT operator_id, secret FROM operator_totp")
		if err != nil {
			return err
		}
		type row struct{ id, secret string }
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.secret); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range all {
			if operatorSecretKEK(ring, r.secret) == ring.KEK() {
				continue
			}
			plain, err := db.openOperatorSecret(t.ctx, r.id, r.secret)
			if err != nil {
				return err
			}
			sealed, err := t.sealOperatorSecret(r.id, plain)
			if err != nil {
				return err
			}
			if _, err := t.exec("UPDATE operator_totp SET secret = ? WHERE operator_id = ?", sealed, r.id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// staleOperatorSecrets counts the operators whose TOTP secret the KEK's
// current version does not seal.
func (t *globalTx) staleOperatorSecrets(ring *keys.Ring) (int, error) {
	secrets, err := t.queryStrings("SELECT secret FROM operator_totp")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range secrets {
		if operatorSecretKEK(ring, s) != ring.KEK() {
			n++
		}
	}
	return n, nil
}
