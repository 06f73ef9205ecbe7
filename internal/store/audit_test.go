package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// auditRig is a real store with the audit pipeline wired as serve wires
// it: an HMAC sealer, a signing key, a file replica in its own directory
// and a sequencer stepped by hand; raw is a connection that bypasses the
// application (the SQLite file, or a PostgreSQL superuser) for tampering.
type auditRig struct {
	*storetest.Fixture
	signer   *audit.Signer
	verifier *audit.Verifier
	replica  *audit.Replica
	repDir   string
	seq      *audit.Sequencer
	raw      *sql.DB
	gate     func() error
}

func newAuditRig(t testing.TB, backend string) *auditRig {
	t.Helper()
	clock := storetest.NewClock()
	sealer, _ := audit.NewHMACSealer(bytes.Repeat([]byte{7}, 32))
	r := &auditRig{}
	db := storetest.Open(t, backend, store.Options{Now: clock.Now, Audit: store.AuditOptions{Sealer: sealer,
		Gate: func() error {
			if r.gate != nil {
				return r.gate()
			}
			return nil
		}}})
	r.Fixture = &storetest.Fixture{DB: db, Auth: auth.New(db.DB, auth.Options{Params: storetest.FastHashing}), Clock: clock}
	var err error
	r.signer, _, _, err = audit.GenerateSigner("bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	r.verifier, _ = audit.NewVerifier(r.signer.PublicKey())
	r.repDir = filepath.Join(t.TempDir(), "audit-replica")
	r.replica, err = audit.OpenReplica(context.Background(), "file://"+r.repDir+"?create_dir=1&metadata=skip")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.replica.Close() })
	r.seq = audit.NewSequencer(db.DB, r.signer, r.replica, audit.Options{Now: clock.Now, Holder: "test", Interval: time.Second})
	switch backend {
	case "sqlite":
		r.raw, err = sql.Open("sqlite", "file:"+db.Path+"?_pragma=busy_timeout(10000)")
	case "postgres":
		u, _ := url.Parse(storetest.PostgresURL(t))
		ou, _ := url.Parse(db.OwnerURL)
		u.Path = ou.Path
		r.raw, err = sql.Open("pgx", u.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.raw.Close() })
	return r
}

func (r *auditRig) step(t *testing.T) {
	t.Helper()
	if err := r.seq.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (r *auditRig) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := r.raw.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// ph returns the n-th placeholder of the backend.
func (r *auditRig) ph(n int) string {
	if r.Backend == "postgres" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func (r *auditRig) verify(t *testing.T, withReplica bool) *audit.Report {
	t.Helper()
	srcs := []audit.Source{r.AuditSource()}
	if withReplica {
		srcs = append(srcs, r.replica)
	}
	rep, err := audit.Verify(context.Background(), r.verifier, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// seed writes n records in a fresh tenant, stepping the sequencer every
// few writes so there are several checkpoints.
func (r *auditRig) seed(t *testing.T, n int) context.Context {
	t.Helper()
	owner, _ := r.Tenant(t, "acme")
	if _, err := r.CreateCollection(owner, notes); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			r.step(t)
		}
	}
	r.step(t)
	return owner
}

// TestAuditLogVerifies: entries written by ordinary operations are
// numbered, signed, shipped, and both copies verify and agree.
func TestAuditLogVerifies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		r.seed(t, 23)
		st := r.seq.Status()
		if st.Size == 0 || st.Pending != 0 || st.Replicated != st.Size || st.LagEntries != 0 || !st.Leader {
			t.Fatalf("status after steps: %+v", st)
		}
		rep := r.verify(t, true)
		if !rep.OK() || rep.Size != st.Size || rep.Entries["primary"] != st.Size || rep.Entries["replica"] != st.Size {
			t.Fatalf("report %+v, status %+v", rep, st)
		}
		// The replica alone is enough.
		alone, err := audit.Verify(context.Background(), r.verifier, r.replica)
		if err != nil || !alone.OK() || alone.Root != rep.Root {
			t.Fatalf("replica alone: %+v %v", alone, err)
		}
		// Every numbered entry is one line in the replica, byte for byte.
		leaves, _, err := r.AuditLeaves(context.Background(), 0, st.Size)
		if err != nil {
			t.Fatal(err)
		}
		var fromReplica [][]byte
		r.replica.Leaves(context.Background(), st.Size, func(_ int64, l []byte, _ *tlog.Hash) error {
			fromReplica = append(fromReplica, l)
			return nil
		})
		for i := range leaves {
			if !bytes.Equal(leaves[i], fromReplica[i]) {
				t.Fatalf("entry %d differs between primary and replica", i)
			}
		}
	})
}

// TestAuditTamper changes the real database behind the application's back
// (as the file's owner, or a PostgreSQL superuser) and checks that
// verification names the first bad index and why (security-tests e.23-25).
func TestAuditTamper(t *testing.T) {
	var forkedAt int64 // the size of the replaced checkpoint
	cases := []struct {
		name   string
		tamper func(t *testing.T, r *auditRig, size int64)
		index  func(size int64) int64
		kind   string
	}{
		{"edit one entry", func(t *testing.T, r *auditRig, _ int64) {
			r.exec(t, "UPDATE audit_log SET action = 'record.read' WHERE idx = 9")
		}, func(int64) int64 { return 9 }, audit.Edited},
		{"delete one entry", func(t *testing.T, r *auditRig, _ int64) {
			r.exec(t, "DELETE FROM audit_log WHERE idx = 11")
		}, func(int64) int64 { return 11 }, audit.Missing},
		{"reorder two entries", func(t *testing.T, r *auditRig, _ int64) {
			r.exec(t, "UPDATE audit_log SET idx = -1 WHERE idx = 12")
			r.exec(t, "UPDATE audit_log SET idx = 12 WHERE idx = 13")
			r.exec(t, "UPDATE audit_log SET idx = 13 WHERE idx = -1")
		}, func(int64) int64 { return 12 }, audit.Reordered},
		{"truncate the tail", func(t *testing.T, r *auditRig, size int64) {
			// A thorough attacker removes the entries, their hashes, the
			// checkpoints that cover them, and rolls the head back: only
			// the replica still knows.
			cut := size - 4
			r.exec(t, fmt.Sprintf("DELETE FROM audit_log WHERE idx >= %d", cut))
			id := tlog.StoredHashIndex(0, cut)
			r.exec(t, fmt.Sprintf("DELETE FROM audit_hash_runs WHERE first >= %d", id))
			r.exec(t, fmt.Sprintf("UPDATE audit_hash_runs SET hashes = substr(hashes, 1, CAST((%d - first) * 32 AS INTEGER)) WHERE first + length(hashes) / 32 > %d", id, id))
			r.exec(t, fmt.Sprintf("DELETE FROM audit_checkpoints WHERE size > %d", cut))
			r.exec(t, fmt.Sprintf("UPDATE audit_head SET size = %d, replicated = %d", cut, cut))
		}, func(size int64) int64 { return size - 4 }, audit.Truncated},
		{"replace a checkpoint with another root", func(t *testing.T, r *auditRig, _ int64) {
			var size int64
			if err := r.raw.QueryRow("SELECT min(size) FROM audit_checkpoints WHERE size > 10").Scan(&size); err != nil {
				t.Fatal(err)
			}
			// Signed with the real key: the log itself misbehaving.
			fork, err := r.signer.Sign(size, tlog.RecordHash([]byte("another history")))
			if err != nil {
				t.Fatal(err)
			}
			r.exec(t, "UPDATE audit_checkpoints SET note = "+r.ph(1)+", root = "+r.ph(2)+" WHERE size = "+r.ph(3), string(fork.Note), fork.Root[:], size)
			forkedAt = size
		}, func(int64) int64 { return forkedAt }, audit.Forked},
	}
	storetest.Each(t, func(t *testing.T, backend string) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				r := newAuditRig(t, backend)
				r.seed(t, 20)
				size := r.seq.Status().Size
				if rep := r.verify(t, true); !rep.OK() {
					t.Fatalf("before tampering: %v", rep.Problems)
				}
				c.tamper(t, r, size)
				rep := r.verify(t, true)
				p := rep.First()
				if p == nil {
					t.Fatalf("%s went unnoticed", c.name)
				}
				if p.Kind != c.kind || (c.index(size) >= 0 && p.Index != c.index(size)) {
					t.Fatalf("first problem %v, want %s at %d; all: %v", p, c.kind, c.index(size), rep.Problems)
				}
				if c.kind == audit.Forked && len(p.Notes) != 2 {
					t.Fatalf("a fork is reported without both signed checkpoints: %v", p)
				}
			})
		}
	})
}

// TestAuditReplicaTamper: the replica alone detects edits, deletions and
// truncation of its own files.
func TestAuditReplicaTamper(t *testing.T) {
	r := newAuditRig(t, "sqlite")
	r.seed(t, 20)
	files, _ := filepath.Glob(filepath.Join(r.repDir, "entries", "*.jsonl"))
	if len(files) < 3 {
		t.Fatalf("replica bundles: %v", files)
	}
	f := files[1]
	orig, _ := os.ReadFile(f)
	lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
	var first audit.Entry
	e, err := audit.ParseLeaf(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	first = *e
	write := func(ls [][]byte) {
		os.WriteFile(f, append(bytes.Join(ls, []byte("\n")), '\n'), 0o600)
	}
	check := func(name string, idx int64, kind string) {
		t.Helper()
		rep, err := audit.Verify(context.Background(), r.verifier, r.replica)
		if err != nil {
			t.Fatal(err)
		}
		if p := rep.First(); p == nil || p.Index != idx || p.Kind != kind {
			t.Fatalf("%s: %v, want %s at %d", name, rep.Problems, kind, idx)
		}
		os.WriteFile(f, orig, 0o600)
	}
	edited := first
	edited.TargetID = "notes/forged"
	write(append([][]byte{edited.Leaf()}, lines[1:]...))
	check("edit", first.Seq, audit.Edited)
	write(lines[1:])
	check("delete", first.Seq, audit.Missing)
	if len(lines) > 1 {
		swapped := append([][]byte{lines[1], lines[0]}, lines[2:]...)
		write(swapped)
		check("reorder", first.Seq, audit.Reordered)
	}
	last := files[len(files)-1]
	lorig, _ := os.ReadFile(last)
	os.Remove(last)
	rep, _ := audit.Verify(context.Background(), r.verifier, r.replica)
	if p := rep.First(); p == nil || p.Kind != audit.Truncated {
		t.Fatalf("truncated replica: %v", rep.Problems)
	}
	os.WriteFile(last, lorig, 0o600)
	if rep := r.verify(t, true); !rep.OK() {
		t.Fatalf("restored replica: %v", rep.Problems)
	}
}

// TestAuditInsertFailureRollsBack injects a fault into the audit insert
// itself (a trigger that refuses every new entry) and checks that the
// business write fails with it and leaves nothing behind (DATA-5,
// security-tests e.1).
func TestAuditInsertFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 1)
		switch backend {
		case "sqlite":
			r.exec(t, "CREATE TRIGGER audit_fault BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END")
		case "postgres":
			r.exec(t, "CREATE FUNCTION audit_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected audit fault'; END $$")
			r.exec(t, "CREATE TRIGGER audit_fault BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fault()")
		}
		before, _, _ := r.ListRecords(owner, "notes", bulwark.ListOptions{})
		_, err := r.CreateRecord(owner, "notes", map[string]any{"title": "must not exist"})
		if err == nil {
			t.Fatal("the write succeeded without its audit entry")
		}
		if _, err := r.CreateRole(owner, bulwark.Role{Name: "ghost", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}); err == nil {
			t.Fatal("a role was created without its audit entry")
		}
		after, _, _ := r.ListRecords(owner, "notes", bulwark.ListOptions{})
		if len(after) != len(before) {
			t.Fatalf("records %d -> %d: the change was kept", len(before), len(after))
		}
		roles, _ := r.ListRoles(owner)
		for _, ro := range roles {
			if ro.Name == "ghost" {
				t.Fatal("the role was kept")
			}
		}
		r.exec(t, "DROP TRIGGER audit_fault"+map[string]string{"sqlite": "", "postgres": " ON audit_log"}[backend])
		if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": "now fine"}); err != nil {
			t.Fatalf("after the fault is gone: %v", err)
		}
		r.step(t)
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}

// TestAuditReplicaOutage: with the replica unreachable, writes go on and
// nothing is lost; the lag shows; when it returns the replica catches up
// and verifies identical. In strict mode writes are refused past the
// threshold (security-tests e.2).
func TestAuditReplicaOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 5)
		// The replica's directory becomes a file: every write fails.
		moved := r.repDir + ".away"
		if err := os.Rename(r.repDir, moved); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(r.repDir, []byte("not a directory"), 0o600)
		for i := 0; i < 30; i++ {
			if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("during outage ", i)}); err != nil {
				t.Fatalf("a write failed while the replica was down: %v", err)
			}
			if i%10 == 9 {
				r.Clock.Advance(20 * time.Second)
				r.step(t)
			}
		}
		st := r.seq.Status()
		if st.ShipErr == nil || st.LagEntries < 30 || st.Lag < 20*time.Second || len(r.seq.Warnings()) == 0 {
			t.Fatalf("outage not reported: %+v %v", st, r.seq.Warnings())
		}
		// Strict mode: refuse audited writes while the lag is too high.
		strict := audit.NewSequencer(r.DB.DB, r.signer, nil, audit.Options{Now: r.Clock.Now, Holder: "other", StrictLag: 30 * time.Second})
		strict.Step(context.Background())
		r.gate = strict.Gate
		_, err := r.CreateRecord(owner, "notes", map[string]any{"title": "refused"})
		wantCode(t, err, bulwark.EUnavailable)
		r.gate = nil
		// The replica comes back; the next rounds (after the backoff)
		// catch it up.
		os.Remove(r.repDir)
		if err := os.Rename(moved, r.repDir); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10 && r.seq.Status().LagEntries > 0; i++ {
			r.Clock.Advance(time.Minute)
			r.step(t)
		}
		if st := r.seq.Status(); st.LagEntries != 0 || st.ShipErr != nil || st.Lag != 0 {
			t.Fatalf("replica did not catch up: %+v", st)
		}
		rep := r.verify(t, true)
		if !rep.OK() || rep.Entries["replica"] != rep.Entries["primary"] {
			t.Fatalf("after catching up: %+v", rep)
		}
	})
}

// TestAuditLease: one sequencer per deployment. A second one neither
// takes the lease nor numbers anything while the first holds it, and
// takes over when the lease expires.
func TestAuditLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 3)
		other := audit.NewSequencer(r.DB.DB, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "other"})
		r.CreateRecord(owner, "notes", map[string]any{"title": "x"})
		other.Step(context.Background())
		if st := other.Status(); st.Leader || st.Pending != 1 {
			t.Fatalf("second sequencer: %+v", st)
		}
		// A paused holder whose lease ran out is fenced off.
		r.Clock.Advance(time.Minute)
		if _, err := r.IntegrateAudit(context.Background(), "test", 100, func(int64, tlog.Hash, tlog.HashReader) (*audit.Checkpoint, error) {
			t.Fatal("signed after losing the lease")
			return nil, nil
		}); bulwark.ErrorCode(err) != bulwark.EConflict {
			t.Fatalf("expired holder integrated: %v", err)
		}
		other.Step(context.Background())
		if st := other.Status(); !st.Leader || st.Pending != 0 {
			t.Fatalf("takeover: %+v", st)
		}
		r.step(t) // the old holder is now a follower
		if r.seq.Status().Leader {
			t.Fatal("two leaders")
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}

// countingBackend counts the leaves a sequencer reads back for shipping,
// and its lease requests.
type countingBackend struct {
	audit.Backend
	read     int64
	acquired int
}

func (c *countingBackend) AcquireAuditLease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	c.acquired++
	return c.Backend.AcquireAuditLease(ctx, holder, ttl)
}

func (c *countingBackend) AuditLeaves(ctx context.Context, from, to int64) ([][]byte, []tlog.Hash, error) {
	c.read += to - from
	return c.Backend.AuditLeaves(ctx, from, to)
}

// TestAuditShipsWhatItNumbered: the sequencer ships the leaves it has just
// numbered without reading them back; after a restart (or when another
// node numbered them) it reads them back. Both ways the replica holds
// exactly the primary's leaves.
func TestAuditShipsWhatItNumbered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		cb := &countingBackend{Backend: r.DB.DB}
		r.seq = audit.NewSequencer(cb, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test"})
		owner := r.seed(t, 12)
		if cb.read != 0 {
			t.Fatalf("%d leaves read back to ship what this sequencer numbered", cb.read)
		}
		if st := r.seq.Status(); st.Replicated != st.Size || st.Size == 0 {
			t.Fatalf("not shipped: %+v", st)
		}
		// Numbered while the replica is down, then the process restarts:
		// the new sequencer has nothing in memory and reads them back.
		moved := r.repDir + ".away"
		if err := os.Rename(r.repDir, moved); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(r.repDir, []byte("not a directory"), 0o600)
		for i := 0; i < 4; i++ {
			if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("later ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		r.seq.Step(context.Background())
		os.Remove(r.repDir)
		if err := os.Rename(moved, r.repDir); err != nil {
			t.Fatal(err)
		}
		restarted := &countingBackend{Backend: r.DB.DB}
		r.seq = audit.NewSequencer(restarted, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test"})
		r.step(t)
		if st := r.seq.Status(); st.Replicated != st.Size || restarted.read != 4 {
			t.Fatalf("after the restart: %+v, %d leaves read back, want 4", st, restarted.read)
		}
		if rep := r.verify(t, true); !rep.OK() || rep.Entries["replica"] != rep.Entries["primary"] {
			t.Fatalf("%+v", rep)
		}
	})
}

// TestAuditLeaseRenewal: the leader renews its lease (a write, which on
// SQLite empties the readers' page caches) once per third of the TTL, not
// every round; the rounds in between still integrate, fenced by the lease.
func TestAuditLeaseRenewal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		cb := &countingBackend{Backend: r.DB.DB}
		r.seq = audit.NewSequencer(cb, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", LeaseTTL: 9 * time.Second})
		owner := r.seed(t, 10) // three rounds at one instant
		if cb.acquired != 1 {
			t.Fatalf("%d lease requests in rounds within a third of the TTL, want 1", cb.acquired)
		}
		r.Clock.Advance(3 * time.Second)
		r.CreateRecord(owner, "notes", map[string]any{"title": "later"})
		r.step(t)
		if st := r.seq.Status(); cb.acquired != 2 || !st.Leader || st.Pending != 0 {
			t.Fatalf("after a third of the TTL: %d lease requests, %+v", cb.acquired, st)
		}
	})
}

// searchAll follows a tenant's search's cursor to the last page.
func searchAll(t *testing.T, r *auditRig, ctx context.Context, f bulwark.AuditFilter) []*bulwark.AuditEntry {
	t.Helper()
	return searchPages(t, ctx, f, r.SearchAudit)
}

// searchPages follows search's cursor to the last page.
func searchPages(t *testing.T, ctx context.Context, f bulwark.AuditFilter,
	search func(context.Context, bulwark.AuditFilter) ([]*bulwark.AuditEntry, string, error)) []*bulwark.AuditEntry {
	t.Helper()
	var seen []*bulwark.AuditEntry
	for {
		page, next, err := search(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if next == "" {
			return seen
		}
		f.Cursor = next
	}
}

// TestAuditSearchSpansPending: a tenant's search reads numbered entries
// and those the sequencer has not numbered yet (on SQLite through two
// indexes: the tenant index covers numbered entries only), newest first,
// each once across pages, and never another tenant's pending entries.
func TestAuditSearchSpansPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 7) // numbered
		other, _ := r.Tenant(t, "globex")
		if _, err := r.CreateCollection(other, notes); err != nil {
			t.Fatal(err)
		}
		// The two tenants' entries alternate, over several of the blocks
		// that SQLite's tenant index lists (migration 00012); the last
		// block is partly integrated, partly pending.
		interleave := func(n int) {
			t.Helper()
			for i := 0; i < n; i++ {
				if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("owner ", i)}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.CreateRecord(other, "notes", map[string]any{"title": fmt.Sprint("other ", i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		interleave(70)
		r.step(t)
		interleave(4) // pending: no step after these
		seen := searchAll(t, r, owner, bulwark.AuditFilter{Action: "record.", Limit: 6})
		if len(seen) != 81 {
			t.Fatalf("%d record entries, want 81 (77 numbered, 4 pending)", len(seen))
		}
		ids := map[string]bool{}
		for i, e := range seen {
			if e.Tenant != bulwark.FromContext(owner).TenantID || ids[e.Target.ID] {
				t.Fatalf("entry %d: %+v (another tenant's, or seen twice)", i, e)
			}
			ids[e.Target.ID] = true
			if pending := i < 4; pending != (e.Seq == nil) {
				t.Fatalf("entry %d: seq %v, want the 4 newest pending and the rest numbered", i, e.Seq)
			}
			if i > 4 && *e.Seq >= *seen[i-1].Seq {
				t.Fatalf("entry %d: seq %d after %d, want newest first", i, *e.Seq, *seen[i-1].Seq)
			}
		}
		// An operator's search filtered on the tenant finds the same
		// entries, through the tenant's own path.
		sec := bulwark.NewContext(context.Background(), &bulwark.Principal{Kind: bulwark.KindOperator, ID: "op-sec",
			OperatorRoles: []bulwark.OperatorRole{bulwark.OperatorSecurity}})
		var op []*bulwark.AuditEntry
		for f := (bulwark.AuditFilter{Tenant: bulwark.FromContext(owner).TenantID, Action: "record.", Limit: 7}); ; {
			page, next, err := r.SearchAllAudit(sec, f)
			if err != nil {
				t.Fatal(err)
			}
			op = append(op, page...)
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if len(op) != len(seen) {
			t.Fatalf("the operator's search found %d entries, the tenant's %d", len(op), len(seen))
		}
		for i := range op {
			if op[i].Target != seen[i].Target || op[i].Tenant != seen[i].Tenant {
				t.Fatalf("entry %d: the operator's %+v, the tenant's %+v", i, op[i], seen[i])
			}
		}
	})
}

// TestAuditTimeSearch: an operator's search with a time range finds
// exactly the entries of every tenant in it, numbered and pending alike
// (on SQLite through audit_time, which the sequencer writes a row per
// block of 64 entries, and the pending tail), newest first, each once
// across pages; a wrong row in audit_time cannot add an entry.
func TestAuditTimeSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 0)
		other, _ := r.Tenant(t, "globex")
		if _, err := r.CreateCollection(other, notes); err != nil {
			t.Fatal(err)
		}
		start := r.Clock.Now()
		create := func(phase string, n int) {
			t.Helper()
			for i := range n {
				ctx := owner
				if i%2 == 1 {
					ctx = other
				}
				if _, err := r.CreateRecord(ctx, "notes", map[string]any{"title": fmt.Sprint(phase, i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Enough entries before the range for whole blocks of them.
		create("before", 70)
		r.step(t)
		r.Clock.Advance(time.Hour)
		create("in", 5)
		r.step(t)
		create("in-pending", 4) // not integrated: no step after these
		r.Clock.Advance(time.Hour)
		create("after", 3)
		if backend == "sqlite" {
			// A wrong row in audit_time, the sequencer's index, widens
			// nothing: the entries of a block from before the range,
			// listed as reaching into it, are still judged by their own
			// times.
			var first int64
			if err := r.raw.QueryRow("SELECT min(idx) FROM audit_log WHERE action = 'record.create'").Scan(&first); err != nil {
				t.Fatal(err)
			}
			res, err := r.raw.Exec("UPDATE audit_time SET latest = ? WHERE block = ?", start.Add(time.Hour).UnixMicro(), first/64)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("widen block %d: %d rows, want 1", first/64, n)
			}
		}
		sec := bulwark.NewContext(context.Background(), &bulwark.Principal{Kind: bulwark.KindOperator, ID: "op-sec",
			OperatorRoles: []bulwark.OperatorRole{bulwark.OperatorSecurity}})
		for _, c := range []struct {
			f                 bulwark.AuditFilter
			numbered, pending int
		}{
			{bulwark.AuditFilter{Since: start.Add(30 * time.Minute), Until: start.Add(90 * time.Minute)}, 5, 4},
			{bulwark.AuditFilter{Until: start.Add(30 * time.Minute)}, 70, 0},
			{bulwark.AuditFilter{Since: start.Add(90 * time.Minute)}, 0, 3},
			{bulwark.AuditFilter{Since: start.Add(3 * time.Hour)}, 0, 0},
		} {
			c.f.Action, c.f.Limit = "record.create", 2
			seen := searchPages(t, sec, c.f, r.SearchAllAudit)
			if len(seen) != c.numbered+c.pending {
				t.Fatalf("%+v: %d entries, want %d numbered and %d pending", c.f, len(seen), c.numbered, c.pending)
			}
			targets := map[string]bool{}
			for i, e := range seen {
				if targets[e.Target.ID] || e.Time.Before(c.f.Since) || (!c.f.Until.IsZero() && !e.Time.Before(c.f.Until)) {
					t.Fatalf("%+v: entry %d %+v (seen twice, or out of the range)", c.f, i, e)
				}
				targets[e.Target.ID] = true
				if pending := i < c.pending; pending != (e.Seq == nil) {
					t.Fatalf("%+v: entry %d: seq %v, want the %d newest pending and the rest numbered", c.f, i, e.Seq, c.pending)
				}
				if i > c.pending && *e.Seq >= *seen[i-1].Seq {
					t.Fatalf("%+v: entry %d: seq %d after %d, want newest first", c.f, i, *e.Seq, *seen[i-1].Seq)
				}
			}
		}
	})
}

// auditRows reads every entry as the database holds it, bypassing RLS.
func (r *auditRig) auditRows(t *testing.T) []map[string]string {
	t.Helper()
	rows, err := r.raw.Query("SELECT seq, coalesce(tenant_id, ''), actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, client, user_agent FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]string
	cols := []string{"seq", "tenant", "actor_kind", "actor_id", "actor_how", "action", "target_kind", "target_id", "fields", "outcome", "request_id", "client", "user_agent"}
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out
}

// TestAuditEveryMutation: each mutating operation writes exactly one
// entry with the right actor, action and target; no seeded personal value
// (emails, record values, the client address and user agent) appears in
// any entry, in the replica or in an export (DATA-5, PRIV-2, V16.2.5).
func TestAuditEveryMutation(t *testing.T) {
	const (
		canaryEmail = "canary.person@example.org"
		canaryValue = "canary-value-7731@example.net"
		canaryIP    = "203.0.113.77"
		canaryUA    = "CanaryBrowser/9.9"
	)
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		ri := bulwark.RequestInfo{ID: "req-1", ClientIP: canaryIP, UserAgent: canaryUA}
		with := func(ctx context.Context) context.Context { return bulwark.WithRequestInfo(ctx, ri) }
		system := with(storetest.System(context.Background()))
		n := len(r.auditRows(t))
		expect := func(name, actorKind, actorID, action, targetKind, targetID string, privileged bool) {
			t.Helper()
			rows := r.auditRows(t)
			if len(rows) != n+1 {
				t.Fatalf("%s wrote %d entries, want 1", name, len(rows)-n)
			}
			n = len(rows)
			e := rows[len(rows)-1]
			if e["actor_kind"] != actorKind || (actorID != "" && e["actor_id"] != actorID) || e["action"] != action ||
				e["target_kind"] != targetKind || (targetID != "" && e["target_id"] != targetID) || e["outcome"] != "success" {
				t.Fatalf("%s: entry %v", name, e)
			}
		}
		ten, inv, err := r.CreateTenant(system, bulwark.NewTenant{Slug: "acme", Name: "Acme", AdminEmail: "owner@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		// Creating a tenant may also create its keys, which are entries of
		// their own; exactly one says the tenant was created.
		created := 0
		for _, e := range r.auditRows(t)[n:] {
			if e["action"] == "tenant.create" && e["target_id"] == ten.ID && e["actor_kind"] == "system" {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("CreateTenant wrote %d tenant.create entries", created)
		}
		n = len(r.auditRows(t))
		if err := r.Auth.Activate(with(context.Background()), inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		expect("Activate", "user", "", "auth.activate", "user", "", false)
		s, err := r.Auth.Login(with(context.Background()), bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password})
		if err != nil {
			t.Fatal(err)
		}
		expect("Login", "user", "", "auth.login", "user", "", false)
		owner := with(r.As(t, s.Token))
		me := bulwark.FromContext(owner).ID

		_, err = r.CreateCollection(owner, notes)
		noErr(t, err)
		expect("CreateCollection", "user", me, "collection.create", "collection", "notes", false)
		_, err = r.UpdateCollection(owner, "notes", bulwark.CollectionUpdate{AddFields: []bulwark.Field{{Name: "extra", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal}}})
		noErr(t, err)
		expect("UpdateCollection", "user", me, "collection.update", "collection", "notes", false)
		rec, err := r.CreateRecord(owner, "notes", map[string]any{"title": "x", "owner_email": canaryValue, "extra": canaryValue})
		noErr(t, err)
		expect("CreateRecord", "user", me, "record.create", "record", "notes/"+rec.ID, false)
		_, err = r.UpdateRecord(owner, "notes", rec.ID, map[string]any{"extra": canaryValue + "2"}, 0)
		noErr(t, err)
		expect("UpdateRecord", "user", me, "record.update", "record", "notes/"+rec.ID, false)
		noErr(t, r.DeleteRecord(owner, "notes", rec.ID, 0))
		expect("DeleteRecord", "user", me, "record.delete", "record", "notes/"+rec.ID, false)
		u, _, err := r.InviteUser(owner, bulwark.NewUser{Email: canaryEmail, Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		noErr(t, err)
		expect("InviteUser", "user", me, "user.invite", "user", u.ID, false)
		admin := []bulwark.Grant{{Role: bulwark.RoleAdmin}}
		_, err = r.UpdateUser(owner, u.ID, bulwark.UserUpdate{Grants: &admin})
		noErr(t, err)
		expect("UpdateUser", "user", me, "user.update", "user", u.ID, true)
		_, err = r.CreateRole(owner, bulwark.Role{Name: "reader", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}})
		noErr(t, err)
		expect("CreateRole", "user", me, "role.create", "role", "reader", true)
		noErr(t, r.DeleteRole(owner, "reader"))
		expect("DeleteRole", "user", me, "role.delete", "role", "reader", true)
		tok, err := r.CreateToken(owner, bulwark.NewAPIToken{Name: "ci", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
		noErr(t, err)
		expect("CreateToken", "user", me, "token.create", "token", tok.ID, true)
		noErr(t, r.RevokeToken(owner, tok.ID))
		expect("RevokeToken", "user", me, "token.revoke", "token", tok.ID, true)
		noErr(t, r.DeleteUser(owner, u.ID))
		expect("DeleteUser", "user", me, "user.delete", "user", u.ID, true)
		noErr(t, r.DeleteCollection(owner, "notes"))
		expect("DeleteCollection", "user", me, "collection.delete", "collection", "notes", false)
		noErr(t, r.RecordDenial(owner, bulwark.Denial{Action: "GET /api/v1/tokens", Permission: bulwark.PermTokensManage}))
		rows := r.auditRows(t)
		if d := rows[len(rows)-1]; d["action"] != "authz.deny" || d["outcome"] != "denied" || d["actor_id"] != me || d["target_id"] != "GET /api/v1/tokens" {
			t.Fatalf("denial entry %v", d)
		}
		n++
		op, _, err := r.CreateOperator(system, "ops@vendor.example")
		noErr(t, err)
		expect("CreateOperator", "system", "test", "operator.create", "operator", op.ID, true)
		noErr(t, r.Auth.Logout(owner))
		expect("Logout", "user", me, "auth.logout", "user", me, false)

		// The client fields are sealed: a tenant's entry under the
		// tenant's key (one value for both), a deployment-level one as a
		// keyed hash under the deployment key; never the value.
		for _, e := range r.auditRows(t) {
			if e["request_id"] != "req-1" {
				continue
			}
			tenantSealed := strings.HasPrefix(e["client"], "aead:") && e["user_agent"] == ""
			deploymentSealed := strings.HasPrefix(e["client"], "hmac-sha256:") && strings.HasPrefix(e["user_agent"], "hmac-sha256:")
			if (e["tenant"] != "" && !tenantSealed) || (e["tenant"] == "" && !deploymentSealed) {
				t.Fatalf("client fields not sealed: %v", e)
			}
		}
		// No personal value anywhere: entries, replica, export.
		r.step(t)
		var all bytes.Buffer
		for _, e := range r.auditRows(t) {
			b, _ := json.Marshal(e)
			all.Write(b)
		}
		filepath.Walk(r.repDir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				all.Write(b)
			}
			return nil
		})
		s2, err := r.Auth.Login(context.Background(), bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password})
		if err != nil {
			t.Fatal(err)
		}
		r.step(t)
		if err := r.ExportAudit(r.As(t, s2.Token), &all); err != nil {
			t.Fatal(err)
		}
		for _, canary := range []string{canaryEmail, canaryValue, canaryIP, canaryUA, "owner@acme.example", "ops@vendor.example"} {
			if bytes.Contains(all.Bytes(), []byte(canary)) {
				t.Errorf("personal value %q found in the audit log, its replica or an export", canary)
			}
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}

// TestAuditSearchAndExport: filters, cursor pagination, tenant isolation,
// the audit.read permission, and an export whose proofs verify offline.
func TestAuditSearchAndExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 12)
		other, _ := r.Tenant(t, "globex")
		r.CreateCollection(other, notes)
		viewer, _ := r.User(t, owner, "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		auditor, _ := r.User(t, owner, "a@acme.example", bulwark.Grant{Role: bulwark.RoleAuditor})
		r.step(t)

		_, _, err := r.SearchAudit(viewer, bulwark.AuditFilter{})
		wantCode(t, err, bulwark.EForbidden)
		wantCode(t, r.ExportAudit(viewer, io_discard{}), bulwark.EForbidden)

		seen := searchAll(t, r, auditor, bulwark.AuditFilter{Action: "record.", Limit: 5})
		if len(seen) != 12 {
			t.Fatalf("record entries = %d, want 12", len(seen))
		}
		for i, e := range seen {
			if e.Action != "record.create" || e.Tenant != bulwark.FromContext(owner).TenantID || e.Seq == nil {
				t.Fatalf("entry %+v", e)
			}
			if i > 0 && *e.Seq >= *seen[i-1].Seq {
				t.Fatal("not newest first")
			}
		}
		me := bulwark.FromContext(owner).ID
		byActor, _, _ := r.SearchAudit(auditor, bulwark.AuditFilter{Actor: me, Outcome: "success", Limit: 200})
		for _, e := range byActor {
			if e.Actor.ID != me {
				t.Fatalf("actor filter: %+v", e)
			}
		}
		tgt, _, _ := r.SearchAudit(auditor, bulwark.AuditFilter{Target: "notes", Action: "collection.create"})
		if len(tgt) != 1 {
			t.Fatalf("target filter: %d", len(tgt))
		}
		future, _, _ := r.SearchAudit(auditor, bulwark.AuditFilter{Since: r.Clock.Now().Add(time.Hour)})
		past, _, _ := r.SearchAudit(auditor, bulwark.AuditFilter{Until: r.Clock.Now().Add(-time.Hour)})
		if len(future) != 0 || len(past) != 0 {
			t.Fatal("time range filter")
		}
		_, _, err = r.SearchAudit(auditor, bulwark.AuditFilter{Cursor: "nonsense"})
		wantCode(t, err, bulwark.EInvalid)
		// Globex's entries never show in Acme's search.
		globex, _, _ := r.SearchAudit(other, bulwark.AuditFilter{Limit: 200})
		for _, e := range globex {
			if e.Tenant != bulwark.FromContext(other).TenantID {
				t.Fatal("another tenant's entry in the search")
			}
		}

		var exp bytes.Buffer
		if err := r.ExportAudit(auditor, &exp); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.VerifyExport(bytes.NewReader(exp.Bytes()), r.verifier)
		if err != nil || rep.Entries < 12 || rep.Tenant != bulwark.FromContext(owner).TenantID {
			t.Fatalf("export: %+v %v", rep, err)
		}
		// An entry edited in the export fails offline, naming its index.
		lines := bytes.Split(exp.Bytes(), []byte("\n"))
		lines[3] = bytes.Replace(lines[3], []byte(`"outcome":"success"`), []byte(`"outcome":"failure"`), 1)
		_, err = audit.VerifyExport(bytes.NewReader(bytes.Join(lines, []byte("\n"))), r.verifier)
		if ee, ok := err.(*audit.ExportError); !ok || ee.Line != 4 {
			t.Fatalf("edited export: %v", err)
		}
	})
}

type io_discard struct{}

func (io_discard) Write(p []byte) (int, error) { return len(p), nil }

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditLoginFailures: a failed login is an entry with outcome failure,
// in the tenant the slug named (or at deployment level for an unknown
// tenant or an operator), targeting the account if it exists and never
// naming the email that was typed (ASVS V16.3.1).
func TestAuditLoginFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner, _ := r.Tenant(t, "acme")
		me := bulwark.FromContext(owner).ID
		n := len(r.auditRows(t))
		try := func(slug, email string) {
			t.Helper()
			_, err := r.Auth.Login(context.Background(), bulwark.Credentials{Tenant: slug, Email: email, Password: "wrong wrong wrong wrong"})
			wantCode(t, err, bulwark.EUnauthenticated)
		}
		try("acme", "owner@acme.example")
		try("acme", "nobody.canary@acme.example")
		try("nosuch", "x.canary@nosuch.example")
		rows := r.auditRows(t)[n:]
		if len(rows) != 3 {
			t.Fatalf("%d entries for 3 failed logins", len(rows))
		}
		tid := bulwark.FromContext(owner).TenantID
		if e := rows[0]; e["action"] != "auth.login" || e["outcome"] != "failure" || e["target_id"] != me || e["tenant"] != tid {
			t.Fatalf("wrong password: %v", e)
		}
		if e := rows[1]; e["outcome"] != "failure" || e["target_id"] != "" || e["tenant"] != tid {
			t.Fatalf("unknown email: %v", e)
		}
		if e := rows[2]; e["outcome"] != "failure" || e["tenant"] != "" {
			t.Fatalf("unknown tenant: %v", e)
		}
		for _, e := range rows {
			for _, v := range e {
				if strings.Contains(v, "canary") || strings.Contains(v, "owner@") {
					t.Fatalf("a typed email reached the audit log: %v", e)
				}
			}
		}
		r.step(t)
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}

// TestAuditTenantIndexCannotWidenScope: on SQLite a tenant's integrated
// entries are found through audit_tenant, which lists the blocks of
// entries holding some of a tenant's (migration 00012). A row there naming
// a block of another tenant's entries only (the database changed behind
// Bulwark's back) must not show that tenant's entry in the search or the
// export: the entry's own tenant_id decides (tenant isolation, ISO-1).
func TestAuditTenantIndexCannotWidenScope(t *testing.T) {
	r := newAuditRig(t, "sqlite")
	owner := r.seed(t, 3)
	other, _ := r.Tenant(t, "globex")
	if _, err := r.CreateCollection(other, notes); err != nil {
		t.Fatal(err)
	}
	// Enough of globex's entries to fill blocks that hold none of acme's.
	for range 2 * store.AuditBlock {
		if _, err := r.CreateRecord(other, "notes", map[string]any{"title": "globex's"}); err != nil {
			t.Fatal(err)
		}
	}
	r.step(t)
	acme, globex := bulwark.FromContext(owner).TenantID, bulwark.FromContext(other).TenantID
	res, err := r.raw.Exec("INSERT OR IGNORE INTO audit_tenant (tenant, block) SELECT ?, idx / ? FROM audit_log WHERE tenant_id = ?", acme, store.AuditBlock, globex)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("no block of globex's entries only")
	}
	for _, e := range searchAll(t, r, owner, bulwark.AuditFilter{Limit: 5}) {
		if e.Tenant != acme {
			t.Fatalf("acme's search shows %+v", e)
		}
	}
	var exp bytes.Buffer
	if err := r.ExportAudit(owner, &exp); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(exp.Bytes(), []byte(globex)) {
		t.Fatal("acme's export holds a globex entry")
	}
	if rep, err := audit.VerifyExport(bytes.NewReader(exp.Bytes()), r.verifier); err != nil || rep.Tenant != acme {
		t.Fatalf("export: %+v %v", rep, err)
	}
}

// TestAuditAppRoleCannotRewrite: on PostgreSQL the application's role may
// add audit entries, hash runs and checkpoints but not change or remove
// them (auditGrants); only the owner or a DBA can, and verification
// catches that.
func TestAuditAppRoleCannotRewrite(t *testing.T) {
	r := newAuditRig(t, "postgres")
	r.seed(t, 3)
	r.step(t)
	app, err := sql.Open("pgx", r.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, q := range []string{
		"UPDATE audit_hash_runs SET hashes = hashes",
		"DELETE FROM audit_hash_runs",
		"UPDATE audit_checkpoints SET note = note",
		"DELETE FROM audit_checkpoints",
		"UPDATE audit_log SET action = action",
		"DELETE FROM audit_log",
	} {
		_, err := app.Exec(q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as the application role: %v, want permission denied", q, err)
		}
	}
	if rep := r.verify(t, true); !rep.OK() {
		t.Fatal(rep.Problems)
	}
}

// TestAuditImpossibleHashRun: a row of audit_hash_runs that no sequencer
// writes (one far beyond the stored hashes, at the largest index there
// is, after a gap, overlapping the one before, or not whole hashes).
// The primary's size is computed without walking up to the row, within
// the caller's context, and stays the tree's; verification reports the
// row as malformed.
func TestAuditImpossibleHashRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		r.seed(t, 10)
		size := r.seq.Status().Size
		var last, n int64
		if err := r.raw.QueryRow("SELECT first, length(hashes) / 32 FROM audit_hash_runs ORDER BY first DESC LIMIT 1").Scan(&last, &n); err != nil {
			t.Fatal(err)
		}
		end := last + n // where the next run starts
		hash := bytes.Repeat([]byte("x"), 32)
		for _, c := range []struct {
			name   string
			first  int64
			hashes []byte
		}{
			{"far beyond", 1e15, hash},
			{"at the largest index", math.MaxInt64, hash},
			{"after a gap", end + 5, hash},
			{"overlapping", last + 1, hash},
			{"not whole hashes", end, hash[:31]},
		} {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				r.exec(t, "INSERT INTO audit_hash_runs (first, hashes) VALUES ("+r.ph(1)+", "+r.ph(2)+")", c.first, c.hashes)
				defer r.exec(t, "DELETE FROM audit_hash_runs WHERE first = "+r.ph(1), c.first)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				done := make(chan struct{})
				var got int64
				var err error
				go func() {
					defer close(done)
					got, err = r.AuditSource().Size(ctx)
				}()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Fatal("the primary's size is still being computed 10 s past its context's deadline")
				}
				if err != nil || got != size {
					t.Fatalf("size %d, %v; want %d", got, err, size)
				}
				rep := r.verify(t, true)
				var malformed int
				for _, p := range rep.Problems {
					if p.Kind == audit.Malformed && p.Source == "primary" {
						malformed++
					}
				}
				if malformed != 1 || rep.Size != size {
					t.Fatalf("want one malformed problem in the primary; report %+v", rep)
				}
			})
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatalf("with the rows removed: %v", rep.Problems)
		}
	})
}
