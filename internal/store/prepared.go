package store

import (
	"context"
	"errors"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// Prepared record writes (SQLite).
//
// SQLite has one writer goroutine (batch.go): whatever a write does inside
// its transaction, it does while every other write waits. So a record
// create does its work before it queues: it takes the collection's scope
// from the tenant cache (cache.go), validates, seals and lays out the row
// with the tenant's cached keys, and computes its unique keys. In the
// writer it runs one INSERT that holds only if the collection's fields and
// the tenant's key versions are still those it used, then its unique keys
// and its audit entry. Whenever something is not at hand (scope or keys
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
	s, ok := db.auth.scope(tenantID, collection)
	if !ok {
		err := db.inTenant(ctx, false, func(t *tenantTx) error {
			s, err = t.loadScope(collection, lockNone)
			return err
		})
		if err != nil {
			return "", scope{}, nil, errNotPrepared
		}
	}
	var k *keys.TenantKeys
	if s.dataVer > 0 && db.opt.Keys != nil {
		k, _ = db.opt.Keys.Cached(tenantID, s.dataVer, s.indexVer)
	}
	return tenantID, s, k, nil
}

// uniqueValue is a unique field's key, computed before the write.
type uniqueValue struct{ field, key string }

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
	var uniques []uniqueValue
	for _, name := range names {
		if f, _ := c.Field(name); f.Unique {
			key, err := uniqueKey(k, c, f, clean[name])
			if err != nil {
				return nil, errNotPrepared
			}
			uniques = append(uniques, uniqueValue{name, key})
		}
	}
	var r *bulwark.Record
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		res, err := t.exec(`INSERT INTO records (tenant_id, collection_id, id, version, data, sealed, key_id, tags, created_at, updated_at)
			SELECT ?, ?, ?, 1, ?, ?, ?, ?, ?, ?
			WHERE EXISTS (SELECT 1 FROM collections WHERE tenant_id = ? AND id = ? AND fields = ?)
			AND coalesce((SELECT version FROM tenant_keys WHERE tenant_id = ? AND purpose = 'data'), 0) = ?
			AND coalesce((SELECT version FROM tenant_keys WHERE tenant_id = ? AND purpose = 'index'), 0) = ?`,
			t.tenantID, c.ID, id, row.data, row.sealed, row.keyID, row.tags, micros(t.now), micros(t.now),
			t.tenantID, c.ID, s.fields, t.tenantID, s.dataVer, t.tenantID, s.indexVer)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errNotPrepared // the schema or the keys changed
		}
		for _, u := range uniques {
			_, err := t.exec("INSERT INTO record_uniques (tenant_id, collection_id, field, value_key, record_id) VALUES (?, ?, ?, ?, ?)",
				t.tenantID, c.ID, u.field, u.key, id)
			if t.db.dialect.isUnique(err) {
				return bulwark.Conflict(u.field, "must be unique: another record has this value")
			}
			if err != nil {
				return err
			}
		}
		r = &bulwark.Record{ID: id, Collection: c.Name, Version: 1, Data: clean, CreatedAt: t.now, UpdatedAt: t.now}
		return t.audit(auditEntry{Action: "record.create", TargetKind: "record", TargetID: c.Name + "/" + id, Fields: names})
	})
	if errors.Is(err, errNotPrepared) {
		db.auth.dropScope(tenantID, collection)
	}
	return r, err
}
