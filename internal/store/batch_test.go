package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func openSQLiteForTest(t testing.TB) *DB {
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

func insertTenant(db *DB, id string) error {
	return db.run(context.Background(), true, nil, func(t *tx) error {
		_, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, 0)", id, id, "x")
		return err
	})
}

// blockFirstFsync holds the store's first WAL fsync until release is
// called (at the latest when the test ends, before the store closes);
// entered closes when that fsync has begun, and calls counts them all.
func blockFirstFsync(t *testing.T, db *DB) (entered <-chan struct{}, release func(), calls *atomic.Int32) {
	real := db.batch.syncWAL
	in, out := make(chan struct{}), make(chan struct{})
	calls = new(atomic.Int32)
	db.batch.syncWAL = func() error {
		if calls.Add(1) == 1 {
			close(in)
			<-out
		}
		return real()
	}
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	t.Cleanup(release)
	return in, release, calls
}

// TestGroupCommitAcksAfterFsync: a write is acknowledged only after an
// fsync of the WAL that began after its commit.
func TestGroupCommitAcksAfterFsync(t *testing.T) {
	db := openSQLiteForTest(t)
	entered, release, calls := blockFirstFsync(t, db)
	done := make(chan error, 1)
	go func() { done <- insertTenant(db, "a") }()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("the write was acknowledged (%v) before any fsync", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the write was acknowledged (%v) before the fsync after its commit", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls.Load() < 1 {
		t.Fatal("no fsync")
	}
}

// TestGroupCommitJoinsWhileSyncing: the writes that arrive while the
// syncer is busy run at once but join one transaction, committed when the
// syncer is free, instead of one commit each (each commit writes every
// page it touched to the WAL again).
func TestGroupCommitJoinsWhileSyncing(t *testing.T) {
	db := openSQLiteForTest(t)
	entered, release, calls := blockFirstFsync(t, db)
	done := make(chan error, 21)
	go func() { done <- insertTenant(db, "first") }()
	<-entered
	var ran atomic.Int32
	for i := 0; i < 20; i++ {
		go func() {
			done <- db.run(context.Background(), true, nil, func(t *tx) error {
				ran.Add(1)
				_, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, 0)", fmt.Sprint("j", i), fmt.Sprint("j", i), "x")
				return err
			})
		}()
	}
	for ran.Load() < 20 {
		runtime.Gosched()
	}
	var visible int
	if err := db.read.QueryRow("SELECT count(*) FROM tenants").Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 1 {
		t.Fatalf("%d rows committed while the first fsync ran, want 1: the later writes were committed one batch at a time", visible)
	}
	release()
	for i := 0; i < 21; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d fsyncs, want 2 (the first write, then the other twenty together)", n)
	}
}

// TestGroupCommitFailsClosedOnFsyncError: when an fsync fails, the writes
// it covered fail, and so does every later write, without running.
func TestGroupCommitFailsClosedOnFsyncError(t *testing.T) {
	db := openSQLiteForTest(t)
	db.batch.syncWAL = func() error { return errors.New("EIO") }
	if err := insertTenant(db, "a"); bulwark.ErrorCode(err) != bulwark.EUnavailable {
		t.Fatalf("write whose fsync failed = %v, want unavailable", err)
	}
	ran := false
	err := db.run(context.Background(), true, nil, func(t *tx) error { ran = true; return nil })
	if bulwark.ErrorCode(err) != bulwark.EUnavailable || ran {
		t.Fatalf("write after a failed fsync = %v (ran %v), want unavailable without running", err, ran)
	}
}

// TestWALFileSync fsyncs the real WAL, and follows it when the file at
// the path is replaced.
func TestWALFileSync(t *testing.T) {
	dir := t.TempDir()
	w := &walFile{path: filepath.Join(dir, "x.db-wal")}
	defer w.close()
	if err := w.sync(); err == nil {
		t.Fatal("sync of a missing WAL succeeded")
	}
	if err := os.WriteFile(w.path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	first := w.f
	if err := os.Remove(w.path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if w.f == first {
		t.Fatal("kept syncing a WAL file that the path no longer names")
	}
}
