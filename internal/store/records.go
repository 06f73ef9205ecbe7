package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// Values of sensitive fields are sealed before they reach the database and
// opened after they leave it: see seal.go.

const recordColumns = "id, version, data, sealed, key_id, created_at, updated_at"

// storedRecord is a record as read, its sealed values not yet opened.
type storedRecord struct {
	*bulwark.Record
	sealed map[string]string
	keyID  int64
}

func scanRecord(s interface{ Scan(...any) error }, collection string) (*storedRecord, error) {
	r := &storedRecord{Record: &bulwark.Record{Collection: collection}}
	var data, sealed []byte
	var created, updated int64
	if err := s.Scan(&r.ID, &r.Version, &data, &sealed, &r.keyID, &created, &updated); err != nil {
		return nil, err
	}
	// decodeFault: the decoder's message would quote a value.
	if err := json.Unmarshal(data, &r.Data); err != nil {
		return nil, fmt.Errorf("record %s: data: %w", r.ID, decodeFault(err))
	}
	if err := json.Unmarshal(sealed, &r.sealed); err != nil {
		return nil, fmt.Errorf("record %s: sealed: %w", r.ID, decodeFault(err))
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

// storedRecord reads a record without opening its sealed values.
func (t *tenantTx) storedRecord(c *bulwark.Collection, id string) (*storedRecord, error) {
	r, err := scanRecord(t.queryRow("SELECT "+recordColumns+" FROM records WHERE tenant_id = ? AND collection_id = ? AND id = ?",
		t.tenantID, c.ID, id), c.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.NotFound("record")
	}
	return r, err
}

// lazyKeys loads the tenant's keys on first use, so that records without
// sealed values never wait for them (nor for the KMS). dataVer and
// indexVer, when known (recordScope), let it take them from the Ring's
// cache without reading tenant_keys.
type lazyKeys struct {
	t                 *tenantTx
	mode              lockMode
	k                 *keys.TenantKeys
	dataVer, indexVer int64
}

func (l *lazyKeys) get() (*keys.TenantKeys, error) {
	if l.k == nil && l.dataVer > 0 && l.t.db.opt.Keys != nil {
		l.k, _ = l.t.db.opt.Keys.Cached(l.t.tenantID, l.dataVer, l.indexVer)
	}
	if l.k == nil {
		k, err := l.t.tenantKeys(l.mode)
		if err != nil {
			return nil, err
		}
		l.k = k
	}
	return l.k, nil
}

// open opens a stored record's sealed values.
func (r *storedRecord) open(lk *lazyKeys, c *bulwark.Collection) (*bulwark.Record, error) {
	if len(r.sealed) == 0 {
		return r.Record, nil
	}
	k, err := lk.get()
	if err != nil {
		return nil, err
	}
	if err := openSealed(k, c, r.Record, r.sealed); err != nil {
		return nil, err
	}
	return r.Record, nil
}

// record reads and opens a record.
func (t *tenantTx) record(c *bulwark.Collection, id string, lk *lazyKeys) (*bulwark.Record, error) {
	r, err := t.storedRecord(c, id)
	if err != nil {
		return nil, err
	}
	return r.open(lk, c)
}

// writeRecord stores data as record id: values of sensitive fields are
// sealed under the primary key, blind index tags follow. With ifVersion
// > 0 it updates that version of an existing record.
func (t *tenantTx) writeRecord(lk *lazyKeys, c *bulwark.Collection, id string, data map[string]any, ifVersion int64, hadSealed bool) error {
	var k *keys.TenantKeys
	if needsKeys(c, data) || hadSealed {
		var err error
		if k, err = lk.get(); err != nil {
			return err
		}
	}
	row, err := layout(k, c, id, data)
	if err != nil {
		return err
	}
	if ifVersion == 0 {
		_, err = t.exec("INSERT INTO records (tenant_id, collection_id, id, version, data, sealed, key_id, tags, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
			t.tenantID, c.ID, id, row.data, row.sealed, row.keyID, row.tags, micros(t.now), micros(t.now))
		return err
	}
	// The version condition makes the check-then-write atomic on
	// PostgreSQL too, where two transactions may read the same version.
	res, err := t.exec("UPDATE records SET data = ?, sealed = ?, key_id = ?, tags = ?, version = version + 1, updated_at = ? WHERE tenant_id = ? AND collection_id = ? AND id = ? AND version = ?",
		row.data, row.sealed, row.keyID, row.tags, micros(t.now), t.tenantID, c.ID, id, ifVersion)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.EFailedPrecondition, "the record changed while you wrote it: read it again")
	}
	return nil
}

// recordScope checks the principal's permission for the collection and
// loads it, with the versions of the tenant's keysets in the same
// statement: when the Ring has the keys cached at those versions, sealing
// and opening cost no further query. Transactions that take no key lock
// (lockNone) use the tenant cache (cache.go). On PostgreSQL a write
// (lockShare) also takes the tenant's key lock shared in that statement
// (see keyRows).
func (t *tenantTx) recordScope(perm bulwark.Permission, collection string, mode lockMode) (*bulwark.Collection, *lazyKeys, error) {
	if err := t.requireCanIn(perm, collection); err != nil {
		return nil, nil, err
	}
	var s scope
	var ok bool
	if mode == lockNone {
		s, ok = t.db.cache.scope(t.tenantID, collection)
	}
	if !ok {
		var err error
		if s, err = t.loadScope(collection, mode); err != nil {
			return nil, nil, err
		}
	}
	return s.c, &lazyKeys{t: t, mode: mode, dataVer: s.dataVer, indexVer: s.indexVer}, nil
}

// loadScope reads a collection's scope, caching it when the transaction
// takes no key lock.
func (t *tenantTx) loadScope(collection string, mode lockMode) (scope, error) {
	gen := t.db.cache.snapshot(t.tenantID)
	const versions = ", coalesce((SELECT version FROM tenant_keys k WHERE k.tenant_id = collections.tenant_id AND k.purpose = 'data'), 0)" +
		", coalesce((SELECT version FROM tenant_keys k WHERE k.tenant_id = collections.tenant_id AND k.purpose = 'index'), 0)"
	q := "SELECT " + collectionColumns + versions + " FROM collections WHERE tenant_id = ? AND name = ?"
	args := []any{t.tenantID, collection}
	if t.db.dialect.name() == "postgres" && mode == lockShare {
		q = "WITH l AS (SELECT pg_advisory_xact_lock_shared(" + fmt.Sprint(keyLockClass) + ", hashtext(?))) " +
			strings.Replace(q, "FROM collections", "FROM collections, l", 1)
		args = append([]any{t.tenantID}, args...)
	}
	var s scope
	c, err := scanCollection(scanSuffix{t.queryRow(q, args...), []any{&s.dataVer, &s.indexVer}}, &s.fields)
	if errors.Is(err, sql.ErrNoRows) {
		return scope{}, bulwark.NotFound("collection")
	}
	if err != nil {
		return scope{}, err
	}
	s.c = c
	if mode == lockNone {
		t.db.cache.putScope(t.tenantID, gen, s)
	}
	return s, nil
}

// scanSuffix scans trailing columns after those its caller scans.
type scanSuffix struct {
	s    interface{ Scan(...any) error }
	rest []any
}

func (p scanSuffix) Scan(dest ...any) error { return p.s.Scan(append(dest, p.rest...)...) }

// setUniques records the unique-field values of a record (the fields in
// changed); a value another record holds is a conflict naming the field.
// The tenant's keys are loaded only when a sensitive field needs a blind
// index.
func (t *tenantTx) setUniques(lk *lazyKeys, c *bulwark.Collection, id string, data map[string]any, changed []string) error {
	var k *keys.TenantKeys
	for _, name := range changed {
		if f, ok := c.Field(name); ok && f.Unique && f.Classification.Sensitive() && data[name] != nil {
			var err error
			if k, err = lk.get(); err != nil {
				return err
			}
			break
		}
	}
	uniques, err := uniqueValues(k, c, data, changed)
	if err != nil {
		return err
	}
	return t.putUniques(c, id, uniques, true)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CreateRecord validates data against the collection and stores it.
func (db *DB) CreateRecord(ctx context.Context, collection string, data map[string]any) (*bulwark.Record, error) {
	if db.batch != nil {
		r, err := db.createPrepared(ctx, collection, data)
		if !errors.Is(err, errNotPrepared) {
			return r, err
		}
	}
	var r *bulwark.Record
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		c, lk, err := t.recordScope(bulwark.PermRecordsWrite, collection, lockShare)
		if err != nil {
			return err
		}
		clean, err := c.ValidateData(data, false)
		if err != nil {
			return err
		}
		for k, v := range clean {
			if v == nil {
				delete(clean, k)
			}
		}
		r = &bulwark.Record{ID: newID(), Collection: c.Name, Version: 1, Data: clean, CreatedAt: t.now, UpdatedAt: t.now}
		if err := t.writeRecord(lk, c, r.ID, clean, 0, false); err != nil {
			return err
		}
		if err := t.setUniques(lk, c, r.ID, clean, sortedKeys(clean)); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "record.create", TargetKind: "record", TargetID: c.Name + "/" + r.ID, Fields: sortedKeys(clean)})
	})
	return r, err
}

// GetRecord returns one record.
func (db *DB) GetRecord(ctx context.Context, collection, id string) (*bulwark.Record, error) {
	var r *bulwark.Record
	// One statement when the scope and keys are cached. Else the scope,
	// keys and record are read apart, which is safe: a row is opened with
	// the key it names, keysets only gain keys while any row needs them
	// (a key is retired after the re-seal has moved every row off it), and
	// a schema read a moment earlier is one the client could have read.
	err := db.inTenantReads(ctx, func(t *tenantTx) error {
		c, lk, err := t.recordScope(bulwark.PermRecordsRead, collection, lockNone)
		if err != nil {
			return err
		}
		r, err = t.record(c, id, lk)
		return err
	})
	return r, err
}

func checkVersion(r *bulwark.Record, ifVersion int64) error {
	if ifVersion > 0 && r.Version != ifVersion {
		return bulwark.Errorf(bulwark.EFailedPrecondition, "the record has changed since you read it (version %d, not %d): read it again", r.Version, ifVersion)
	}
	return nil
}

// UpdateRecord applies a patch: given fields replace, null removes.
func (db *DB) UpdateRecord(ctx context.Context, collection, id string, patch map[string]any, ifVersion int64) (*bulwark.Record, error) {
	if db.batch != nil {
		r, err := db.updatePrepared(ctx, collection, id, patch, ifVersion)
		if !errors.Is(err, errNotPrepared) {
			return r, err
		}
	}
	var r *bulwark.Record
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		c, lk, err := t.recordScope(bulwark.PermRecordsWrite, collection, lockShare)
		if err != nil {
			return err
		}
		stored, err := t.storedRecord(c, id)
		if err != nil {
			return err
		}
		if err := checkVersion(stored.Record, ifVersion); err != nil {
			return err
		}
		hadSealed := len(stored.sealed) > 0
		if r, err = stored.open(lk, c); err != nil {
			return err
		}
		clean, err := c.ValidateData(patch, true)
		if err != nil {
			return err
		}
		if len(clean) == 0 {
			return bulwark.Errorf(bulwark.EInvalid, "nothing to change: give at least one field")
		}
		merged, err := c.Merge(r.Data, clean)
		if err != nil {
			return err
		}
		// The whole row is written again, every sealed value under the
		// primary key: a row never mixes keys.
		if err := t.writeRecord(lk, c, id, merged, r.Version, hadSealed); err != nil {
			return err
		}
		if err := t.setUniques(lk, c, id, merged, sortedKeys(clean)); err != nil {
			return err
		}
		r.Data, r.Version, r.UpdatedAt = merged, r.Version+1, t.now
		return t.audit(auditEntry{Action: "record.update", TargetKind: "record", TargetID: c.Name + "/" + id, Fields: sortedKeys(clean)})
	})
	return r, err
}

// DeleteRecord removes a record.
func (db *DB) DeleteRecord(ctx context.Context, collection, id string, ifVersion int64) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		t.keepAuth = true
		c, _, err := t.recordScope(bulwark.PermRecordsDelete, collection, lockNone)
		if err != nil {
			return err
		}
		// Deleting opens nothing, so it works without the tenant's keys.
		r, err := t.storedRecord(c, id)
		if err != nil {
			return err
		}
		if err := checkVersion(r.Record, ifVersion); err != nil {
			return err
		}
		res, err := t.exec("DELETE FROM records WHERE tenant_id = ? AND collection_id = ? AND id = ? AND version = ?", t.tenantID, c.ID, id, r.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.EFailedPrecondition, "the record changed while you deleted it: read it again")
		}
		return t.audit(auditEntry{Action: "record.delete", TargetKind: "record", TargetID: c.Name + "/" + id})
	})
}

// ListRecords lists records in id order (creation order), with equality
// filters on fields.
func (db *DB) ListRecords(ctx context.Context, collection string, opt bulwark.ListOptions) ([]*bulwark.Record, string, error) {
	limit := pageSize(opt.Limit)
	out := []*bulwark.Record{}
	var next string
	err := db.inTenantReads(ctx, func(t *tenantTx) error { // as GetRecord
		c, lk, err := t.recordScope(bulwark.PermRecordsRead, collection, lockNone)
		if err != nil {
			return err
		}
		q := "SELECT " + recordColumns + " FROM records WHERE tenant_id = ? AND collection_id = ? AND id > ?"
		args := []any{t.tenantID, c.ID, opt.Cursor}
		var sealedFilters []string
		filters := make(map[string]any, len(opt.Filters))
		for name, raw := range opt.Filters {
			f, ok := c.Field(name)
			if !ok || f.Type == bulwark.TypeJSON {
				return bulwark.FieldError(name, "is not a field that can be filtered")
			}
			v, err := bulwark.ParseFilterValue(f, raw)
			if err != nil {
				return err
			}
			filters[name] = v
		}
		for _, name := range sortedKeys(filters) {
			f, _ := c.Field(name)
			cond, a, err := t.db.dialect.jsonEq("data", name, filters[name])
			if err != nil {
				return err
			}
			if f.Classification.Sensitive() {
				if !indexed(f) {
					return bulwark.FieldError(name, "is sealed ("+string(f.Classification)+") and has no blind index: only fields marked lookup or unique can be filtered")
				}
				// The blind index finds sealed values; the clear branch
				// finds values written before the field became sensitive
				// that the re-seal job has not reached yet.
				k, err := lk.get()
				if err != nil && !errors.Is(err, errNoKeys) {
					return err
				}
				if k != nil {
					tag, err := blindTag(k, c, name, bulwark.UniqueKey(filters[name]))
					if err != nil {
						return err
					}
					tcond, ta, err := t.db.dialect.jsonEq("tags", name, tag)
					if err != nil {
						return err
					}
					cond = "(" + tcond + " OR " + cond + ")"
					a = append(ta, a...)
				}
				sealedFilters = append(sealedFilters, name)
			}
			q += " AND " + cond
			args = append(args, a...)
		}
		q += " ORDER BY id LIMIT ?"
		args = append(args, limit+1)
		rows, err := t.query(q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var stored []*storedRecord
		for rows.Next() {
			r, err := scanRecord(rows, c.Name)
			if err != nil {
				return err
			}
			stored = append(stored, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(stored) > limit {
			stored, next = stored[:limit], stored[limit-1].ID
		}
		for _, s := range stored {
			r, err := s.open(lk, c)
			if err != nil {
				return err
			}
			// A blind index tag only says "probably equal": the opened
			// value is compared too, so a filter never returns a record
			// whose value differs.
			match := true
			for _, name := range sealedFilters {
				if bulwark.UniqueKey(r.Data[name]) != bulwark.UniqueKey(filters[name]) {
					match = false
				}
			}
			if match {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, next, err
}
