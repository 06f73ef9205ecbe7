package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/bulwarkhq/bulwark"
)

// scanCollection reads a row of collectionColumns; raw, when given,
// receives the fields as stored.
func scanCollection(s interface{ Scan(...any) error }, raw ...*string) (*bulwark.Collection, error) {
	var c bulwark.Collection
	var fields string
	var created, updated int64
	if err := s.Scan(&c.ID, &c.Name, &fields, &created, &updated); err != nil {
		return nil, err
	}
	for _, r := range raw {
		*r = fields
	}
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

const collectionColumns = "id, name, fields, created_at, updated_at"

func (t *tenantTx) collectionByName(name string) (*bulwark.Collection, error) {
	c, err := scanCollection(t.queryRow("SELECT "+collectionColumns+" FROM collections WHERE tenant_id = ? AND name = ?", t.tenantID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.NotFound("collection")
	}
	return c, err
}

// requireCanIn fails unless the principal holds perm for the collection,
// tenant-wide or through a grant scoped to it.
func (t *tenantTx) requireCanIn(perm bulwark.Permission, collection string) error {
	if !t.principal.Can(perm, collection) {
		return bulwark.Errorf(bulwark.EForbidden, "you lack the %s permission for this collection", perm)
	}
	return nil
}

// CreateCollection defines a collection. Every field needs a
// classification (DATA-1).
func (db *DB) CreateCollection(ctx context.Context, c bulwark.Collection) (*bulwark.Collection, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermCollectionsManage); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.UpdatedAt = newID(), t.now, t.now
		fields, err := json.Marshal(c.Fields)
		if err != nil {
			return err
		}
		_, err = t.exec("INSERT INTO collections (tenant_id, id, name, fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
			t.tenantID, c.ID, c.Name, string(fields), micros(t.now), micros(t.now))
		if t.db.dialect.isUnique(err) {
			return bulwark.Conflict("name", "is taken by another collection")
		}
		if err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "collection.create", TargetKind: "collection", TargetID: c.Name, Fields: fieldNames(c.Fields)})
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func fieldNames(fs []bulwark.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// ListCollections lists the collections the caller may read.
func (db *DB) ListCollections(ctx context.Context) ([]*bulwark.Collection, error) {
	out := []*bulwark.Collection{}
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		rows, err := t.query("SELECT "+collectionColumns+" FROM collections WHERE tenant_id = ? ORDER BY name", t.tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCollection(rows)
			if err != nil {
				return err
			}
			if t.principal.Can(bulwark.PermCollectionsRead, c.Name) {
				out = append(out, c)
			}
		}
		return rows.Err()
	})
	return out, err
}

// GetCollection returns one collection's definition.
func (db *DB) GetCollection(ctx context.Context, name string) (*bulwark.Collection, error) {
	var c *bulwark.Collection
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		if err := t.requireCanIn(bulwark.PermCollectionsRead, name); err != nil {
			return err
		}
		var err error
		c, err = t.collectionByName(name)
		return err
	})
	return c, err
}

// UpdateCollection adds fields or changes classifications on a live
// collection.
func (db *DB) UpdateCollection(ctx context.Context, name string, u bulwark.CollectionUpdate) (*bulwark.Collection, error) {
	var out *bulwark.Collection
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermCollectionsManage); err != nil {
			return err
		}
		c, err := t.collectionByName(name)
		if err != nil {
			return err
		}
		if out, err = u.Apply(c); err != nil {
			return err
		}
		// Values of fields that change sides of the sensitive line are
		// sealed (in the background) or unsealed (now): see reseal.go.
		if err := t.reclassify(c, out); err != nil {
			return err
		}
		out.UpdatedAt = t.now
		fields, err := json.Marshal(out.Fields)
		if err != nil {
			return err
		}
		if _, err := t.exec("UPDATE collections SET fields = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
			string(fields), micros(t.now), t.tenantID, c.ID); err != nil {
			return err
		}
		changed := fieldNames(u.AddFields)
		for f := range u.Classifications {
			changed = append(changed, f)
		}
		return t.audit(auditEntry{Action: "collection.update", TargetKind: "collection", TargetID: name, Fields: changed})
	})
	return out, err
}

// DeleteCollection removes a collection and all its records.
func (db *DB) DeleteCollection(ctx context.Context, name string) error {
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireCan(bulwark.PermCollectionsManage); err != nil {
			return err
		}
		c, err := t.collectionByName(name)
		if err != nil {
			return err
		}
		// Grants and tokens scoped to the collection go with it, so that a
		// new collection of the same name does not inherit them.
		if _, err := t.exec("DELETE FROM user_grants WHERE tenant_id = ? AND collection = ?", t.tenantID, name); err != nil {
			return err
		}
		if _, err := t.exec("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND collection = ?", micros(t.now), t.tenantID, name); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM collections WHERE tenant_id = ? AND id = ?", t.tenantID, c.ID); err != nil {
			return err
		}
		return t.audit(auditEntry{Action: "collection.delete", TargetKind: "collection", TargetID: name})
	})
}
