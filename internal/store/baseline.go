package store

import (
	"context"
	"fmt"
	"time"
)

// Baseline is a bare row store for `bulwark bench`: the same SQLite file
// settings (WAL, acknowledged after the WAL fsync), the same
// group-committed write path and the same row shape as records, but no
// tenant scope, no sealing and no audit entry. Comparing the API against it measures what the controls
// cost. Nothing but the benchmark uses it; `bulwark serve` never does.
type Baseline struct{ db *DB }

// OpenBaseline opens (creating) a baseline store at a sqlite:// URL.
func OpenBaseline(ctx context.Context, dbURL string) (*Baseline, error) {
	db, err := Open(ctx, dbURL, Options{})
	if err != nil {
		return nil, err
	}
	if db.dialect.name() != "sqlite" {
		db.Close()
		return nil, fmt.Errorf("the baseline store is SQLite only")
	}
	_, err = db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS baseline_rows (
		id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
		created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Baseline{db: db}, nil
}

// Close closes the store.
func (b *Baseline) Close() error { return b.db.Close() }

// Insert writes one row with a fresh id and returns the id and the time
// it was written.
func (b *Baseline) Insert(ctx context.Context, data []byte) (string, time.Time, error) {
	id := newID()
	var at time.Time
	err := b.db.run(ctx, true, nil, func(t *tx) error {
		at = t.now
		_, err := t.exec("INSERT INTO baseline_rows (id, version, data, created_at, updated_at) VALUES (?, 1, ?, ?, ?)",
			id, string(data), micros(t.now), micros(t.now))
		return err
	})
	return id, at, err
}
