package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// requireCan fails unless the principal holds perm tenant-wide. Routes check
// this too; the service checks again so library callers get the same rules.
func (t *tenantTx) requireCan(perm bulwark.Permission) error {
	if !t.principal.Can(perm, "") {
		return bulwark.Errorf(bulwark.EForbidden, "you lack the %s permission", perm)
	}
	return nil
}

// insertUser adds an invited user with grants and returns the activation
// secret.
func (t *tenantTx) insertUser(u *bulwark.User) (*bulwark.Invitation, error) {
	u.ID, u.Status, u.CreatedAt, u.UpdatedAt = newID(), bulwark.StatusInvited, t.now, t.now
	_, err := t.exec("INSERT INTO users (tenant_id, id, email, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		t.tenantID, u.ID, u.Email, u.Status, micros(t.now), micros(t.now))
	if t.db.dialect.isUnique(err) {
		return nil, bulwark.Conflict("email", "is taken by another user of this tenant")
	}
	if err != nil {
		return nil, err
	}
	if err := t.setGrants(u.ID, u.Grants); err != nil {
		return nil, err
	}
	plain, hash := secret.New(secret.Activation, t.tenantID)
	exp := t.now.Add(t.db.opt.InviteTTL)
	if _, err := t.exec(`INSERT INTO user_secrets (tenant_id, id, kind, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.tenantID, hash, secret.Activation, u.ID, micros(t.now), micros(exp), micros(t.now)); err != nil {
		return nil, err
	}
	privileged, err := t.grantsPrivileged(u.Grants)
	if err != nil {
		return nil, err
	}
	if err := t.audit(auditEntry{Action: "user.invite", TargetKind: "user", TargetID: u.ID, Fields: []string{"email", "grants"}, Privileged: privileged}); err != nil {
		return nil, err
	}
	return &bulwark.Invitation{Token: plain, ExpiresAt: exp}, nil
}

// grantsPrivileged reports whether any of the grants gives more than
// reading and changing collections and records (PRIV-2): the audit entry
// of a change that gives or takes such a grant is flagged privileged. It
// looks at what the roles hold, not at their names: a custom role with
// users.manage or roles.manage is as privileged as admin. A grant of a
// role that no longer exists gives nothing.
func (t *tenantTx) grantsPrivileged(gss ...[]bulwark.Grant) (bool, error) {
	var all []bulwark.Grant
	for _, gs := range gss {
		all = append(all, gs...)
	}
	roles, err := t.rolesFor(all)
	if err != nil {
		return false, err
	}
	for _, g := range resolve(roles, all) {
		for _, p := range g.Permissions {
			if privilegedPermission(p) {
				return true, nil
			}
		}
	}
	return false, nil
}

// privilegedPermission reports whether p reaches beyond collections and
// records: users, roles, tokens, settings, the audit log, the tenant.
func privilegedPermission(p bulwark.Permission) bool {
	switch p {
	case bulwark.PermCollectionsRead, bulwark.PermCollectionsManage, bulwark.PermRecordsRead, bulwark.PermRecordsWrite, bulwark.PermRecordsDelete:
		return false
	}
	return true
}

// setGrants replaces userID's grants. Every change of a user's grants
// goes through here: by an admin, by an IdP's role mapping at login, at
// invitation and provisioning.
func (t *tenantTx) setGrants(userID string, gs []bulwark.Grant) error {
	if _, err := t.exec("DELETE FROM user_grants WHERE tenant_id = ? AND user_id = ?", t.tenantID, userID); err != nil {
		return err
	}
	seen := map[bulwark.Grant]bool{}
	for _, g := range gs {
		if seen[g] {
			continue
		}
		seen[g] = true
		if _, err := t.exec("INSERT INTO user_grants (tenant_id, user_id, role, collection) VALUES (?, ?, ?, ?)",
			t.tenantID, userID, g.Role, g.Collection); err != nil {
			return err
		}
	}
	return t.endSessionsOwingEnrolment(userID, gs)
}

// endAllSessionsOwingEnrolment is endSessionsOwingEnrolment for every
// user of the tenant with a complete session, after its MFA mode changed:
// the mode and the roles are read once, not once a user.
func (t *tenantTx) endAllSessionsOwingEnrolment() error {
	settings, err := t.authSettings()
	if err != nil || settings.MFA == bulwark.MFAOptional {
		return err
	}
	ids, err := t.queryStrings("SELECT DISTINCT user_id FROM user_secrets WHERE tenant_id = ? AND kind = ? AND stage = ''", t.tenantID, secret.Session)
	if err != nil || len(ids) == 0 {
		return err
	}
	grants, err := t.grantsOf(ids...)
	if err != nil {
		return err
	}
	roles, err := t.roles()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := t.endSessionsIfOwing(settings.MFA, roles, id, grants[id]); err != nil {
			return err
		}
	}
	return nil
}

// endSessionsOwingEnrolment ends every session of userID when grants gs,
// under the tenant's MFA mode, require a second factor the user does not
// have (AUTH-3). A session's stage was decided at its login, for the
// grants of then: a viewer promoted to admin under "admins" would keep a
// password-only session acting as admin, where a fresh login owes
// enrolment. Ending the sessions makes the next request log in again,
// which decides the stage for the grants of now (and still takes an IdP's
// MFA evidence into account, which a session row does not keep).
func (t *tenantTx) endSessionsOwingEnrolment(userID string, gs []bulwark.Grant) error {
	settings, err := t.authSettings()
	if err != nil {
		return err
	}
	if settings.MFA == bulwark.MFAOptional {
		return nil
	}
	roles, err := t.rolesFor(gs)
	if err != nil {
		return err
	}
	return t.endSessionsIfOwing(settings.MFA, roles, userID, gs)
}

// endSessionsIfOwing ends userID's complete sessions when grants gs
// require a second factor under mode and the user has none.
func (t *tenantTx) endSessionsIfOwing(mode bulwark.MFAMode, roles map[string]bulwark.Role, userID string, gs []bulwark.Grant) error {
	if !bulwark.MFARequired(mode, resolve(roles, gs)) {
		return nil
	}
	enrolled, err := t.mfaEnrolled(userID)
	if err != nil || enrolled {
		return err
	}
	// Only complete sessions hold grants; one that owes a step decides
	// what comes next when that step is done.
	_, err = t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ? AND stage = ''", t.tenantID, userID, secret.Session)
	return err
}

// checkGrantable verifies that every grant names an existing role and
// collection, and that the principal holds every permission it hands out:
// nobody grants more than they have (no escalation).
func (t *tenantTx) checkGrantable(gs []bulwark.Grant) error {
	if err := bulwark.ValidateGrants(gs); err != nil {
		return err
	}
	roles, err := t.roles()
	if err != nil {
		return err
	}
	for _, g := range gs {
		r, ok := roles[g.Role]
		if !ok {
			return bulwark.FieldError("grants", "unknown role "+g.Role)
		}
		if g.Collection != "" {
			if _, err := t.collectionByName(g.Collection); err != nil {
				return bulwark.FieldError("grants", "unknown collection "+g.Collection)
			}
			for _, p := range r.Permissions {
				if !p.Scopable() {
					return bulwark.FieldError("grants", "role "+g.Role+" holds "+string(p)+", which cannot be limited to one collection")
				}
			}
		}
		for _, p := range r.Permissions {
			if !t.principal.Can(p, g.Collection) {
				return bulwark.Errorf(bulwark.EForbidden, "you cannot grant role %s: it holds %s, which you lack", g.Role, p)
			}
		}
	}
	return nil
}

// roles returns the tenant's roles by name, built-in and custom.
// rolesFor returns the roles that gs may name: only the built-in ones when
// every grant names a built-in role (custom roles cannot take their names),
// so authenticating the common principal costs no query for custom roles.
func (t *tenantTx) rolesFor(gs []bulwark.Grant) (map[string]bulwark.Role, error) {
	for _, g := range gs {
		if _, ok := bulwark.BuiltInRole(g.Role); !ok {
			return t.roles()
		}
	}
	out := make(map[string]bulwark.Role, len(bulwark.BuiltInRoles))
	for _, r := range bulwark.BuiltInRoles {
		out[r.Name] = r
	}
	return out, nil
}

func (t *tenantTx) roles() (map[string]bulwark.Role, error) {
	out := map[string]bulwark.Role{}
	for _, r := range bulwark.BuiltInRoles {
		out[r.Name] = r
	}
	custom, err := t.customRoles()
	if err != nil {
		return nil, err
	}
	for _, r := range custom {
		out[r.Name] = *r
	}
	return out, nil
}

// resolve looks up the permissions of grants. A grant of a role that no
// longer exists resolves to nothing (deny by default).
func resolve(roles map[string]bulwark.Role, gs []bulwark.Grant) []bulwark.ResolvedGrant {
	out := make([]bulwark.ResolvedGrant, 0, len(gs))
	for _, g := range gs {
		r, ok := roles[g.Role]
		if !ok {
			continue
		}
		perms := r.Permissions
		if g.Collection != "" {
			// A scoped grant carries only what can be scoped.
			perms = nil
			for _, p := range r.Permissions {
				if p.Scopable() {
					perms = append(perms, p)
				}
			}
		}
		out = append(out, bulwark.ResolvedGrant{Grant: g, Permissions: perms})
	}
	return out
}

func (t *tenantTx) grantsOf(userIDs ...string) (map[string][]bulwark.Grant, error) {
	out := map[string][]bulwark.Grant{}
	if len(userIDs) == 0 {
		return out, nil
	}
	in, ids := inList(userIDs)
	rows, err := t.query("SELECT user_id, role, collection FROM user_grants WHERE tenant_id = ? AND user_id IN ("+in+") ORDER BY role, collection",
		append([]any{t.tenantID}, ids...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var uid string
		var g bulwark.Grant
		if err := rows.Scan(&uid, &g.Role, &g.Collection); err != nil {
			return nil, err
		}
		out[uid] = append(out[uid], g)
	}
	return out, rows.Err()
}

const userColumns = "id, email, status, created_at, updated_at"

func scanUser(s interface{ Scan(...any) error }) (*bulwark.User, error) {
	var u bulwark.User
	var created, updated int64
	if err := s.Scan(&u.ID, &u.Email, &u.Status, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.Grants = []bulwark.Grant{}
	return &u, nil
}

func (t *tenantTx) user(id string) (*bulwark.User, error) {
	u, err := scanUser(t.queryRow("SELECT "+userColumns+" FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.NotFound("user")
	}
	if err != nil {
		return nil, err
	}
	gs, err := t.grantsOf(id)
	if err != nil {
		return nil, err
	}
	if g := gs[id]; g != nil {
		u.Grants = g
	}
	return u, nil
}

// InviteUser adds a user to the caller's tenant and returns a one-time
// activation secret for them.
func (db *DB) InviteUser(ctx context.Context, n bulwark.NewUser) (*bulwark.User, *bulwark.Invitation, error) {
	email, err := bulwark.NormalizeEmail("email", n.Email)
	if err != nil {
		return nil, nil, err
	}
	if len(n.Grants) == 0 {
		return nil, nil, bulwark.FieldError("grants", "give the user at least one role")
	}
	u := &bulwark.User{Email: email, Grants: n.Grants}
	var inv *bulwark.Invitation
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermUsersManage); err != nil {
			return err
		}
		if err := t.checkGrantable(n.Grants); err != nil {
			return err
		}
		inv, err = t.insertUser(u)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return u, inv, nil
}

// ListUsers lists the tenant's users, oldest first.
func (db *DB) ListUsers(ctx context.Context, opt bulwark.ListOptions) ([]*bulwark.User, string, error) {
	limit := pageSize(opt.Limit)
	var out []*bulwark.User
	var next string
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermUsersRead); err != nil {
			return err
		}
		rows, err := t.query("SELECT "+userColumns+" FROM users WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?", t.tenantID, opt.Cursor, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
			ids = append(ids, u.ID)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(out) > limit {
			out, ids, next = out[:limit], ids[:limit], out[limit-1].ID
		}
		gs, err := t.grantsOf(ids...)
		if err != nil {
			return err
		}
		for _, u := range out {
			if g := gs[u.ID]; g != nil {
				u.Grants = g
			}
		}
		return nil
	})
	return out, next, err
}

func pageSize(n int) int {
	if n <= 0 {
		return bulwark.DefaultPageSize
	}
	return min(n, bulwark.MaxPageSize)
}

// GetUser returns one user of the tenant.
func (db *DB) GetUser(ctx context.Context, id string) (*bulwark.User, error) {
	var u *bulwark.User
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermUsersRead); err != nil {
			return err
		}
		var err error
		u, err = t.user(id)
		return err
	})
	return u, err
}

// managedUser returns user id for a change by the principal: that needs
// users.manage, asked before the user is looked up (a caller without it
// learns nothing of who exists), and checkActOn must allow it.
func (t *tenantTx) managedUser(id string) (*bulwark.User, error) {
	if err := t.requireCan(bulwark.PermUsersManage); err != nil {
		return nil, err
	}
	u, err := t.user(id)
	if err != nil {
		return nil, err
	}
	if err := t.checkActOn(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkActOn fails unless the principal may change user u: not themselves,
// and only a user whose rights the principal covers (so an admin cannot
// touch an owner).
func (t *tenantTx) checkActOn(u *bulwark.User) error {
	if t.principal.Kind == bulwark.KindUser && t.principal.ID == u.ID {
		return bulwark.Errorf(bulwark.EForbidden, "you cannot change or remove your own account here")
	}
	roles, err := t.roles()
	if err != nil {
		return err
	}
	for _, g := range resolve(roles, u.Grants) {
		for _, p := range g.Permissions {
			if !t.principal.Can(p, g.Collection) {
				return bulwark.Errorf(bulwark.EForbidden, "this user holds %s, which you lack", p)
			}
		}
	}
	return nil
}

// checkOwnerRemains fails if the tenant would have no active owner left.
func (t *tenantTx) checkOwnerRemains() error {
	var n int
	err := t.queryRow(`SELECT count(*) FROM users u JOIN user_grants g ON g.tenant_id = u.tenant_id AND g.user_id = u.id
		WHERE u.tenant_id = ? AND u.status = ? AND g.role = ? AND g.collection = ''`, t.tenantID, bulwark.StatusActive, bulwark.RoleOwner).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return bulwark.Errorf(bulwark.EConflict, "the tenant must keep at least one active owner")
	}
	return nil
}

// UpdateUser disables or re-enables a user, or replaces their grants.
func (db *DB) UpdateUser(ctx context.Context, id string, up bulwark.UserUpdate) (*bulwark.User, error) {
	if err := up.Validate(); err != nil {
		return nil, err
	}
	var u *bulwark.User
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		var err error
		if u, err = t.managedUser(id); err != nil {
			return err
		}
		var fields []string
		privileged := false
		if up.Status != nil && *up.Status != u.Status {
			if u.Status == bulwark.StatusInvited {
				return bulwark.Errorf(bulwark.EConflict, "the user has not activated their account yet")
			}
			if _, err := t.exec("UPDATE users SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?", *up.Status, micros(t.now), t.tenantID, id); err != nil {
				return err
			}
			if *up.Status == bulwark.StatusDisabled {
				// A disabled user's sessions end now, and so do the API
				// tokens they made.
				if _, err := t.exec("DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ?", t.tenantID, id, secret.Session); err != nil {
					return err
				}
				if err := t.revokeTokensMadeBy(id); err != nil {
					return err
				}
			}
			u.Status = *up.Status
			fields = append(fields, "status")
		}
		if up.Grants != nil {
			if err := t.checkGrantable(*up.Grants); err != nil {
				return err
			}
			if len(*up.Grants) == 0 {
				return bulwark.FieldError("grants", "give the user at least one role, or disable them")
			}
			if err := t.setGrants(id, *up.Grants); err != nil {
				return err
			}
			if privileged, err = t.grantsPrivileged(u.Grants, *up.Grants); err != nil {
				return err
			}
			u.Grants = *up.Grants
			fields = append(fields, "grants")
		}
		if len(fields) == 0 {
			return nil
		}
		if err := t.checkOwnerRemains(); err != nil {
			return err
		}
		u.UpdatedAt = t.now
		return t.audit(auditEntry{Action: "user.update", TargetKind: "user", TargetID: id, Fields: fields, Privileged: privileged})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUser removes a user, their grants and sessions, and revokes the
// API tokens they made. Audit entries that name them stay: the trail is
// never rewritten.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		u, err := t.managedUser(id)
		if err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM users WHERE tenant_id = ? AND id = ?", t.tenantID, id); err != nil {
			return err
		}
		if err := t.checkOwnerRemains(); err != nil {
			return err
		}
		if err := t.revokeTokensMadeBy(id); err != nil {
			return err
		}
		privileged, err := t.grantsPrivileged(u.Grants)
		if err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "user.delete", TargetKind: "user", TargetID: id, Privileged: privileged})
	})
}

// revokeTokensMadeBy revokes, in the caller's transaction, every live API
// token that userID made, and every token those tokens made in turn (a
// token with tokens.manage may make others, to rotate itself, say). A
// token acts on its maker's authority, checked only when it was made: an
// admin's token must not outlive the admin being disabled or removed, or
// it would keep their rights for up to MaxTokenTTL. The chain is followed
// through tokens already revoked or expired, so a token rotated by its
// predecessor still ends with the user behind the first one. Each
// revocation is audited; committing the transaction drops the cached
// principals of the tenant, as for any revocation.
func (t *tenantTx) revokeTokensMadeBy(userID string) error {
	ids, err := t.queryStrings(`WITH RECURSIVE made (id) AS (
			SELECT id FROM api_tokens WHERE tenant_id = ? AND created_by = ?
			UNION
			SELECT a.id FROM api_tokens a JOIN made m ON a.tenant_id = ? AND a.created_by = m.id
		)
		SELECT id FROM api_tokens WHERE tenant_id = ? AND revoked_at IS NULL AND expires_at > ? AND id IN (SELECT id FROM made) ORDER BY id`,
		t.tenantID, userID, t.tenantID, t.tenantID, micros(t.now))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := t.exec("UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND id = ?", micros(t.now), t.tenantID, id); err != nil {
			return err
		}
		if err := t.audit(auditEntry{Action: "token.revoke", TargetKind: "token", TargetID: id, Fields: []string{"created_by"}, Privileged: true}); err != nil {
			return err
		}
	}
	return nil
}
