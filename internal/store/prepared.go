package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// Prepared record writes (SQLite).
//
// SQLite has one writer goroutine (batch.go): whatever a write does inside
// its transaction, it does while every other write waits. So record
// creates and updates do their work before they queue: take the
// collection's scope from the tenant cache (cache.go), read the record
// (an update, in a read transaction), validate, merge, seal and lay out the
// row with the tenant's cached keys, and compute the unique keys. In the
// writer each runs one INSERT or UPDATE that holds only if the collection's
// fields and the tenant's key versions are still those it used (and, for
// an update, the record's version is the one it read), then its unique
// keys and its audit entry. Whenever something is not at hand (scope or keys
// not cached, the row refused, a schema or key change in between), the
// write goes the plain way, which reads everything in the writer and gives
// the authoritative answer, errors included.

// errNotPrepared sends a write back to the plain path.
var errNotPrepared = errors.New("store: write not prepared")

// preparedScope returns the collection scope and the tenant's cached keys
// for a write by the principal in ctx, reading the scope in a read
// transaction if the cache lacks it.
func (db *DB) preparedScope(ctx context.Context, perm bulwark.Permission, collection string) (string, scope, *keys.TenantKeys, error) {
	tenantID, err := bulwark.TenantFromContext(ctx)
	if err != nil || !bulwark.FromContext(ctx).Can(perm, collection) {
		return "", scope{}, nil, errNotPrepared
	}
	s, ok := db.cache.scope(tenantID, collection)
	if !ok {
		if err := db.inTenant(ctx, false, func(t *tenantTx) error {
			var err error
			s, err = t.loadScope(collection, lockNone)
			return err
		}); err != nil {
			return "", scope{}, nil, errNotPrepared
		}
	}
	var k *keys.TenantKeys
	if s.dataVer > 0 && db.opt.Keys != nil {
		k, _ = db.opt.Keys.Cached(tenantID, s.dataVer, s.indexVer)
	}
	return tenantID, s, k, nil
}

// uniqueValue is a unique field's key, computed before the write; key
// "" means the field has no value.
type uniqueValue struct{ field, key string }

// uniqueValues computes the unique keys of data's fields named in changed.
func uniqueValues(k *keys.TenantKeys, c *bulwark.Collection, data map[string]any, changed []string) ([]uniqueValue, error) {
	var out []uniqueValue
	for _, name := range changed {
		f, ok := c.Field(name)
		if !ok || !f.Unique {
			continue
		}
		v, ok := data[name]
		if !ok || v == nil {
			out = append(out, uniqueValue{name, ""})
			continue
		}
		key, err := uniqueKey(k, c, f, v)
		if err != nil {
			return nil, err
		}
		out = append(out, uniqueValue{name, key})
	}
	return out, nil
}

// putUniques writes a record's unique keys; replace first drops the
// record's old keys of those fields.
func (t *tenantTx) putUniques(c *bulwark.Collection, id string, uniques []uniqueValue, replace bool) error {
	for _, u := range uniques {
		if replace {
			if _, err := t.exec("DELETE FROM record_uniques WHERE tenant_id = ? AND collection_id = ? AND field = ? AND record_id = ?",
				t.tenantID, c.ID, u.field, id); err != nil {
				return err
			}
		}
		if u.key == "" {
			continue
		}
		_, err := t.exec("INSERT INTO record_uniques (tenant_id, collection_id, field, value_key, record_id) VALUES (?, ?, ?, ?, ?)",
			t.tenantID, c.ID, u.field, u.key, id)
		if t.db.dialect.isUnique(err) {
			return bulwark.Conflict(u.field, "must be unique: another record has this value")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) createPrepared(ctx context.Context, collection string, data map[string]any) (*bulwark.Record, error) {
	tenantID, s, k, err := db.preparedScope(ctx, bulwark.PermRecordsWrite, collection)
	if err != nil {
		return nil, err
	}
	c := s.c
	clean, err := c.ValidateData(data, false)
	if err != nil {
		return nil, errNotPrepared // the plain path judges with the current schema
	}
	for name, v := range clean {
		if v == nil {
			delete(clean, name)
		}
	}
	if needsKeys(c, clean) && k == nil {
		return nil, errNotPrepared
	}
	id := newID()
	row, err := layout(k, c, id, clean)
	if err != nil {
		return nil, errNotPrepared
	}
	names := sortedKeys(clean)
	uniques, err := uniqueValues(k, c, clean, names)
	if err != nil {
		return nil, errNotPrepared
	}
	var r *bulwark.Record
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		res, err := t.exec(createPreparedSQL,
			t.tenantID, c.ID, id, row.data, row.sealed, row.keyID, row.tags, micros(t.now), s.fields, s.dataVer, s.indexVer)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errNotPrepared // the schema or the keys changed
		}
		if err := t.putUniques(c, id, uniques, false); err != nil {
			return err
		}
		r = &bulwark.Record{ID: id, Collection: c.Name, Version: 1, Data: clean, CreatedAt: t.now, UpdatedAt: t.now}
		return t.audit(auditEntry{Action: "record.create", TargetKind: "record", TargetID: c.Name + "/" + id, Fields: names})
	})
	if errors.Is(err, errNotPrepared) {
		db.cache.dropScope(tenantID, collection)
	}
	return r, err
}

// scopeUnchanged is the condition that a prepared write's scope still
// holds. Its statement binds the tenant as ?1 and the collection as ?2,
// and the scope's fields and key versions as ?n, ?n+1 and ?n+2: numbered
// parameters bind each value once however often the statement uses it.
func scopeUnchanged(n int) string {
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM collections WHERE tenant_id = ?1 AND id = ?2 AND fields = ?%d)
	AND coalesce((SELECT version FROM tenant_keys WHERE tenant_id = ?1 AND purpose = 'data'), 0) = ?%d
	AND coalesce((SELECT version FROM tenant_keys WHERE tenant_id = ?1 AND purpose = 'index'), 0) = ?%d`, n, n+1, n+2)
}

var (
	createPreparedSQL = `INSERT INTO records (tenant_id, collection_id, id, version, data, sealed, key_id, tags, created_at, updated_at)
	SELECT ?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?8 WHERE ` + scopeUnchanged(9)
	updatePreparedSQL = `UPDATE records SET data = ?5, sealed = ?6, key_id = ?7, tags = ?8, version = version + 1, updated_at = ?9
	WHERE tenant_id = ?1 AND collection_id = ?2 AND id = ?3 AND version = ?4 AND ` + scopeUnchanged(10)
)

func (db *DB) updatePrepared(ctx context.Context, collection, id string, patch map[string]any, ifVersion int64) (*bulwark.Record, error) {
	tenantID, s, k, err := db.preparedScope(ctx, bulwark.PermRecordsWrite, collection)
	if err != nil {
		return nil, err
	}
	c := s.c
	var r *bulwark.Record
	// The record's version is checked again by the UPDATE: the read needs
	// no snapshot of its own (see GetRecord).
	err = db.inTenantReads(ctx, func(t *tenantTx) error {
		stored, err := t.storedRecord(c, id)
		if err != nil {
			return err
		}
		lk := &lazyKeys{t: t, mode: lockNone, k: k, dataVer: s.dataVer, indexVer: s.indexVer}
		r, err = stored.open(lk, c)
		k = lk.k
		return err
	})
	if err != nil || (ifVersion > 0 && r.Version != ifVersion) {
		return nil, errNotPrepared // the plain path says what is wrong
	}
	clean, err := c.ValidateData(patch, true)
	if err != nil || len(clean) == 0 {
		return nil, errNotPrepared
	}
	merged, err := c.Merge(r.Data, clean)
	if err != nil || (needsKeys(c, merged) && k == nil) {
		return nil, errNotPrepared
	}
	row, err := layout(k, c, id, merged)
	if err != nil {
		return nil, errNotPrepared
	}
	names := sortedKeys(clean)
	uniques, err := uniqueValues(k, c, merged, names)
	if err != nil {
		return nil, errNotPrepared
	}
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		res, err := t.exec(updatePreparedSQL,
			t.tenantID, c.ID, id, r.Version, row.data, row.sealed, row.keyID, row.tags, micros(t.now), s.fields, s.dataVer, s.indexVer)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errNotPrepared // the record, the schema or the keys changed
		}
		if err := t.putUniques(c, id, uniques, true); err != nil {
			return err
		}
		r.Data, r.Version, r.UpdatedAt = merged, r.Version+1, t.now
		return t.audit(auditEntry{Action: "record.update", TargetKind: "record", TargetID: c.Name + "/" + id, Fields: names})
	})
	if errors.Is(err, errNotPrepared) {
		db.cache.dropScope(tenantID, collection)
	}
	return r, err
}
