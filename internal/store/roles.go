package store

import (
	"context"
	"encoding/json"

	"github.com/bulwarkhq/bulwark"
)

func (t *tenantTx) customRoles() ([]*bulwark.Role, error) {
	rows, err := t.query("SELECT name, description, permissions FROM roles WHERE tenant_id = ? ORDER BY name", t.tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*bulwark.Role
	for rows.Next() {
		var r bulwark.Role
		var perms string
		if err := rows.Scan(&r.Name, &r.Description, &perms); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
			return nil, err
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// ListRoles lists the built-in roles, then the tenant's custom roles.
func (db *DB) ListRoles(ctx context.Context) ([]*bulwark.Role, error) {
	var out []*bulwark.Role
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermUsersRead); err != nil {
			return err
		}
		for _, r := range bulwark.BuiltInRoles {
			out = append(out, &r)
		}
		custom, err := t.customRoles()
		out = append(out, custom...)
		return err
	})
	return out, err
}

// CreateRole defines a custom role. The caller must hold every permission
// the role gives.
func (db *DB) CreateRole(ctx context.Context, r bulwark.Role) (*bulwark.Role, error) {
	r.BuiltIn = false
	if err := r.Validate(); err != nil {
		return nil, err
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermRolesManage); err != nil {
			return err
		}
		if !t.principal.Covers(r.Permissions) {
			return bulwark.Errorf(bulwark.EForbidden, "you cannot define a role with permissions you lack")
		}
		perms, err := json.Marshal(r.Permissions)
		if err != nil {
			return err
		}
		_, err = t.exec("INSERT INTO roles (tenant_id, name, description, permissions, created_at) VALUES (?, ?, ?, ?, ?)",
			t.tenantID, r.Name, r.Description, string(perms), micros(t.now))
		if t.db.dialect.isUnique(err) {
			return bulwark.Conflict("name", "is taken by another role")
		}
		if err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "role.create", TargetKind: "role", TargetID: r.Name, Fields: []string{"permissions"}, Privileged: true})
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteRole removes a custom role that nobody holds.
func (db *DB) DeleteRole(ctx context.Context, name string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermRolesManage); err != nil {
			return err
		}
		if _, builtIn := bulwark.BuiltInRole(name); builtIn {
			return bulwark.Errorf(bulwark.EForbidden, "built-in roles cannot be deleted")
		}
		var n int
		if err := t.queryRow(`SELECT (SELECT count(*) FROM user_grants WHERE tenant_id = ? AND role = ?)
			+ (SELECT count(*) FROM api_tokens WHERE tenant_id = ? AND role = ? AND revoked_at IS NULL)`,
			t.tenantID, name, t.tenantID, name).Scan(&n); err != nil {
			return err
		}
		res, err := t.exec("DELETE FROM roles WHERE tenant_id = ? AND name = ?", t.tenantID, name)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return bulwark.NotFound("role")
		}
		if n > 0 {
			return bulwark.Errorf(bulwark.EConflict, "the role is still granted %d times: revoke it first", n)
		}
		return t.audit(auditEntry{Action: "role.delete", TargetKind: "role", TargetID: name, Privileged: true})
	})
}
