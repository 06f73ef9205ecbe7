package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestAuditRollbackIsNotResigned: someone who can write to the database
// (the SQLite file's owner, a PostgreSQL superuser) but holds neither the
// signing key nor the replica's credentials rewrites an entry that was
// signed and shipped, and rolls the tree back below it (head, numbers,
// hashes, checkpoints), so that the running server would number, sign
// and ship the rewritten entries again. The sequencer must refuse to sign
// a tree that does not extend the newest checkpoint it trusts (the one it
// signed last, the replica's newest), keep refusing, and ship nothing:
// the replica keeps the original and alone still verifies, and the
// primary, checked against it, shows the edit. Whether the rewritten tree
// ends up as long as the signed one, longer or shorter, and whether the
// sequencer signed the newest checkpoint itself or a restarted process
// only finds it in the replica.
func TestAuditRollbackIsNotResigned(t *testing.T) {
	cases := []struct {
		name    string
		more    int   // records written after the rollback: the tree grows past the signed size
		keep    int64 // if positive, only this many entries from the rollback point stay: the tree ends below it
		restart bool  // a new sequencer, which trusts only the replica's checkpoint
	}{
		{name: "same size"},
		{name: "same size after a restart", restart: true},
		{name: "longer", more: 3},
		{name: "longer after a restart", more: 3, restart: true},
		{name: "shorter", keep: 1},
	}
	storetest.Each(t, func(t *testing.T, backend string) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				ctx := context.Background()
				r := newAuditRig(t, backend)
				owner := r.seed(t, 20)
				if rep := r.verify(t, true); !rep.OK() {
					t.Fatalf("before: %v", rep.Problems)
				}
				latest, err := r.replica.Latest(ctx)
				if err != nil || latest == nil {
					t.Fatalf("the replica's checkpoint: %q, %v", latest, err)
				}
				signed, err := r.verifier.Open(latest)
				if err != nil {
					t.Fatal(err)
				}
				m := signed.Size
				var n int64
				if err := r.raw.QueryRow(fmt.Sprintf("SELECT max(size) FROM audit_checkpoints WHERE size < %d", m)).Scan(&n); err != nil {
					t.Fatal(err)
				}
				target := n + 1
				original := r.replicaLeaf(t, target)

				// Edit an entry under the newest checkpoint, then roll the
				// tree back to the one before it.
				r.exec(t, fmt.Sprintf("UPDATE audit_log SET action = 'record.read', target_id = 'forged' WHERE idx = %d", target))
				if c.keep > 0 {
					r.exec(t, fmt.Sprintf("DELETE FROM audit_log WHERE idx >= %d", n+c.keep))
				}
				if backend == "postgres" {
					r.exec(t, fmt.Sprintf("UPDATE audit_log SET idx = NULL WHERE idx >= %d", n))
				}
				id := tlog.StoredHashIndex(0, n)
				r.exec(t, fmt.Sprintf("DELETE FROM audit_hash_runs WHERE first >= %d", id))
				r.exec(t, fmt.Sprintf("UPDATE audit_hash_runs SET hashes = substr(hashes, 1, CAST((%d - first) * 32 AS INTEGER)) WHERE first + length(hashes) / 32 > %d", id, id))
				r.exec(t, fmt.Sprintf("DELETE FROM audit_checkpoints WHERE size > %d", n))
				r.exec(t, fmt.Sprintf("UPDATE audit_head SET size = %d, replicated = %d", n, n))
				for i := 0; i < c.more; i++ {
					if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("after the rollback ", i)}); err != nil {
						t.Fatal(err)
					}
				}
				if c.restart {
					r.seq = audit.NewSequencer(r.DB.DB, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", Interval: time.Second})
				}

				// The unmodified server's next rounds.
				for round := 0; round < 3; round++ {
					err := r.seq.Step(ctx)
					if !errors.Is(err, audit.ErrDiverged) {
						t.Fatalf("round %d: %v, want ErrDiverged: the tree does not extend the checkpoint of size %d", round, err, m)
					}
					if st := r.seq.Status(); !errors.Is(st.Halted, audit.ErrDiverged) || !errors.Is(st.Err, audit.ErrDiverged) || len(r.seq.Warnings()) == 0 {
						t.Fatalf("round %d: the refusal is not reported: %+v, warnings %v", round, st, r.seq.Warnings())
					}
					var newest int64
					if err := r.raw.QueryRow("SELECT max(size) FROM audit_checkpoints").Scan(&newest); err != nil {
						t.Fatal(err)
					}
					if newest != n {
						t.Fatalf("round %d: a checkpoint of size %d was stored after the rollback to %d", round, newest, n)
					}
					if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("round ", round)}); err != nil {
						t.Fatal(err)
					}
					r.Clock.Advance(time.Minute) // past any backoff and the lease's renewal
				}

				// Nothing was shipped: the replica still holds the signed
				// history and verifies alone; against it the primary shows
				// the rollback.
				if got, err := r.replica.Latest(ctx); err != nil || !bytes.Equal(got, latest) {
					t.Fatalf("the replica's checkpoint changed: %q, %v", got, err)
				}
				if got := r.replicaLeaf(t, target); !bytes.Equal(got, original) {
					t.Fatalf("the replica's entry %d was overwritten: %s", target, got)
				}
				alone, err := audit.Verify(ctx, r.verifier, r.replica)
				if err != nil || !alone.OK() || alone.Size != m {
					t.Fatalf("the replica alone: %+v, %v", alone, err)
				}
				if both := r.verify(t, true); both.OK() {
					t.Fatalf("primary and replica verify after the rollback: %+v", both)
				}
			})
		}
	})
}

// replicaLeaf returns the replica's entry idx.
func (r *auditRig) replicaLeaf(t *testing.T, idx int64) []byte {
	t.Helper()
	var leaf []byte
	err := r.replica.Leaves(context.Background(), idx+1, func(i int64, l []byte, _ *tlog.Hash) error {
		if i == idx {
			leaf = l
		}
		return nil
	})
	if err != nil || leaf == nil {
		t.Fatalf("the replica's entry %d: %v", idx, err)
	}
	return leaf
}

// TestAuditRollbackMeetsWriteOnceReplica: the replica's latest checkpoint
// lags the entries it holds (a crash between shipping a range and its
// checkpoint), so a restarted sequencer trusts only the older checkpoint,
// which the rolled-back, rewritten tree does extend: it signs it. Shipping
// it must not overwrite the range already in the replica; the sequencer
// then halts, signs and ships nothing more, and the replica still holds
// the original and verifies alone.
func TestAuditRollbackMeetsWriteOnceReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		r := newAuditRig(t, backend)
		owner := r.seed(t, 20)
		latest, err := r.replica.Latest(ctx)
		if err != nil || latest == nil {
			t.Fatalf("the replica's checkpoint: %q, %v", latest, err)
		}
		var n, m int64
		if err := r.raw.QueryRow("SELECT max(size) FROM audit_checkpoints").Scan(&m); err != nil {
			t.Fatal(err)
		}
		if err := r.raw.QueryRow(fmt.Sprintf("SELECT max(size) FROM audit_checkpoints WHERE size < %d", m)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		older, err := os.ReadFile(filepath.Join(r.repDir, "checkpoints", fmt.Sprintf("%020d", n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.repDir, "checkpoint"), older, 0o600); err != nil {
			t.Fatal(err)
		}
		target := n + 1
		original := r.replicaLeaf(t, target)

		r.exec(t, fmt.Sprintf("UPDATE audit_log SET action = 'record.read', target_id = 'forged' WHERE idx = %d", target))
		if backend == "postgres" {
			r.exec(t, fmt.Sprintf("UPDATE audit_log SET idx = NULL WHERE idx >= %d", n))
		}
		id := tlog.StoredHashIndex(0, n)
		r.exec(t, fmt.Sprintf("DELETE FROM audit_hash_runs WHERE first >= %d", id))
		r.exec(t, fmt.Sprintf("UPDATE audit_hash_runs SET hashes = substr(hashes, 1, CAST((%d - first) * 32 AS INTEGER)) WHERE first + length(hashes) / 32 > %d", id, id))
		r.exec(t, fmt.Sprintf("DELETE FROM audit_checkpoints WHERE size > %d", n))
		r.exec(t, fmt.Sprintf("UPDATE audit_head SET size = %d, replicated = %d", n, n))
		r.seq = audit.NewSequencer(r.DB.DB, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", Interval: time.Second})

		r.seq.Step(ctx)
		st := r.seq.Status()
		if !errors.Is(st.Halted, audit.ErrReplicaConflict) || !errors.Is(st.ShipErr, audit.ErrReplicaConflict) || len(r.seq.Warnings()) == 0 {
			t.Fatalf("the rewritten range was shipped over the replica's: %+v, warnings %v", st, r.seq.Warnings())
		}
		var signedTo int64
		if err := r.raw.QueryRow("SELECT max(size) FROM audit_checkpoints").Scan(&signedTo); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ {
			if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("round ", round)}); err != nil {
				t.Fatal(err)
			}
			r.Clock.Advance(time.Minute)
			if err := r.seq.Step(ctx); !errors.Is(err, audit.ErrReplicaConflict) {
				t.Fatalf("round %d after the conflict: %v, want ErrReplicaConflict", round, err)
			}
			var newest int64
			if err := r.raw.QueryRow("SELECT max(size) FROM audit_checkpoints").Scan(&newest); err != nil {
				t.Fatal(err)
			}
			if newest != signedTo {
				t.Fatalf("round %d: signed up to %d after halting at %d", round, newest, signedTo)
			}
		}
		if got := r.replicaLeaf(t, target); !bytes.Equal(got, original) {
			t.Fatalf("the replica's entry %d was overwritten: %s", target, got)
		}
		alone, err := audit.Verify(ctx, r.verifier, r.replica)
		if err != nil || !alone.OK() || alone.Size != m {
			t.Fatalf("the replica alone: %+v, %v", alone, err)
		}
		if both := r.verify(t, true); both.OK() {
			t.Fatalf("primary and replica verify after the rollback: %+v", both)
		}
	})
}
