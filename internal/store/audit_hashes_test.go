package store

import (
	"context"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestAuditHashRuns: a tree grown in rounds of different sizes (one hash
// run, several, runs of one) reads back every stored hash, its leaf
// hashes and its last index through the runs.
func TestAuditHashRuns(t *testing.T) {
	db := openSQLiteForTest(t)
	ctx := context.Background()
	want := map[int64]tlog.Hash{} // every stored hash, as tlog computes it
	mem := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			out[i] = want[id]
		}
		return out, nil
	})
	var size int64
	for _, round := range []int64{1, 1, 7, 300, 1, 692} {
		var ids []int64
		for n := size; n < size+round; n++ {
			hs, err := tlog.StoredHashes(n, []byte{byte(n), byte(n >> 8)}, mem)
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range hs {
				id := tlog.StoredHashCount(n) + int64(i)
				want[id] = h
				ids = append(ids, id)
			}
		}
		size += round
		err := db.inAudit(ctx, true, func(t *tx) error { return t.insertHashes(ids, want) })
		if err != nil {
			t.Fatal(err)
		}
	}
	err := db.inAudit(ctx, false, func(tx *tx) error {
		if last, err := tx.lastHash(); err != nil || last != tlog.StoredHashCount(size)-1 {
			t.Fatalf("lastHash %d, %v; want %d", last, err, tlog.StoredHashCount(size)-1)
		}
		ids := make([]int64, 0, len(want))
		for id := range tlog.StoredHashCount(size) {
			ids = append(ids, id)
		}
		got, err := (&hashReader{t: tx, cache: map[int64]tlog.Hash{}}).ReadHashes(ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if got[i] != want[id] {
				t.Fatalf("hash %d differs", id)
			}
		}
		// The proof of one leaf reads a few hashes, from runs far apart.
		r := &hashReader{t: tx, cache: map[int64]tlog.Hash{}}
		root, err := tlog.TreeHash(size, mem)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{0, 5, 308, size - 1} {
			p, err := tlog.ProveRecord(size, n, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, size, root, n, want[tlog.StoredHashIndex(0, n)]); err != nil {
				t.Fatalf("leaf %d: %v", n, err)
			}
		}
		leaves, err := tx.leafHashes(300, 310)
		if err != nil {
			t.Fatal(err)
		}
		for n := int64(300); n < 310; n++ {
			if leaves[n] != want[tlog.StoredHashIndex(0, n)] {
				t.Fatalf("leaf hash %d differs", n)
			}
		}
		if len(leaves) != 10 {
			t.Fatalf("%d leaf hashes, want 10", len(leaves))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
