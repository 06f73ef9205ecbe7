package store

import (
	"context"

	"github.com/bulwarkhq/bulwark/internal/secret"
)

// CountAudit counts the audit entries of the caller's tenant with action
// and target id. Tests only; the audit search API comes with the audit log.
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
	_, cached = db.auth.get(scope, secret.Hash(bearer), micros(db.now()))
	db.auth.mu.Lock()
	defer db.auth.mu.Unlock()
	return cached, db.auth.enabled
}
