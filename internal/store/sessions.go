package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// Verifier checks a password against a stored hash. It is called exactly
// once per login attempt, with "" when there is no usable account, so the
// caller can spend the same time either way. It returns whether the
// password matched and, when the hash should be upgraded, a new one.
type Verifier func(storedHash string) (ok bool, rehash string, err error)

// errLogin is the one answer to every failed login: unknown tenant, unknown
// email, wrong password or disabled account look the same.
var errLogin = bulwark.Errorf(bulwark.EUnauthenticated, "the tenant, email or password is wrong")

var errBadSecret = bulwark.Errorf(bulwark.EUnauthenticated, "the credential is invalid or expired; log in again")

// touchEvery bounds how often a session's last use is written: often
// enough for the idle timeout, rarely enough not to make every read a write.
const touchEvery = time.Minute

// PasswordLogin checks a tenant user's password with verify and opens a
// session. The password hash is checked outside any transaction, so slow
// hashing never holds the database's write lock.
func (db *DB) PasswordLogin(ctx context.Context, c bulwark.Credentials, verify Verifier) (*bulwark.Session, error) {
	var tenantID, userID, hash string
	email, emailErr := bulwark.NormalizeEmail("email", c.Email)
	if emailErr == nil && bulwark.ValidateSlug(c.Tenant) == nil {
		err := db.inGlobal(ctx, false, func(t *globalTx) error {
			return t.queryRow("SELECT id FROM tenants WHERE slug = ?", c.Tenant).Scan(&tenantID)
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	if tenantID != "" {
		err := db.inTenantID(ctx, tenantID, nil, false, func(t *tenantTx) error {
			return t.queryRow("SELECT id, password_hash FROM users WHERE tenant_id = ? AND email = ? AND status = ?",
				t.tenantID, email, bulwark.StatusActive).Scan(&userID, &hash)
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	ok, rehash, err := verify(hash)
	if err != nil {
		return nil, err
	}
	if !ok || userID == "" || hash == "" {
		return nil, errLogin
	}
	var s *bulwark.Session
	p := &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: tenantID}
	err = db.inTenantID(ctx, tenantID, p, true, func(t *tenantTx) error {
		// The account may have been disabled since the check above.
		var status string
		if err := t.queryRow("SELECT status FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, userID).Scan(&status); err != nil || status != string(bulwark.StatusActive) {
			return errLogin
		}
		if rehash != "" {
			if _, err := t.exec("UPDATE users SET password_hash = ? WHERE tenant_id = ? AND id = ?", rehash, t.tenantID, userID); err != nil {
				return err
			}
		}
		plain, h := secret.New(secret.Session, t.tenantID)
		exp := t.now.Add(db.opt.SessionAbsolute)
		if _, err := t.exec(`INSERT INTO user_secrets (tenant_id, id, kind, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.tenantID, h, secret.Session, userID, micros(t.now), micros(exp), micros(t.now)); err != nil {
			return err
		}
		s = &bulwark.Session{Token: plain, ExpiresAt: exp, IdleTimeout: db.opt.SessionIdle}
		return t.audit(auditEntry{Action: "auth.login", TargetKind: "user", TargetID: userID})
	})
	return s, err
}

// OperatorPasswordLogin is PasswordLogin for operators.
func (db *DB) OperatorPasswordLogin(ctx context.Context, email string, verify Verifier) (*bulwark.Session, error) {
	var opID, hash string
	if e, err := bulwark.NormalizeEmail("email", email); err == nil {
		err := db.inGlobal(ctx, false, func(t *globalTx) error {
			return t.queryRow("SELECT id, password_hash FROM operators WHERE email = ? AND status = ?", e, bulwark.StatusActive).Scan(&opID, &hash)
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	ok, rehash, err := verify(hash)
	if err != nil {
		return nil, err
	}
	if !ok || opID == "" || hash == "" {
		return nil, errLogin
	}
	var s *bulwark.Session
	p := &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		t.principal = p
		if rehash != "" {
			if _, err := t.exec("UPDATE operators SET password_hash = ? WHERE id = ?", rehash, opID); err != nil {
				return err
			}
		}
		plain, h := secret.New(secret.Session, secret.OperatorScope)
		exp := t.now.Add(db.opt.SessionAbsolute)
		if _, err := t.exec(`INSERT INTO operator_secrets (id, kind, operator_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)`,
			h, secret.Session, opID, micros(t.now), micros(exp), micros(t.now)); err != nil {
			return err
		}
		s = &bulwark.Session{Token: plain, ExpiresAt: exp, IdleTimeout: db.opt.SessionIdle}
		return t.audit(auditEntry{Action: "auth.login", TargetKind: "operator", TargetID: opID, Privileged: true})
	})
	return s, err
}

// Authenticate resolves a bearer secret to a principal.
func (db *DB) Authenticate(ctx context.Context, bearer string) (*bulwark.Principal, error) {
	kind, scope, ok := secret.Parse(bearer)
	if !ok || kind == secret.Activation {
		return nil, errBadSecret
	}
	hash := secret.Hash(bearer)
	if scope == secret.OperatorScope {
		if kind != secret.Session {
			return nil, errBadSecret
		}
		return db.authenticateOperator(ctx, hash)
	}
	var p *bulwark.Principal
	var touch bool
	err := db.inTenantID(ctx, scope, nil, false, func(t *tenantTx) error {
		var err error
		if kind == secret.Session {
			p, touch, err = t.sessionPrincipal(hash)
		} else {
			p, touch, err = t.tokenPrincipal(hash)
		}
		if err != nil {
			return err
		}
		return t.queryRow("SELECT slug FROM tenants WHERE id = ?", t.tenantID).Scan(&p.TenantSlug)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadSecret
	}
	if err != nil {
		return nil, err
	}
	if touch {
		err = db.inTenantID(ctx, scope, p, true, func(t *tenantTx) error {
			if kind == secret.Session {
				_, err := t.exec("UPDATE user_secrets SET last_seen_at = ? WHERE tenant_id = ? AND id = ?", micros(t.now), t.tenantID, hash)
				return err
			}
			_, err := t.exec("UPDATE api_tokens SET last_used_at = ? WHERE tenant_id = ? AND id = ?", micros(t.now), t.tenantID, p.ID)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (t *tenantTx) sessionPrincipal(hash string) (*bulwark.Principal, bool, error) {
	var userID string
	var expires, lastSeen int64
	err := t.queryRow(`SELECT s.user_id, s.expires_at, s.last_seen_at FROM user_secrets s
		JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
		WHERE s.tenant_id = ? AND s.id = ? AND s.kind = ? AND u.status = ?`,
		t.tenantID, hash, secret.Session, bulwark.StatusActive).Scan(&userID, &expires, &lastSeen)
	if err != nil {
		return nil, false, err
	}
	now := micros(t.now)
	if now >= expires || now >= lastSeen+t.db.opt.SessionIdle.Microseconds() {
		return nil, false, errBadSecret
	}
	gs, err := t.grantsOf(userID)
	if err != nil {
		return nil, false, err
	}
	roles, err := t.roles()
	if err != nil {
		return nil, false, err
	}
	p := &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: t.tenantID, SessionID: hash, Grants: resolve(roles, gs[userID])}
	return p, now-lastSeen >= touchEvery.Microseconds(), nil
}

func (t *tenantTx) tokenPrincipal(hash string) (*bulwark.Principal, bool, error) {
	var id string
	var g bulwark.Grant
	var expires int64
	var revoked, used sql.NullInt64
	err := t.queryRow(`SELECT id, role, collection, expires_at, revoked_at, last_used_at FROM api_tokens WHERE tenant_id = ? AND secret_hash = ?`,
		t.tenantID, hash).Scan(&id, &g.Role, &g.Collection, &expires, &revoked, &used)
	if err != nil {
		return nil, false, err
	}
	now := micros(t.now)
	if revoked.Valid || now >= expires {
		return nil, false, errBadSecret
	}
	roles, err := t.roles()
	if err != nil {
		return nil, false, err
	}
	p := &bulwark.Principal{Kind: bulwark.KindToken, ID: id, TenantID: t.tenantID, Grants: resolve(roles, []bulwark.Grant{g})}
	return p, !used.Valid || now-used.Int64 >= touchEvery.Microseconds(), nil
}

func (db *DB) authenticateOperator(ctx context.Context, hash string) (*bulwark.Principal, error) {
	var p *bulwark.Principal
	var touch bool
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		var opID string
		var expires, lastSeen int64
		err := t.queryRow(`SELECT s.operator_id, s.expires_at, s.last_seen_at FROM operator_secrets s JOIN operators o ON o.id = s.operator_id
			WHERE s.id = ? AND s.kind = ? AND o.status = ?`, hash, secret.Session, bulwark.StatusActive).Scan(&opID, &expires, &lastSeen)
		if err != nil {
			return err
		}
		now := micros(t.now)
		if now >= expires || now >= lastSeen+db.opt.SessionIdle.Microseconds() {
			return errBadSecret
		}
		p = &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID, SessionID: hash}
		touch = now-lastSeen >= touchEvery.Microseconds()
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadSecret
	}
	if err == nil && touch {
		err = db.inGlobal(ctx, true, func(t *globalTx) error {
			_, err := t.exec("UPDATE operator_secrets SET last_seen_at = ? WHERE id = ?", micros(t.now), hash)
			return err
		})
	}
	return p, err
}

// Logout ends the session of the principal in ctx.
func (db *DB) Logout(ctx context.Context) error {
	p := bulwark.FromContext(ctx)
	if p == nil || p.SessionID == "" {
		return bulwark.Errorf(bulwark.EInvalid, "only a session can log out; revoke API tokens instead")
	}
	if p.Kind == bulwark.KindOperator {
		return db.inGlobal(ctx, true, func(t *globalTx) error {
			if _, err := t.exec("DELETE FROM operator_secrets WHERE id = ?", p.SessionID); err != nil {
				return err
			}
			return t.audit(auditEntry{Action: "auth.logout", TargetKind: "operator", TargetID: p.ID})
		})
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if _, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND id = ?", t.tenantID, p.SessionID); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.logout", TargetKind: "user", TargetID: p.ID})
	})
}

var errActivation = bulwark.Errorf(bulwark.EGone, "the activation link is invalid, used or expired; ask for a new one")

// CheckActivation reports whether an activation secret can still be used,
// so that a bad one is refused before any password is hashed.
func (db *DB) CheckActivation(ctx context.Context, token string) error {
	return db.activate(ctx, token, "")
}

// Activate uses a one-time activation secret to set the account's password
// hash and make it active. The secret works once.
func (db *DB) Activate(ctx context.Context, token, passwordHash string) error {
	if passwordHash == "" {
		return bulwark.Errorf(bulwark.EInvalid, "a password is required")
	}
	return db.activate(ctx, token, passwordHash)
}

func (db *DB) activate(ctx context.Context, token, passwordHash string) error {
	kind, scope, ok := secret.Parse(token)
	if !ok || kind != secret.Activation {
		return errActivation
	}
	hash := secret.Hash(token)
	write := passwordHash != ""
	if scope == secret.OperatorScope {
		return db.inGlobal(ctx, write, func(t *globalTx) error {
			var opID string
			err := t.queryRow("SELECT operator_id FROM operator_secrets WHERE id = ? AND kind = ? AND used_at IS NULL AND expires_at > ?",
				hash, secret.Activation, micros(t.now)).Scan(&opID)
			if err != nil {
				return activationErr(err)
			}
			if !write {
				return nil
			}
			t.principal = &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID}
			// The condition makes the secret single-use under concurrency.
			if err := onlyOnce(t.exec("UPDATE operator_secrets SET used_at = ? WHERE id = ? AND used_at IS NULL", micros(t.now), hash)); err != nil {
				return err
			}
			if _, err := t.exec("UPDATE operators SET password_hash = ?, status = ?, updated_at = ? WHERE id = ?", passwordHash, bulwark.StatusActive, micros(t.now), opID); err != nil {
				return err
			}
			return t.audit(auditEntry{Action: "auth.activate", TargetKind: "operator", TargetID: opID, Fields: []string{"password"}, Privileged: true})
		})
	}
	return db.inTenantID(ctx, scope, nil, write, func(t *tenantTx) error {
		var userID string
		err := t.queryRow(`SELECT s.user_id FROM user_secrets s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
			WHERE s.tenant_id = ? AND s.id = ? AND s.kind = ? AND s.used_at IS NULL AND s.expires_at > ? AND u.status <> ?`,
			t.tenantID, hash, secret.Activation, micros(t.now), bulwark.StatusDisabled).Scan(&userID)
		if err != nil {
			return activationErr(err)
		}
		if !write {
			return nil
		}
		t.principal = &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: t.tenantID}
		if err := onlyOnce(t.exec("UPDATE user_secrets SET used_at = ? WHERE tenant_id = ? AND id = ? AND used_at IS NULL", micros(t.now), t.tenantID, hash)); err != nil {
			return err
		}
		if _, err := t.exec("UPDATE users SET password_hash = ?, status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
			passwordHash, bulwark.StatusActive, micros(t.now), t.tenantID, userID); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.activate", TargetKind: "user", TargetID: userID, Fields: []string{"password"}})
	})
}

func activationErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errActivation
	}
	return err
}

// onlyOnce turns an UPDATE that changed no row into errActivation.
func onlyOnce(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errActivation
	}
	return nil
}
