package store

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// requireOperator fails unless the principal in ctx is an operator or the
// local command line.
func requireOperator(ctx context.Context) error {
	p := bulwark.FromContext(ctx)
	if p == nil {
		return bulwark.Errorf(bulwark.EUnauthenticated, "an operator login is required")
	}
	if p.Kind != bulwark.KindOperator && p.Kind != bulwark.KindSystem {
		return bulwark.Errorf(bulwark.EForbidden, "only operators may do this")
	}
	// An operator session that still owes its second factor is not an
	// operator yet (AUTH-8), for library callers as for the API.
	if p.Stage != "" {
		return bulwark.Errorf(bulwark.EForbidden, "complete the second factor first")
	}
	// What this guards (tenant lifecycle, keys, operators) is the admin
	// role's (PRIV-1); the command line (system) may do it all.
	if p.Kind == bulwark.KindOperator && !p.HasOperatorRole(bulwark.OperatorAdmin) {
		return bulwark.Errorf(bulwark.EForbidden, "this needs the operator role admin")
	}
	return nil
}

// requireSystem fails unless ctx carries the system principal: the few
// methods that take a tenant id from their caller (background jobs across
// tenants) serve the process itself, never a request.
func requireSystem(ctx context.Context) error {
	if p := bulwark.FromContext(ctx); p == nil || p.Kind != bulwark.KindSystem {
		return bulwark.Errorf(bulwark.EForbidden, "only the system itself may do this")
	}
	return nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// CreateTenant creates a tenant and invites its first owner.
func (db *DB) CreateTenant(ctx context.Context, n bulwark.NewTenant) (*bulwark.Tenant, *bulwark.Invitation, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, nil, err
	}
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	ten := &bulwark.Tenant{ID: newID(), Slug: n.Slug, Name: n.Name}
	// The tenant's keysets are made before the transaction: making them
	// calls the KMS, which must not hold the database's write lock. During
	// a KMS outage no tenant can be created (EUnavailable).
	ring, err := db.ring()
	if err != nil {
		return nil, nil, err
	}
	var inv *bulwark.Invitation
	// The keysets are wrapped outside the transaction, so the KEK may have
	// a new version by the time it runs: then they are made again (the
	// version that wrapped them may be retired by now; see kekLockClass).
	for attempt := 0; ; attempt++ {
		dataKeys, indexKeys, err := ring.NewTenant(ctx, ten.ID)
		if err != nil {
			return nil, nil, err
		}
		err = db.createTenant(ctx, ring, ten, n, dataKeys, indexKeys, &inv)
		if errors.Is(err, errKEKMoved) && attempt < 3 {
			continue
		}
		if errors.Is(err, errKEKMoved) {
			return nil, nil, bulwark.Errorf(bulwark.EConflict, "the key-encryption key keeps changing: try again")
		}
		if err != nil {
			return nil, nil, err
		}
		return ten, inv, nil
	}
}

func (db *DB) createTenant(ctx context.Context, ring *keys.Ring, ten *bulwark.Tenant, n bulwark.NewTenant, dataKeys, indexKeys keys.Wrapped, inv **bulwark.Invitation) error {
	return db.inGlobal(ctx, true, func(t *globalTx) error {
		ten.CreatedAt = t.now
		_, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, ?)", ten.ID, ten.Slug, ten.Name, micros(t.now))
		if db.dialect.isUnique(err) {
			return bulwark.Conflict("slug", "is taken")
		}
		if err != nil {
			return err
		}
		if err := t.audit(auditEntry{Action: "tenant.create", TargetKind: "tenant", TargetID: ten.ID, Fields: []string{"slug", "name"}, Privileged: true}); err != nil {
			return err
		}
		// The first owner is written in the new tenant's own scope, in the
		// same transaction: row-level security allows nothing else.
		if err := db.setTenant(&t.tx, ten.ID); err != nil {
			return err
		}
		tt := &tenantTx{tx: t.tx, tenantID: ten.ID, principal: t.principal}
		if err := tt.insertKeys(ring, dataKeys, indexKeys, false); err != nil {
			return err
		}
		*inv, err = tt.insertUser(&bulwark.User{Email: n.AdminEmail, Grants: []bulwark.Grant{{Role: bulwark.RoleOwner}}})
		return err
	})
}

// ListTenants lists every tenant.
func (db *DB) ListTenants(ctx context.Context) ([]*bulwark.Tenant, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, err
	}
	var out []*bulwark.Tenant
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		rows, err := t.query("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ten bulwark.Tenant
			var created int64
			if err := rows.Scan(&ten.ID, &ten.Slug, &ten.Name, &created); err != nil {
				return err
			}
			ten.CreatedAt = fromMicros(created)
			out = append(out, &ten)
		}
		return rows.Err()
	})
	return out, err
}

// CreateOperator creates an operator account and its activation secret.
func (db *DB) CreateOperator(ctx context.Context, email string, roles ...bulwark.OperatorRole) (*bulwark.Operator, *bulwark.Invitation, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, nil, err
	}
	email, err := bulwark.NormalizeEmail("email", email)
	if err != nil {
		return nil, nil, err
	}
	if len(roles) > 0 {
		if err := bulwark.CheckOperatorRoles("roles", roles); err != nil {
			return nil, nil, err
		}
	}
	op := &bulwark.Operator{ID: newID(), Email: email, Status: bulwark.StatusInvited, Roles: sortedRoles(roles)}
	var inv *bulwark.Invitation
	err = db.inGlobal(ctx, true, func(t *globalTx) error {
		op.CreatedAt = t.now
		_, err := t.exec("INSERT INTO operators (id, email, status, roles, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
			op.ID, op.Email, op.Status, joinRoles(op.Roles), micros(t.now), micros(t.now))
		if db.dialect.isUnique(err) {
			return bulwark.Conflict("email", "is taken by another operator")
		}
		if err != nil {
			return err
		}
		plain, hash := secret.New(secret.Activation, secret.OperatorScope)
		exp := t.now.Add(db.opt.InviteTTL)
		if _, err := t.exec(`INSERT INTO operator_secrets (id, kind, operator_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)`,
			hash, secret.Activation, op.ID, micros(t.now), micros(exp), micros(t.now)); err != nil {
			return err
		}
		inv = &bulwark.Invitation{Token: plain, ExpiresAt: exp}
		return t.audit(auditEntry{Action: "operator.create", TargetKind: "operator", TargetID: op.ID, Fields: []string{"email", "roles"}, Privileged: true})
	})
	if err != nil {
		return nil, nil, err
	}
	return op, inv, nil
}
