package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"

	"github.com/bulwarkhq/bulwark"
)

const recordColumns = "id, version, data, created_at, updated_at"

func scanRecord(s interface{ Scan(...any) error }, collection string) (*bulwark.Record, error) {
	r := bulwark.Record{Collection: collection}
	var data []byte
	var created, updated int64
	if err := s.Scan(&r.ID, &r.Version, &data, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &r.Data); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

func (t *tenantTx) record(c *bulwark.Collection, id string) (*bulwark.Record, error) {
	r, err := scanRecord(t.queryRow("SELECT "+recordColumns+" FROM records WHERE tenant_id = ? AND collection_id = ? AND id = ?",
		t.tenantID, c.ID, id), c.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.NotFound("record")
	}
	return r, err
}

// recordScope checks the principal's permission for the collection and
// loads it.
func (t *tenantTx) recordScope(perm bulwark.Permission, collection string) (*bulwark.Collection, error) {
	if err := t.requireCanIn(perm, collection); err != nil {
		return nil, err
	}
	return t.collectionByName(collection)
}

// setUniques records the unique-field values of a record; a value another
// record holds is a conflict naming the field.
func (t *tenantTx) setUniques(c *bulwark.Collection, id string, data map[string]any, changed []string) error {
	for _, name := range changed {
		f, ok := c.Field(name)
		if !ok || !f.Unique {
			continue
		}
		if _, err := t.exec("DELETE FROM record_uniques WHERE tenant_id = ? AND collection_id = ? AND field = ? AND record_id = ?",
			t.tenantID, c.ID, name, id); err != nil {
			return err
		}
		v, ok := data[name]
		if !ok || v == nil {
			continue
		}
		_, err := t.exec("INSERT INTO record_uniques (tenant_id, collection_id, field, value_key, record_id) VALUES (?, ?, ?, ?, ?)",
			t.tenantID, c.ID, name, bulwark.UniqueKey(v), id)
		if t.db.dialect.isUnique(err) {
			return bulwark.Conflict(name, "must be unique: another record has this value")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CreateRecord validates data against the collection and stores it.
func (db *DB) CreateRecord(ctx context.Context, collection string, data map[string]any) (*bulwark.Record, error) {
	var r *bulwark.Record
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		c, err := t.recordScope(bulwark.PermRecordsWrite, collection)
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
		body, err := json.Marshal(clean)
		if err != nil {
			return err
		}
		if _, err := t.exec("INSERT INTO records (tenant_id, collection_id, id, version, data, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
			t.tenantID, c.ID, r.ID, string(body), micros(t.now), micros(t.now)); err != nil {
			return err
		}
		if err := t.setUniques(c, r.ID, clean, keys(clean)); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "record.create", TargetKind: "record", TargetID: c.Name + "/" + r.ID, Fields: keys(clean)})
	})
	return r, err
}

// GetRecord returns one record.
func (db *DB) GetRecord(ctx context.Context, collection, id string) (*bulwark.Record, error) {
	var r *bulwark.Record
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		c, err := t.recordScope(bulwark.PermRecordsRead, collection)
		if err != nil {
			return err
		}
		r, err = t.record(c, id)
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
	var r *bulwark.Record
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		c, err := t.recordScope(bulwark.PermRecordsWrite, collection)
		if err != nil {
			return err
		}
		if r, err = t.record(c, id); err != nil {
			return err
		}
		if err := checkVersion(r, ifVersion); err != nil {
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
		body, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		// The version condition makes the check-then-write atomic on
		// PostgreSQL too, where two transactions may read the same version.
		res, err := t.exec("UPDATE records SET data = ?, version = version + 1, updated_at = ? WHERE tenant_id = ? AND collection_id = ? AND id = ? AND version = ?",
			string(body), micros(t.now), t.tenantID, c.ID, id, r.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.EFailedPrecondition, "the record changed while you wrote it: read it again")
		}
		if err := t.setUniques(c, id, merged, keys(clean)); err != nil {
			return err
		}
		r.Data, r.Version, r.UpdatedAt = merged, r.Version+1, t.now
		return t.audit(auditEntry{Action: "record.update", TargetKind: "record", TargetID: c.Name + "/" + id, Fields: keys(clean)})
	})
	return r, err
}

// DeleteRecord removes a record.
func (db *DB) DeleteRecord(ctx context.Context, collection, id string, ifVersion int64) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		c, err := t.recordScope(bulwark.PermRecordsDelete, collection)
		if err != nil {
			return err
		}
		r, err := t.record(c, id)
		if err != nil {
			return err
		}
		if err := checkVersion(r, ifVersion); err != nil {
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
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		c, err := t.recordScope(bulwark.PermRecordsRead, collection)
		if err != nil {
			return err
		}
		q := "SELECT " + recordColumns + " FROM records WHERE tenant_id = ? AND collection_id = ? AND id > ?"
		args := []any{t.tenantID, c.ID, opt.Cursor}
		for _, name := range keys(opt.Filters) {
			f, ok := c.Field(name)
			if !ok || f.Type == bulwark.TypeJSON {
				return bulwark.FieldError(name, "is not a field that can be filtered")
			}
			cond, a, err := t.db.dialect.jsonEq("data", name, opt.Filters[name])
			if err != nil {
				return err
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
		for rows.Next() {
			r, err := scanRecord(rows, c.Name)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		if len(out) > limit {
			out, next = out[:limit], out[limit-1].ID
		}
		return rows.Err()
	})
	return out, next, err
}
