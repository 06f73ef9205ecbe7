package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
)

// auditedInsert inserts tenant id and its audit entry; fail makes the
// request fail after both. ran (if not nil) counts the requests run.
func auditedInsert(db *DB, id, action string, fail bool, ran *atomic.Int32) error {
	return db.run(context.Background(), true, nil, func(t *tx) error {
		if ran != nil {
			ran.Add(1)
		}
		if _, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, 0)", id, id, "x"); err != nil {
			return err
		}
		if err := t.appendAudit(nil, nil, auditEntry{Action: action, TargetKind: "tenant", TargetID: id}); err != nil {
			return err
		}
		if fail {
			return errors.New("fails after writing")
		}
		return nil
	})
}

// TestAuditQueueKeepsSucceededOnly: in batches of many requests (up to
// 256, so several inserts of up to 32 entries each), the entries of the
// requests that failed are gone with them, every committed request has
// its entry, the entries took consecutive sequence numbers, and the memo
// holds each under the number its row got.
func TestAuditQueueKeepsSucceededOnly(t *testing.T) {
	db := openSQLiteForTest(t)
	entered, release, _ := blockFirstFsync(t, db)
	go auditedInsert(db, "first", "test.write", false, nil)
	<-entered
	const n = 300
	var ran atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = auditedInsert(db, fmt.Sprint("t", i), "test.write", i%7 == 3, &ran)
		}()
	}
	for ran.Load() < maxBatch-1 { // the open batch is full
		runtime.Gosched()
	}
	release()
	wg.Wait()
	want := map[string]bool{"first": true}
	for i, err := range errs {
		if (err != nil) != (i%7 == 3) {
			t.Fatalf("request %d: %v", i, err)
		}
		if err == nil {
			want[fmt.Sprint("t", i)] = true
		}
	}
	rows, err := db.read.Query("SELECT seq, target_id FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seqs []int64
	var targets []string
	for rows.Next() {
		var seq int64
		var target string
		if err := rows.Scan(&seq, &target); err != nil {
			t.Fatal(err)
		}
		if !want[target] {
			t.Fatalf("entry %d for %s, which was not committed", seq, target)
		}
		delete(want, target)
		seqs, targets = append(seqs, seq), append(targets, target)
	}
	if len(want) != 0 {
		t.Fatalf("committed without an entry: %v", want)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, s)
		}
	}
	memo, ok := db.memo.get(seqs)
	if !ok {
		t.Fatal("the memo misses committed entries")
	}
	for i, e := range memo {
		if e.TargetID != targets[i] {
			t.Fatalf("memo has %s under seq %d, the row %s", e.TargetID, seqs[i], targets[i])
		}
	}
}

// TestAuditQueueFailureFailsBatch: when the batch's entries cannot be
// inserted, every request of the batch fails and nothing of it is kept
// (DATA-5), and later writes succeed.
func TestAuditQueueFailureFailsBatch(t *testing.T) {
	db := openSQLiteForTest(t)
	if _, err := db.write.Exec("CREATE TRIGGER audit_fault BEFORE INSERT ON audit_log WHEN NEW.action = 'test.bad' BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END"); err != nil {
		t.Fatal(err)
	}
	entered, release, calls := blockFirstFsync(t, db)
	first := make(chan error, 1)
	go func() { first <- auditedInsert(db, "first", "test.write", false, nil) }()
	<-entered
	const n = 5
	var ran atomic.Int32
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			action := "test.write"
			if i == 2 {
				action = "test.bad"
			}
			errs <- db.run(context.Background(), true, nil, func(t *tx) error {
				ran.Add(1)
				id := fmt.Sprint("t", i)
				if _, err := t.exec("INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, 0)", id, id, "x"); err != nil {
					return err
				}
				return t.appendAudit(nil, nil, auditEntry{Action: action, TargetKind: "tenant", TargetID: id})
			})
		}()
	}
	for ran.Load() < n {
		runtime.Gosched()
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; bulwark.ErrorCode(err) != bulwark.EInternal {
			t.Fatalf("a request of the batch whose entries failed: %v, want internal", err)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d fsyncs: the failed batch was committed", c)
	}
	var tenants, entries int
	db.read.QueryRow("SELECT count(*) FROM tenants").Scan(&tenants)
	db.read.QueryRow("SELECT count(*) FROM audit_log").Scan(&entries)
	if tenants != 1 || entries != 1 {
		t.Fatalf("%d tenants and %d entries after the failed batch, want the first write's 1 and 1", tenants, entries)
	}
	if err := auditedInsert(db, "later", "test.write", false, nil); err != nil {
		t.Fatalf("a write after the failed batch: %v", err)
	}
}

// TestAuditQueueSealedWith: the check for the data keys a tenant's entries
// still need sees entries queued in the open batch, of that tenant only,
// whether their request has finished or is running.
func TestAuditQueueSealedWith(t *testing.T) {
	entry := func(tenant, client string) *audit.Entry {
		return &audit.Entry{Tenant: tenant, Client: client}
	}
	q := &auditQueue{done: []*audit.Entry{entry("a", "aead:7:xyz"), entry("b", "aead:9:xyz")}}
	q.begin()
	q.req = append(q.req, entry("a", "aead:12:xyz"))
	for _, c := range []struct {
		tenant, prefix string
		want           bool
	}{{"a", "aead:7:", true}, {"a", "aead:12:", true}, {"a", "aead:9:", false}, {"b", "aead:9:", true}, {"a", "aead:1:", false}} {
		if got := q.sealedWith(c.tenant, c.prefix); got != c.want {
			t.Errorf("sealedWith(%s, %s) = %v", c.tenant, c.prefix, got)
		}
	}
}

// TestAuditNumberingAcrossProcesses: the writer numbers a batch's entries
// from where its own last batch ended, without asking the log; when
// another process (a CLI command on the same file) has written entries in
// between, the collision on idx makes it ask the log and number again.
// Every entry ends up numbered once, with no gap, whoever wrote it.
func TestAuditNumberingAcrossProcesses(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "b.db")
	var server, cli *DB
	for _, db := range []**DB{&server, &cli} {
		var err error
		if *db, err = Open(context.Background(), url, Options{}); err != nil {
			t.Fatal(err)
		}
		defer (*db).Close()
		if err := (*db).Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, db := range []*DB{server, server, cli, cli, server, cli, server, server} {
		if err := auditedInsert(db, fmt.Sprint("t", i), "test.write", false, nil); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i == 6 {
			// A failed request leaves no entry and moves nothing.
			if err := auditedInsert(db, "failed", "test.write", true, nil); err == nil {
				t.Fatal("the failing write succeeded")
			}
		}
	}
	rows, err := server.read.Query("SELECT idx, target_id FROM audit_log ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var idx int64
		var target string
		if err := rows.Scan(&idx, &target); err != nil {
			t.Fatal(err)
		}
		if idx != n || target != fmt.Sprint("t", n) {
			t.Fatalf("entry %d is idx %d for %s", n, idx, target)
		}
		n++
	}
	if n != 8 {
		t.Fatalf("%d entries, want 8", n)
	}
}
