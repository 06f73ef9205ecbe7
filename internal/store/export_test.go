package store

import (
	"context"
	"encoding/json"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
)

// CountAudit counts the audit entries of the caller's tenant with action
// and target id. Tests only; the audit search API comes with the audit log.
// AuditBlock is the number of entries an audit_tenant row stands for.
const AuditBlock = auditBlock

func (db *DB) CountAudit(ctx context.Context, action, targetID string) (int, error) {
	var n int
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		return t.queryRow("SELECT count(*) FROM audit_log WHERE tenant_id = ? AND action = ? AND target_id = ?", t.tenantID, action, targetID).Scan(&n)
	})
	return n, err
}

// AuthCached reports whether the principal of bearer is in the cache and
// whether the cache is on.
func (db *DB) AuthCached(bearer string) (cached, enabled bool) {
	_, scope, _ := secret.Parse(bearer)
	_, cached = db.cache.get(scope, secret.Hash(bearer), micros(db.now()))
	db.cache.mu.Lock()
	defer db.cache.mu.Unlock()
	return cached, db.cache.enabled
}

// CacheStaleScope puts old, a collection as it was before a change, in the
// tenant cache as its collection's scope, as a write racing the change
// would have seen it.
func (db *DB) CacheStaleScope(ctx context.Context, old *bulwark.Collection) error {
	tenantID, err := bulwark.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	var s scope
	err = db.inTenant(ctx, false, func(t *tenantTx) error {
		s, err = t.loadScope(old.Name, lockNone)
		return err
	})
	if err != nil {
		return err
	}
	fields, err := json.Marshal(old.Fields)
	if err != nil {
		return err
	}
	s.c, s.fields = old, string(fields)
	db.cache.putScope(tenantID, db.cache.snapshot(tenantID), s)
	return nil
}

// ForgetProviderOwner makes provider id of the caller's tenant look as if
// saved before only owners could configure providers.
func (db *DB) ForgetProviderOwner(ctx context.Context, id string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		p, err := t.provider(id)
		if err != nil {
			return err
		}
		p.OwnerConfigured = false
		_, err = t.exec("UPDATE sso_providers SET config = ? WHERE tenant_id = ? AND id = ?", configOf(p), t.tenantID, id)
		return err
	})
}
