package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Baseline is a bare row store for `bulwark bench` (issue 7: "the same
// row written with the same durability, but without authentication,
// sealing or audit"): the same SQLite file settings (WAL, acknowledged
// after the WAL fsync), the same group-committed write path, and the
// same row as a record's (its tenant, its collection, its id, the JSON)
// in a table keyed as records are, (tenant_id, collection_id, id), spread
// over as many tenants as the benchmark's. What it leaves out is what the
// comparison prices: no principal or tenant-scoped handle (ISO-1), no
// schema, no sealing, no audit entry. Nothing but the benchmark uses it;
// `bulwark serve` never does.
type Baseline struct {
	db     *DB
	scopes [][2]string // a tenant id and a collection id each
}

// OpenBaseline opens (creating) a baseline store at a sqlite:// URL whose
// rows belong to tenants tenants, one collection each; a row's tenant is
// picked at random, as the benchmark's clients pick the tenant of each
// create.
func OpenBaseline(ctx context.Context, dbURL string, tenants int) (*Baseline, error) {
	if tenants < 1 {
		return nil, fmt.Errorf("the baseline needs at least one tenant")
	}
	db, err := Open(ctx, dbURL, Options{})
	if err != nil {
		return nil, err
	}
	if db.dialect.name() != "sqlite" {
		db.Close()
		return nil, fmt.Errorf("the baseline store is SQLite only")
	}
	_, err = db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS baseline_rows (
		tenant_id TEXT NOT NULL, collection_id TEXT NOT NULL, id TEXT NOT NULL,
		version INTEGER NOT NULL, data TEXT NOT NULL,
		created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, collection_id, id))`)
	if err != nil {
		db.Close()
		return nil, err
	}
	b := &Baseline{db: db}
	for range tenants {
		b.scopes = append(b.scopes, [2]string{newID(), newID()})
	}
	return b, nil
}

// Close closes the store.
func (b *Baseline) Close() error { return b.db.Close() }

// Insert writes one row with a fresh id for a tenant picked at random and
// returns the id and the time it was written.
func (b *Baseline) Insert(ctx context.Context, data []byte) (string, time.Time, error) {
	id, s := newID(), b.scopes[rand.IntN(len(b.scopes))]
	var at time.Time
	err := b.db.run(ctx, true, nil, func(t *tx) error {
		at = t.now
		_, err := t.exec("INSERT INTO baseline_rows (tenant_id, collection_id, id, version, data, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
			s[0], s[1], id, string(data), micros(t.now), micros(t.now))
		return err
	})
	return id, at, err
}
