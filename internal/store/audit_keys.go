package store

import (
	"context"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// RecordAuditKeyRotation records that the audit log's checkpoint signing
// key was replaced (`bulwark audit rotate-key`): a privileged
// deployment-level entry whose target is the new key, by its name and key
// hash (public values). The command line calls it before it puts the new
// key in place, so a rotation that cannot be recorded does not happen.
func (db *DB) RecordAuditKeyRotation(ctx context.Context, newKey, oldKey string) error {
	if err := requireOperator(ctx); err != nil {
		return err
	}
	id, old := keyID(newKey), keyID(oldKey)
	if id == "" || old == "" {
		return bulwark.Errorf(bulwark.EInvalid, "not a signed-note verifier key")
	}
	return db.inGlobal(ctx, true, func(t *globalTx) error {
		t.keepAuth = true // no principal depends on the signing key
		return t.audit(auditEntry{Action: "audit.rotate_key", TargetKind: "audit_signing_key", TargetID: id,
			Fields: []string{"public_key", "retired:" + old}, Privileged: true})
	})
}

// keyID is the "name+hash" of a verifier key "name+hash+key".
func keyID(vkey string) string {
	name, rest, ok := strings.Cut(strings.TrimSpace(vkey), "+")
	if !ok {
		return ""
	}
	hash, _, ok := strings.Cut(rest, "+")
	if !ok || name == "" || hash == "" {
		return ""
	}
	return name + "+" + hash
}
