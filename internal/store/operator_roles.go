package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// Operator roles (PRIV-1) are stored in operators.roles as the sorted,
// space-separated role names. They are read with the operator's session
// at every request (operator principals are not cached), so a change
// takes effect at the operator's next request.

func sortedRoles(roles []bulwark.OperatorRole) []bulwark.OperatorRole {
	out := slices.Clone(roles)
	if out == nil {
		out = []bulwark.OperatorRole{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func joinRoles(roles []bulwark.OperatorRole) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " ")
}

// parseRoles reads operators.roles. A name this version does not know is
// dropped: it grants nothing (deny by default).
func parseRoles(s string) []bulwark.OperatorRole {
	var out []bulwark.OperatorRole
	for _, f := range strings.Fields(s) {
		if r := bulwark.OperatorRole(f); r.Valid() {
			out = append(out, r)
		}
	}
	return out
}

// SetOperatorRoles implements bulwark.OperatorService: it replaces the
// roles of the operator with email. Only admins and the command line may
// do it; the change is a privileged audit entry naming the new roles
// (role names are not personal data).
func (db *DB) SetOperatorRoles(ctx context.Context, email string, roles []bulwark.OperatorRole) (*bulwark.Operator, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	email, err := bulwark.NormalizeEmail("email", email)
	if err != nil {
		return nil, err
	}
	if err := bulwark.CheckOperatorRoles("roles", roles); err != nil {
		return nil, err
	}
	op := &bulwark.Operator{Email: email, Roles: sortedRoles(roles)}
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		var created int64
		var old string
		err := t.queryRow("SELECT id, status, roles, created_at FROM operators WHERE email = ?", email).Scan(&op.ID, &op.Status, &old, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.NotFound("operator")
		}
		if err != nil {
			return err
		}
		op.CreatedAt = fromMicros(created)
		if old == joinRoles(op.Roles) {
			return nil // no change, no entry
		}
		if _, err := t.exec("UPDATE operators SET roles = ?, updated_at = ? WHERE id = ?", joinRoles(op.Roles), micros(t.now), op.ID); err != nil {
			return err
		}
		fields := []string{"roles"}
		for _, r := range op.Roles {
			// "fields" names what changed: here the roles granted, by name.
			fields = append(fields, "role:"+string(r))
		}
		return t.audit(auditEntry{Action: "operator.roles", TargetKind: "operator", TargetID: op.ID, Fields: fields, Privileged: true})
	})
	if err != nil {
		return nil, err
	}
	return op, nil
}
