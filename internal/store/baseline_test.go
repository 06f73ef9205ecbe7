package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// The bench's bare baseline must write the same row as a record create,
// in a table keyed as records are and spread over tenants, or full/bare
// would price the records' tenant-led key as a control (issue 7).
func TestBaselineWritesRecordsRows(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenBaseline(ctx, "sqlite://"+filepath.Join(t.TempDir(), "none.db"), 0); err == nil {
		t.Fatal("a baseline of no tenants opened")
	}
	b, err := OpenBaseline(ctx, "sqlite://"+filepath.Join(t.TempDir(), "baseline.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 60 {
		if _, _, err := b.Insert(ctx, []byte(`{"title":"a"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var rows, scopes, idLen int
	err = b.db.read.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT tenant_id || '/' || collection_id), min(length(tenant_id) + length(collection_id) + length(id))
		FROM baseline_rows`).Scan(&rows, &scopes, &idLen)
	if err != nil {
		t.Fatal(err)
	}
	// 60 rows over 3 tenants leave one out with probability 3·(2/3)^60.
	if rows != 60 || scopes != 3 || idLen != 3*36 {
		t.Errorf("%d rows over %d tenants, ids of %d characters: want 60 rows over 3, with ids as long as records'", rows, scopes, idLen)
	}

	records := openSQLiteForTest(t)
	if got, want := primaryKey(t, b.db, "baseline_rows"), primaryKey(t, records, "records"); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("the baseline is keyed by %v, records by %v", got, want)
	}
}

// primaryKey is the columns of table's primary key, in order.
func primaryKey(t *testing.T, db *DB, table string) []string {
	t.Helper()
	var cols []string
	err := db.run(context.Background(), false, nil, func(tx *tx) (err error) {
		cols, err = tx.queryStrings(`SELECT ii.name FROM pragma_index_list(?) il, pragma_index_info(il.name) ii
			WHERE il.origin = 'pk' ORDER BY ii.seqno`, table)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cols
}
