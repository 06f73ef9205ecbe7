package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
)

// TestNumberEntriesAcrossGaps: on PostgreSQL the sequencer numbers runs
// of consecutive rows with one UPDATE each; rows around gaps in seq (a
// rolled-back transaction's) get the next indexes in order, and a row
// numbered meanwhile fails the round. (On SQLite the writer numbers
// entries as it inserts them.)
func TestNumberEntriesAcrossGaps(t *testing.T) {
	db := openPostgresForTest(t)
	ctx := context.Background()
	seqs := []int64{1, 2, 3, 7, 8, 10}
	err := db.inAudit(ctx, true, func(t *tx) error {
		for _, s := range append(seqs, 11) {
			if _, err := t.exec(`INSERT INTO audit_log (seq, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged) OVERRIDING SYSTEM VALUE
				VALUES (?, 0, 'cli', '', 'x', '', '', '[]', 'success', '', false)`, s); err != nil {
				return err
			}
		}
		return t.numberEntries(seqs, 5)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]sql.NullInt64{}
	err = db.inAudit(ctx, false, func(t *tx) error {
		rows, err := t.query("SELECT seq, idx FROM audit_log ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s int64
			var idx sql.NullInt64
			if err := rows.Scan(&s, &idx); err != nil {
				return err
			}
			got[s] = idx
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		if !got[s].Valid || got[s].Int64 != 5+int64(i) {
			t.Errorf("seq %d: idx %v, want %d", s, got[s], 5+i)
		}
	}
	if got[11].Valid {
		t.Errorf("seq 11 was not in the round but got idx %d", got[11].Int64)
	}
	// A row already numbered (by another sequencer) fails the round.
	err = db.inAudit(ctx, true, func(t *tx) error { return t.numberEntries([]int64{10, 11}, 11) })
	if err == nil {
		t.Fatal("numbering an already numbered row succeeded")
	}
}

// openPostgresForTest opens a new migrated PostgreSQL database as the
// application role (storetest.OpenPostgres, which this package's own
// tests cannot import).
func openPostgresForTest(t *testing.T) *DB {
	t.Helper()
	scratch := postgresScratch(t)
	ctx := context.Background()
	db, err := Open(ctx, scratch.AppURL, Options{OwnerURL: scratch.OwnerURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestAuditMemoMatchesRows: the entries the writer hands to the sequencer
// are, leaf for leaf, what reading their rows back gives (a difference
// would make verification call good entries edited); a request that
// fails leaves none behind; and the sequencer numbers from them.
func TestAuditMemoMatchesRows(t *testing.T) {
	db := openSQLiteForTest(t)
	ten := "ten-1"
	p := &bulwark.Principal{Kind: bulwark.KindToken, ID: "tok-1", TenantID: ten}
	ctx := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ID: "req-1", ClientIP: "192.0.2.1", UserAgent: "UA/1"})
	write := func(fn func(*tx) error) error { return db.run(ctx, true, nil, fn) }
	entries := []struct {
		tenant *string
		p      *bulwark.Principal
		e      auditEntry
	}{
		{&ten, p, auditEntry{Action: "record.create", TargetKind: "record", TargetID: "r1", Fields: []string{"title", "email"}}},
		{&ten, p, auditEntry{Action: "authz.denied", TargetKind: "record", TargetID: "r2", Outcome: bulwark.OutcomeDenied}},
		{nil, nil, auditEntry{Action: "tenant.create", TargetKind: "tenant", TargetID: ten, Privileged: true}},
		{&ten, nil, auditEntry{Action: "auth.login", TargetKind: "user", TargetID: "u1", Fields: []string{}, Outcome: bulwark.OutcomeFailure}},
	}
	for _, c := range entries {
		if err := write(func(t *tx) error { return t.appendAudit(c.tenant, c.p, c.e) }); err != nil {
			t.Fatal(err)
		}
	}
	// A request that fails after writing its entry: nothing of it is kept.
	if err := write(func(t *tx) error {
		if err := t.appendAudit(&ten, p, auditEntry{Action: "record.delete", TargetKind: "record", TargetID: "gone"}); err != nil {
			return err
		}
		return bulwark.Errorf(bulwark.EConflict, "fails after writing")
	}); err == nil {
		t.Fatal("the failing request succeeded")
	}
	var seqs []int64
	var fromRows [][]byte
	rows, err := db.read.Query("SELECT " + db.auditColumns() + " FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		e, s, err := scanEntry(rows)
		if err != nil {
			t.Fatal(err)
		}
		seqs, fromRows = append(seqs, s), append(fromRows, e.Leaf())
	}
	rows.Close()
	if len(seqs) != len(entries) {
		t.Fatalf("%d rows, want %d", len(seqs), len(entries))
	}
	kept, ok := db.memo.get(seqs)
	if !ok || len(db.memo.m) != len(entries) {
		t.Fatalf("memo holds %d entries (all of the rows: %v), want exactly the %d committed", len(db.memo.m), ok, len(entries))
	}
	for i, e := range kept {
		if l := e.Leaf(); !bytes.Equal(l, fromRows[i]) {
			t.Errorf("entry %d:\n memo %s\n rows %s", i, l, fromRows[i])
		}
	}
	// The sequencer takes them from the memo: a row edited before it is
	// numbered is hashed as it was written, so verification flags it.
	if _, err := db.write.Exec("UPDATE audit_log SET action = 'record.read' WHERE seq = ?", seqs[0]); err != nil {
		t.Fatal(err)
	}
	err = db.inAudit(ctx, false, func(t *tx) error {
		got, gotSeqs, err := t.pendingEntries(0, 100)
		if err == nil && (len(got) != len(entries) || gotSeqs[0] != seqs[0] || got[0].Action != "record.create") {
			err = fmt.Errorf("pending entries %d (seqs %v), first %q: not the memo's", len(got), gotSeqs, got[0].Action)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditMemoForgetsNumbered: entries numbered elsewhere (another
// process held the lease) do not fill the memo for good.
func TestAuditMemoForgetsNumbered(t *testing.T) {
	a := &auditMemo{m: map[int64]*audit.Entry{}}
	var es []memoEntry
	for s := int64(1); s <= maxMemo; s++ {
		es = append(es, memoEntry{s, &audit.Entry{Action: "x"}})
	}
	a.add(es)
	if _, ok := a.get([]int64{maxMemo + 1}); ok {
		t.Fatal("an entry never added was found")
	}
	if len(a.m) != 0 {
		t.Fatalf("%d entries below the first pending one kept", len(a.m))
	}
	a.add([]memoEntry{{maxMemo + 1, &audit.Entry{Action: "y"}}})
	if got, ok := a.get([]int64{maxMemo + 1}); !ok || got[0].Action != "y" {
		t.Fatal("the memo took nothing new after it had been full")
	}
}
