package store

import (
	"context"
	"encoding/base64"

	"github.com/bulwarkhq/bulwark"
)

// SealPlaintext stores plaintext, sealed as the application seals, as the
// value of field of a record, as if it had been written so: it lets tests
// put in a value that no longer passes validation (one written by an
// older version) and see what reading it does.
func (db *DB) SealPlaintext(ctx context.Context, collection, id, field string, plaintext []byte) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		c, lk, err := t.recordScope(bulwark.PermRecordsWrite, collection, lockShare)
		if err != nil {
			return err
		}
		r, err := t.storedRecord(c, id)
		if err != nil {
			return err
		}
		k, err := lk.get()
		if err != nil {
			return err
		}
		ct, err := k.Seal(plaintext, binding(c, field, id))
		if err != nil {
			return err
		}
		if r.sealed == nil {
			r.sealed = map[string]string{}
		}
		r.sealed[field] = base64.StdEncoding.EncodeToString(ct)
		_, err = t.exec("UPDATE records SET sealed = ?, key_id = ? WHERE tenant_id = ? AND collection_id = ? AND id = ?",
			marshalStrings(r.sealed), int64(k.Primary()), t.tenantID, c.ID, id)
		return err
	})
}
