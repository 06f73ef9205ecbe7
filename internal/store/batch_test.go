package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func openSQLiteForTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "b.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestGroupCommitIsolatesRequests: many concurrent write transactions share
// commits; the ones that fail (a constraint violation, an error after a
// write, a panic) leave nothing behind, and every one that succeeded is
// there.
func TestGroupCommitIsolatesRequests(t *testing.T) {
	db := openSQLiteForTest(t)
	ctx := context.Background()
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.run(ctx, true, nil, func(t *tx) error {
				slug := fmt.Sprintf("t%03d", i)
				if i%10 == 3 {
					slug = "dup" // all but one of these conflict
				}
				if _, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, 0)", fmt.Sprint("id", i), slug, "x"); err != nil {
					return err
				}
				switch i % 10 {
				case 5:
					return errors.New("fails after writing")
				case 7:
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	var ok, dupOK int
	for i, err := range errs {
		switch i % 10 {
		case 5, 7:
			if err == nil {
				t.Errorf("request %d should have failed", i)
			}
		case 3:
			if err == nil {
				dupOK++
			}
		default:
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			ok++
		}
	}
	if dupOK != 1 {
		t.Errorf("%d duplicate inserts succeeded, want 1", dupOK)
	}
	var rows int
	db.read.QueryRow("SELECT count(*) FROM tenants").Scan(&rows)
	if rows != ok+dupOK {
		t.Fatalf("%d rows committed, want %d (acknowledged writes only)", rows, ok+dupOK)
	}
	var stray int
	db.read.QueryRow("SELECT count(*) FROM tenants WHERE id LIKE 'id%5' OR id LIKE 'id%7'").Scan(&stray)
	if stray != 0 {
		t.Fatalf("%d rows of failed requests were committed", stray)
	}
}

func TestGroupCommitAfterClose(t *testing.T) {
	db := openSQLiteForTest(t)
	db.batch.close()
	err := db.run(context.Background(), true, nil, func(t *tx) error { return nil })
	if !errors.Is(err, errClosed) {
		t.Fatalf("write after close = %v", err)
	}
}
