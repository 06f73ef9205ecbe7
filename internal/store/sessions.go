package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// Verifier checks a password against a stored hash. It is called exactly
// once per login attempt, with "" when there is no usable account, so the
// caller can spend the same time either way. It returns whether the
// password matched and, when the hash should be upgraded, a new one.
type Verifier func(storedHash string) (ok bool, rehash string, err error)

// PasswordTarget is what judging a new password for one account needs: the
// tenant's policy, the context words, and the hashes it may not reuse.
type PasswordTarget struct {
	Policy                        bulwark.PasswordPolicy
	TenantName, TenantSlug, Email string
	// History holds the hashes of the last Policy.History passwords,
	// newest first (the current one included).
	History []string
	// CurrentHash is the account's password hash ("" before activation).
	CurrentHash string
}

// Compliance reports whether a password that just verified still meets
// the tenant's policy (a tightened policy applies at the next login).
type Compliance func(*PasswordTarget) bool

// errLogin is the one answer to every failed login: unknown tenant, unknown
// email, wrong password or disabled account look the same.
var errLogin = bulwark.Errorf(bulwark.EUnauthenticated, "the tenant, email or password is wrong")

var errBadSecret = bulwark.Errorf(bulwark.EUnauthenticated, "the credential is invalid or expired; log in again")

// touchEvery bounds how often a session's last use is written: often
// enough for the idle timeout, rarely enough not to make every read a write.
const touchEvery = time.Minute

// historyKept is how many old hashes are kept per user whatever the
// policy says, so raising the policy's history takes effect at once.
const historyKept = bulwark.MaxPasswordHistory

// lookupUser finds an active user by tenant slug and email, outside any
// write transaction. Unknown ones give empty ids and no error.
func (db *DB) lookupUser(ctx context.Context, slug, email string) (tenantID, userID, hash string, err error) {
	if bulwark.ValidateSlug(slug) != nil {
		return "", "", "", nil
	}
	err = db.inGlobal(ctx, false, func(t *globalTx) error {
		return t.queryRow("SELECT id FROM tenants WHERE slug = ?", slug).Scan(&tenantID)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", nil
	}
	if err != nil {
		return "", "", "", err
	}
	err = db.inTenantID(ctx, tenantID, nil, false, func(t *tenantTx) error {
		return t.queryRow("SELECT id, password_hash FROM users WHERE tenant_id = ? AND email = ? AND status = ?",
			t.tenantID, email, bulwark.StatusActive).Scan(&userID, &hash)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return tenantID, "", "", nil
	}
	return tenantID, userID, hash, err
}

// PasswordLogin checks a tenant user's password with verify and opens a
// session. The attempt is counted first (brute-force defence); the hash
// is checked outside any transaction, so slow hashing never holds the
// database's write lock. The session is complete only when nothing more
// is owed: a user with a second factor gets a StageMFA session, a user
// the tenant requires to enrol a StageEnrol one, and a password that no
// longer meets the policy (or has expired) a StagePassword one.
func (db *DB) PasswordLogin(ctx context.Context, c bulwark.Credentials, verify Verifier, compliant Compliance) (*bulwark.Session, error) {
	email, emailErr := bulwark.NormalizeEmail("email", c.Email)
	if emailErr != nil {
		email = c.Email
	}
	var tenantID, userID, hash string
	if emailErr == nil {
		var err error
		if tenantID, userID, hash, err = db.lookupUser(ctx, c.Tenant, email); err != nil {
			return nil, err
		}
	}
	// An SSO-only tenant takes only its fallback owners' passwords
	// (AUTH-5). Anyone else's is checked against nothing, and every
	// refusal there, a fallback owner's wrong password included, is
	// counted and answered alike (errSSOOnly): neither the answer, nor the
	// time, nor the throttle tells which emails are fallback owners.
	ssoOnly, fallback, err := db.ssoOnly(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if ssoOnly && !fallback {
		hash = ""
	}
	key := userKey(c.Tenant, email)
	if err := db.Attempt(ctx, key); err != nil {
		return nil, err
	}
	ok, rehash, err := verify(hash)
	if err != nil {
		return nil, err
	}
	if !ok || userID == "" || hash == "" {
		// Recorded in the tenant the slug named (or at deployment level):
		// the target is the account if it exists, never the typed email.
		if err := db.auditLoginFailure(ctx, tenantID, "user", userID); err != nil {
			return nil, err
		}
		if ssoOnly {
			return nil, errSSOOnly
		}
		return nil, errLogin
	}
	var s *bulwark.Session
	p := &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: tenantID}
	err = db.inTenantID(ctx, tenantID, p, true, func(t *tenantTx) error {
		// The account may have been disabled since the check above.
		var status string
		var changedAt int64
		var required int
		if err := t.queryRow("SELECT status, password_changed_at, password_change_required FROM users WHERE tenant_id = ? AND id = ?",
			t.tenantID, userID).Scan(&status, &changedAt, &required); err != nil || status != string(bulwark.StatusActive) {
			return errLogin
		}
		if err := t.clearFailures(key); err != nil {
			return err
		}
		if rehash != "" {
			if _, err := t.exec("UPDATE users SET password_hash = ? WHERE tenant_id = ? AND id = ?", rehash, t.tenantID, userID); err != nil {
				return err
			}
		}
		settings, err := t.authSettings()
		if err != nil {
			return err
		}
		// A tightened policy or an (opt-in) expired password: the user
		// must change it before anything else. Judged now, while the
		// plaintext is at hand; remembered so MFA does not skip it.
		pol := settings.PasswordPolicy
		expired := pol.MaxAgeDays > 0 && changedAt > 0 && t.now.Sub(fromMicros(changedAt)) > time.Duration(pol.MaxAgeDays)*24*time.Hour
		if required == 0 && compliant != nil {
			target, err := t.passwordTarget(userID, 0)
			if err != nil {
				return err
			}
			if expired || !compliant(target) {
				required = 1
				if _, err := t.exec("UPDATE users SET password_change_required = 1 WHERE tenant_id = ? AND id = ?", t.tenantID, userID); err != nil {
					return err
				}
			}
		}
		stage, err := t.loginStage(userID, settings, required == 1)
		if err != nil {
			return err
		}
		s, err = t.newSession(userID, stage, settings, t.now)
		if err != nil {
			return err
		}
		if s.NewDevice, err = t.seeDevice(userID); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.login", TargetKind: "user", TargetID: userID, Fields: stageFields(stage)})
	})
	return s, err
}

func stageFields(stage string) []string {
	if stage == "" {
		return nil
	}
	return []string{"stage:" + stage}
}

// loginStage decides what a password login still owes.
func (t *tenantTx) loginStage(userID string, s bulwark.AuthSettings, passwordChange bool) (string, error) {
	enrolled, err := t.mfaEnrolled(userID)
	if err != nil {
		return "", err
	}
	if enrolled {
		return bulwark.StageMFA, nil
	}
	return t.afterMFAStage(userID, s, passwordChange)
}

// afterMFAStage is the stage once any second factor is done.
func (t *tenantTx) afterMFAStage(userID string, s bulwark.AuthSettings, passwordChange bool) (string, error) {
	enrolled, err := t.mfaEnrolled(userID)
	if err != nil {
		return "", err
	}
	if !enrolled {
		gs, err := t.grantsOf(userID)
		if err != nil {
			return "", err
		}
		roles, err := t.roles()
		if err != nil {
			return "", err
		}
		if bulwark.MFARequired(s.MFA, resolve(roles, gs[userID])) {
			return bulwark.StageEnrol, nil
		}
	}
	if passwordChange {
		return bulwark.StagePassword, nil
	}
	return "", nil
}

// mfaEnrolled reports whether the user has a confirmed second factor.
func (t *tenantTx) mfaEnrolled(userID string) (bool, error) {
	var n int
	err := t.queryRow(`SELECT (SELECT count(*) FROM mfa_totp WHERE tenant_id = ? AND user_id = ? AND confirmed_at IS NOT NULL)
		+ (SELECT count(*) FROM webauthn_credentials WHERE tenant_id = ? AND user_id = ?)`,
		t.tenantID, userID, t.tenantID, userID).Scan(&n)
	return n > 0, err
}

// newSession opens a session for userID with a fresh secret (so a login
// or a step up never keeps a token an attacker may have planted: no
// fixation), the tenant's timeouts, and authAt as the last proof of
// identity.
func (t *tenantTx) newSession(userID, stage string, s bulwark.AuthSettings, authAt time.Time) (*bulwark.Session, error) {
	plain, h := secret.New(secret.Session, t.tenantID)
	exp := t.now.Add(s.SessionAbsolute())
	idle := s.SessionIdle()
	publicID := secret.RandomID()
	client, err := t.sealSessionClient(publicID, bulwark.RequestInfoFrom(t.ctx))
	if err != nil {
		return nil, err
	}
	_, err = t.exec(`INSERT INTO user_secrets (tenant_id, id, kind, user_id, created_at, expires_at, last_seen_at, stage, public_id, idle_us, auth_at, client_ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`,
		t.tenantID, h, secret.Session, userID, micros(t.now), micros(exp), micros(t.now), stage, publicID, idle.Microseconds(), micros(authAt), client)
	if err != nil {
		return nil, err
	}
	return &bulwark.Session{Token: plain, ExpiresAt: exp, IdleTimeout: idle, Next: stage}, nil
}

// userAgentMax bounds the User-Agent kept with a session, in bytes.
const userAgentMax = 200

// clipUserAgent makes a client's User-Agent fit a session row: valid
// UTF-8 (invalid bytes become U+FFFD) without NUL, both of which
// PostgreSQL refuses in text, cut to userAgentMax bytes on a character
// boundary (a cut inside a character would be invalid UTF-8 again). The
// header is the client's to write: a refused row would fail the login.
func clipUserAgent(ua string) string {
	ua = strings.ReplaceAll(strings.ToValidUTF8(ua, "\uFFFD"), "\x00", "")
	if len(ua) <= userAgentMax {
		return ua
	}
	cut := userAgentMax
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// killSessions ends every session of userID; keep, if not "", survives.
func (t *tenantTx) killSessions(userID, keep string) error {
	_, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ? AND id <> ?", t.tenantID, userID, secret.Session, keep)
	return err
}

// OperatorPasswordLogin is PasswordLogin for operators. Operators always
// need a second factor (AUTH-8): the password alone yields a session that
// can only complete MFA, or enrol a factor if the operator has none.
func (db *DB) OperatorPasswordLogin(ctx context.Context, email string, verify Verifier) (*bulwark.Session, error) {
	var opID, hash string
	e, emailErr := bulwark.NormalizeEmail("email", email)
	if emailErr == nil {
		err := db.inGlobal(ctx, false, func(t *globalTx) error {
			return t.queryRow("SELECT id, password_hash FROM operators WHERE email = ? AND status = ?", e, bulwark.StatusActive).Scan(&opID, &hash)
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	} else {
		e = email
	}
	key := operatorKey(e)
	if err := db.Attempt(ctx, key); err != nil {
		return nil, err
	}
	ok, rehash, err := verify(hash)
	if err != nil {
		return nil, err
	}
	if !ok || opID == "" || hash == "" {
		if err := db.auditLoginFailure(ctx, "", "operator", opID); err != nil {
			return nil, err
		}
		return nil, errLogin
	}
	var s *bulwark.Session
	p := &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		t.principal = p
		if err := t.clearFailures(key); err != nil {
			return err
		}
		if rehash != "" {
			if _, err := t.exec("UPDATE operators SET password_hash = ? WHERE id = ?", rehash, opID); err != nil {
				return err
			}
		}
		stage := bulwark.StageEnrol
		n, err := t.operatorFactors(opID)
		if err != nil {
			return err
		}
		if n > 0 {
			stage = bulwark.StageMFA
		}
		s, err = t.newOperatorSession(opID, stage)
		if err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "auth.login", TargetKind: "operator", TargetID: opID, Fields: stageFields(stage), Privileged: true})
	})
	return s, err
}

func (t *globalTx) newOperatorSession(opID, stage string) (*bulwark.Session, error) {
	plain, h := secret.New(secret.Session, secret.OperatorScope)
	exp := t.now.Add(t.db.opt.SessionAbsolute)
	if _, err := t.exec(`INSERT INTO operator_secrets (id, kind, operator_id, created_at, expires_at, last_seen_at, stage, auth_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		h, secret.Session, opID, micros(t.now), micros(exp), micros(t.now), stage, micros(t.now)); err != nil {
		return nil, err
	}
	return &bulwark.Session{Token: plain, ExpiresAt: exp, IdleTimeout: t.db.opt.SessionIdle, Next: stage}, nil
}

// Authenticate resolves a bearer secret to a principal.
func (db *DB) Authenticate(ctx context.Context, bearer string) (*bulwark.Principal, error) {
	kind, scope, ok := secret.Parse(bearer)
	if !ok || (kind != secret.Session && kind != secret.Token) {
		return nil, errBadSecret
	}
	hash := secret.Hash(bearer)
	if scope == secret.OperatorScope {
		if kind != secret.Session {
			return nil, errBadSecret
		}
		return db.authenticateOperator(ctx, hash)
	}
	if p, ok := db.cache.get(scope, hash, micros(db.now())); ok {
		return p, nil
	}
	gen := db.cache.snapshot(scope)
	var p *bulwark.Principal
	var touch bool
	var until int64
	err := db.inTenantID(ctx, scope, nil, false, func(t *tenantTx) error {
		var err error
		if kind == secret.Session {
			p, touch, until, err = t.sessionPrincipal(hash)
		} else {
			p, touch, until, err = t.tokenPrincipal(hash)
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
			t.keepAuth = true // the last use moves, the principal does not
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
	db.cache.put(scope, hash, gen, p, until)
	return p, nil
}

// The principal readers return, besides the principal, whether its last use
// is due to be written (touch) and until when (microseconds) it may be
// cached: the earliest of its end, its idle end, its next touch and
// authCacheMaxAge from now, counting a due touch as done.

func (t *tenantTx) sessionPrincipal(hash string) (p *bulwark.Principal, touch bool, until int64, err error) {
	var userID, stage string
	var expires, lastSeen, idle, authAt int64
	err = t.queryRow(`SELECT s.user_id, s.expires_at, s.last_seen_at, s.stage, s.idle_us, s.auth_at FROM user_secrets s
		JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
		WHERE s.tenant_id = ? AND s.id = ? AND s.kind = ? AND u.status = ?`,
		t.tenantID, hash, secret.Session, bulwark.StatusActive).Scan(&userID, &expires, &lastSeen, &stage, &idle, &authAt)
	if err != nil {
		return nil, false, 0, err
	}
	if idle <= 0 {
		idle = t.db.opt.SessionIdle.Microseconds()
	}
	now := micros(t.now)
	if now >= expires || now >= lastSeen+idle {
		return nil, false, 0, errBadSecret
	}
	p = &bulwark.Principal{Kind: bulwark.KindUser, ID: userID, TenantID: t.tenantID, SessionID: hash, Stage: stage, Grants: []bulwark.ResolvedGrant{}}
	if authAt > 0 {
		p.AuthAt = fromMicros(authAt)
	}
	// An incomplete session holds no grants: it reaches only what any
	// login may (its own MFA, enrolment, password change, logout).
	if stage == "" {
		gs, err := t.grantsOf(userID)
		if err != nil {
			return nil, false, 0, err
		}
		roles, err := t.rolesFor(gs[userID])
		if err != nil {
			return nil, false, 0, err
		}
		p.Grants = resolve(roles, gs[userID])
	}
	touch = now >= lastSeen+touchEvery.Microseconds()
	if touch {
		lastSeen = now // the caller writes it
	}
	return p, touch, min(expires, lastSeen+idle, lastSeen+touchEvery.Microseconds(), now+authCacheMaxAge.Microseconds()), nil
}

func (t *tenantTx) tokenPrincipal(hash string) (p *bulwark.Principal, touch bool, until int64, err error) {
	var id string
	var g bulwark.Grant
	var expires int64
	var revoked, used sql.NullInt64
	var maker string
	var makerStatus sql.NullString
	err = t.queryRow(`SELECT a.id, a.role, a.collection, a.expires_at, a.revoked_at, a.last_used_at, a.created_by, u.status FROM api_tokens a
		LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.created_by
		WHERE a.tenant_id = ? AND a.secret_hash = ?`,
		t.tenantID, hash).Scan(&id, &g.Role, &g.Collection, &expires, &revoked, &used, &maker, &makerStatus)
	if err != nil {
		return nil, false, 0, err
	}
	now := micros(t.now)
	if revoked.Valid || now >= expires {
		return nil, false, 0, errBadSecret
	}
	// A token acts on the authority of the user who made it: disabling or
	// removing them revokes it (revokeTokensMadeBy), and, should a token
	// have escaped that (made before the rule, say), it is refused here
	// too. A token made by another token is refused if its maker is no
	// token of the tenant either; the chain above it ends with its user
	// through revokeTokensMadeBy, which a single join cannot follow. An
	// invited maker is let through: no invited user can make a token, but
	// a setup holding the database (bench) makes one as a tenant's first
	// owner before activation, and an invited user never becomes one who
	// was disabled or removed without passing through those.
	if makerStatus.Valid && makerStatus.String != string(bulwark.StatusActive) && makerStatus.String != string(bulwark.StatusInvited) {
		return nil, false, 0, errBadSecret
	}
	if !makerStatus.Valid {
		var n int
		if err := t.queryRow("SELECT count(*) FROM api_tokens WHERE tenant_id = ? AND id = ?", t.tenantID, maker).Scan(&n); err != nil {
			return nil, false, 0, err
		}
		if n == 0 {
			return nil, false, 0, errBadSecret
		}
	}
	roles, err := t.rolesFor([]bulwark.Grant{g})
	if err != nil {
		return nil, false, 0, err
	}
	p = &bulwark.Principal{Kind: bulwark.KindToken, ID: id, TenantID: t.tenantID, Grants: resolve(roles, []bulwark.Grant{g})}
	touch = !used.Valid || now >= used.Int64+touchEvery.Microseconds()
	if touch {
		used.Int64 = now // the caller writes it
	}
	return p, touch, min(expires, used.Int64+touchEvery.Microseconds(), now+authCacheMaxAge.Microseconds()), nil
}

func (db *DB) authenticateOperator(ctx context.Context, hash string) (*bulwark.Principal, error) {
	var p *bulwark.Principal
	var touch bool
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		var opID, stage, roles string
		var expires, lastSeen, authAt int64
		err := t.queryRow(`SELECT s.operator_id, s.expires_at, s.last_seen_at, s.stage, s.auth_at, o.roles FROM operator_secrets s JOIN operators o ON o.id = s.operator_id
			WHERE s.id = ? AND s.kind = ? AND o.status = ?`, hash, secret.Session, bulwark.StatusActive).Scan(&opID, &expires, &lastSeen, &stage, &authAt, &roles)
		if err != nil {
			return err
		}
		now := micros(t.now)
		if now >= expires || now >= lastSeen+db.opt.SessionIdle.Microseconds() {
			return errBadSecret
		}
		p = &bulwark.Principal{Kind: bulwark.KindOperator, ID: opID, SessionID: hash, Stage: stage, OperatorRoles: parseRoles(roles)}
		if authAt > 0 {
			p.AuthAt = fromMicros(authAt)
		}
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

// userSession is the principal in ctx when it is a tenant user's session.
func userSession(ctx context.Context) (*bulwark.Principal, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Kind != bulwark.KindUser || p.SessionID == "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only a user's login session can do this")
	}
	return p, nil
}

// completeUserSession is userSession for a login that is complete: a
// session that still owes a step (a second factor, say) knows only the
// password, which must not be enough to see where the user is signed in
// or to end their other sessions.
func completeUserSession(ctx context.Context) (*bulwark.Principal, error) {
	p, err := userSession(ctx)
	if err == nil && p.Stage != "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "finish signing in first: this session still owes the %q step", p.Stage)
	}
	return p, err
}

// ListSessions lists the caller's own sessions (AUTH-7).
func (db *DB) ListSessions(ctx context.Context) ([]*bulwark.SessionInfo, error) {
	p, err := completeUserSession(ctx)
	if err != nil {
		return nil, err
	}
	var out []*bulwark.SessionInfo
	err = db.inTenant(ctx, false, func(t *tenantTx) error {
		out, err = t.sessionsOf(p.ID, p.SessionID)
		return err
	})
	return out, err
}

// ListUserSessions lists the sessions of a user of the caller's tenant
// (AUTH-6: admins see and revoke sessions). Needs users.manage; an
// owner's, tenant.own.
func (db *DB) ListUserSessions(ctx context.Context, userID string) ([]*bulwark.SessionInfo, error) {
	var out []*bulwark.SessionInfo
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermUsersManage); err != nil {
			return err
		}
		u, err := t.user(userID)
		if err != nil {
			return err
		}
		// Owners only for owners, as for ending them: a session's list
		// shows where its user signs in from.
		if slices.ContainsFunc(u.Grants, func(g bulwark.Grant) bool { return g.Role == bulwark.RoleOwner }) && !t.principal.Can(bulwark.PermTenantOwn, "") {
			return bulwark.Errorf(bulwark.EForbidden, "only an owner sees an owner's sessions")
		}
		out, err = t.sessionsOf(userID, t.principal.SessionID)
		return err
	})
	return out, err
}

func (t *tenantTx) sessionsOf(userID, current string) ([]*bulwark.SessionInfo, error) {
	out := []*bulwark.SessionInfo{}
	var clients [][2]string
	rows, err := t.query(`SELECT id, public_id, created_at, last_seen_at, expires_at, client_ip, user_agent, stage FROM user_secrets
		WHERE tenant_id = ? AND user_id = ? AND kind = ? AND expires_at > ? ORDER BY created_at DESC`,
		t.tenantID, userID, secret.Session, micros(t.now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, clientIP, userAgent string
		var created, seen, exp int64
		s := &bulwark.SessionInfo{}
		if err := rows.Scan(&id, &s.ID, &created, &seen, &exp, &clientIP, &userAgent, &s.Stage); err != nil {
			return nil, err
		}
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.Current = fromMicros(created), fromMicros(seen), fromMicros(exp), id == current
		out = append(out, s)
		clients = append(clients, [2]string{clientIP, userAgent})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Opened after the rows are read: opening may read the tenant's keys
	// (one connection, on SQLite's writer).
	t.openSessionClients(out, clients)
	return out, nil
}

// RevokeSession ends one of the caller's own sessions, by its listed id.
func (db *DB) RevokeSession(ctx context.Context, id string) error {
	p, err := completeUserSession(ctx)
	if err != nil {
		return err
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		res, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ? AND public_id = ?", t.tenantID, p.ID, secret.Session, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.NotFound("session")
		}
		return t.audit(auditEntry{Action: "session.revoke", TargetKind: "user", TargetID: p.ID})
	})
}

// RevokeUserSessions ends every session of a user of the caller's tenant
// (users.manage; owners only for owners).
func (db *DB) RevokeUserSessions(ctx context.Context, userID string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if _, err := t.managedUser(userID); err != nil {
			return err
		}
		if err := t.killSessions(userID, ""); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "session.revoke_all", TargetKind: "user", TargetID: userID, Privileged: true})
	})
}

// seeDevice records the request's user agent for userID and reports
// whether it is new for an account that had signed in before.
func (t *tenantTx) seeDevice(userID string) (bool, error) {
	ua := bulwark.RequestInfoFrom(t.ctx).UserAgent
	sum := sha256.Sum256([]byte(ua))
	device := hex.EncodeToString(sum[:16])
	res, err := t.exec("UPDATE user_devices SET last_seen = ? WHERE tenant_id = ? AND user_id = ? AND device = ?", micros(t.now), t.tenantID, userID, device)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return false, nil
	}
	var known int
	if err := t.queryRow("SELECT count(*) FROM user_devices WHERE tenant_id = ? AND user_id = ?", t.tenantID, userID).Scan(&known); err != nil {
		return false, err
	}
	if _, err := t.exec("INSERT INTO user_devices (tenant_id, user_id, device, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
		t.tenantID, userID, device, micros(t.now), micros(t.now)); err != nil {
		return false, err
	}
	return known > 0, nil
}
