package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// CreateToken makes an API token bound to the caller's tenant and one
// grant. The secret is returned once; only its hash is kept.
func (db *DB) CreateToken(ctx context.Context, n bulwark.NewAPIToken) (*bulwark.CreatedToken, error) {
	ttl, err := n.Validate()
	if err != nil {
		return nil, err
	}
	var out *bulwark.CreatedToken
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermTokensManage); err != nil {
			return err
		}
		if err := t.checkGrantable([]bulwark.Grant{n.Grant}); err != nil {
			return err
		}
		plain, hash := secret.New(secret.Token, t.tenantID)
		tok := bulwark.APIToken{ID: newID(), Name: n.Name, Grant: n.Grant, CreatedBy: t.principal.ID, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}
		_, err := t.exec(`INSERT INTO api_tokens (tenant_id, id, name, secret_hash, role, collection, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.tenantID, tok.ID, tok.Name, hash, tok.Grant.Role, tok.Grant.Collection, tok.CreatedBy, micros(t.now), micros(tok.ExpiresAt))
		if err != nil {
			return err
		}
		out = &bulwark.CreatedToken{APIToken: tok, Secret: plain}
		return t.audit(auditEntry{Action: "token.create", TargetKind: "token", TargetID: tok.ID, Fields: []string{"name", "grant", "expires_at"}, Privileged: true})
	})
	return out, err
}

// ListTokens lists the tenant's tokens, without their secrets.
func (db *DB) ListTokens(ctx context.Context) ([]*bulwark.APIToken, error) {
	var out []*bulwark.APIToken
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermTokensManage); err != nil {
			return err
		}
		rows, err := t.query(`SELECT id, name, role, collection, created_by, created_at, expires_at, revoked_at, last_used_at
			FROM api_tokens WHERE tenant_id = ? ORDER BY id`, t.tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tok bulwark.APIToken
			var created, expires int64
			var revoked, used sql.NullInt64
			if err := rows.Scan(&tok.ID, &tok.Name, &tok.Grant.Role, &tok.Grant.Collection, &tok.CreatedBy, &created, &expires, &revoked, &used); err != nil {
				return err
			}
			tok.CreatedAt, tok.ExpiresAt = fromMicros(created), fromMicros(expires)
			tok.RevokedAt, tok.LastUsedAt = nullTime(revoked), nullTime(used)
			out = append(out, &tok)
		}
		return rows.Err()
	})
	return out, err
}

func nullTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// RevokeToken revokes a token at once; revoking twice is not an error.
// The caller must hold every permission the token's grant gives, as for
// changing a user (checkActOn): an admin cannot revoke an owner's token.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermTokensManage); err != nil {
			return err
		}
		var g bulwark.Grant
		err := t.queryRow("SELECT role, collection FROM api_tokens WHERE tenant_id = ? AND id = ?", t.tenantID, id).Scan(&g.Role, &g.Collection)
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.NotFound("token")
		}
		if err != nil {
			return err
		}
		roles, err := t.rolesFor([]bulwark.Grant{g})
		if err != nil {
			return err
		}
		for _, rg := range resolve(roles, []bulwark.Grant{g}) {
			for _, p := range rg.Permissions {
				if !t.principal.Can(p, rg.Collection) {
					return bulwark.Errorf(bulwark.EForbidden, "this token holds %s, which you lack", p)
				}
			}
		}
		res, err := t.exec("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND id = ?", micros(t.now), t.tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.NotFound("token")
		}
		return t.audit(auditEntry{Action: "token.revoke", TargetKind: "token", TargetID: id, Privileged: true})
	})
}
