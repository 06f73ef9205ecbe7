package store

import (
	"context"
	"database/sql"
	"testing"
)

// TestNumberEntriesAcrossGaps: the sequencer numbers runs of consecutive
// rows with one UPDATE each; rows around gaps in seq (a rolled-back
// transaction's on PostgreSQL) get the next indexes in order, and a row
// numbered meanwhile fails the round.
func TestNumberEntriesAcrossGaps(t *testing.T) {
	db := openSQLiteForTest(t)
	ctx := context.Background()
	seqs := []int64{1, 2, 3, 7, 8, 10}
	err := db.run(ctx, true, nil, func(t *tx) error {
		for _, s := range append(seqs, 11) {
			if _, err := t.exec(`INSERT INTO audit_log (seq, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged)
				VALUES (?, 0, 'cli', '', 'x', '', '', '[]', 'success', '', 0)`, s); err != nil {
				return err
			}
		}
		return t.numberEntries(seqs, 5)
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.read.Query("SELECT seq, idx FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]sql.NullInt64{}
	for rows.Next() {
		var s int64
		var idx sql.NullInt64
		rows.Scan(&s, &idx)
		got[s] = idx
	}
	rows.Close()
	for i, s := range seqs {
		if !got[s].Valid || got[s].Int64 != 5+int64(i) {
			t.Errorf("seq %d: idx %v, want %d", s, got[s], 5+i)
		}
	}
	if got[11].Valid {
		t.Errorf("seq 11 was not in the round but got idx %d", got[11].Int64)
	}
	// A row already numbered (by another sequencer) fails the round.
	err = db.run(ctx, true, nil, func(t *tx) error { return t.numberEntries([]int64{10, 11}, 11) })
	if err == nil {
		t.Fatal("numbering an already numbered row succeeded")
	}
}
