package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
)

// The audit sequencer's side of the store (audit.Backend): it reads every
// tenant's entries, so on PostgreSQL its transactions set
// app.audit_scope = 'all', which the audit_sequencer policy admits. No
// other code path sets it.

var _ audit.Backend = (*DB)(nil)

const sequencerLease = "audit-sequencer"

// inAudit runs fn in a deployment-level transaction that may read and
// number every tenant's audit entries.
func (db *DB) inAudit(ctx context.Context, write bool, fn func(*tx) error) error {
	return db.run(ctx, write, func(t *tx) error {
		if db.dialect.name() != "postgres" {
			return nil
		}
		_, err := t.exec("SELECT set_config('app.audit_scope', 'all', true)")
		return err
	}, fn)
}

var errLeaseLost = &bulwark.Error{Code: bulwark.EConflict, Message: "another process holds the audit sequencer lease"}

// AcquireAuditLease implements audit.Backend with one conditional UPDATE,
// the same on SQLite and PostgreSQL.
func (db *DB) AcquireAuditLease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	var ok bool
	err := db.inGlobal(ctx, true, func(t *globalTx) error {
		t.keepAuth = true
		res, err := t.exec("UPDATE leases SET holder = ?, until = ? WHERE name = ? AND (until < ? OR holder = ?)",
			holder, micros(t.now.Add(ttl)), sequencerLease, micros(t.now), holder)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReleaseAuditLease implements audit.Backend: the lease ends now if holder
// has it; another holder's lease is left alone.
func (db *DB) ReleaseAuditLease(ctx context.Context, holder string) error {
	return db.inGlobal(ctx, true, func(t *globalTx) error {
		t.keepAuth = true
		_, err := t.exec("UPDATE leases SET until = 0 WHERE name = ? AND holder = ?", sequencerLease, holder)
		return err
	})
}

// fence fails unless holder still holds the lease. On PostgreSQL the
// UPDATE also locks the lease row until the transaction ends, so two
// sequencers can never integrate at the same time even if one was paused
// past its lease.
func (t *tx) fence(holder string) error {
	res, err := t.exec("UPDATE leases SET holder = holder WHERE name = ? AND holder = ? AND until >= ?", sequencerLease, holder, micros(t.now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(errLeaseLost, err)
	}
	return nil
}

// IntegrateAudit implements audit.Backend. The work is split so that the
// single SQLite writer, which every business write waits for, only stores
// the result: a read transaction takes the tree's size, the pending
// entries and the tree's edge, and the entries, the new tree hashes and
// the root are computed outside any write; the write transaction then
// checks the lease and that the tree is still that size (else nothing is
// stored: another sequencer moved it), and only then signs the checkpoint
// (nothing is signed without the lease; sign may refuse, and then nothing
// is stored: audit.ErrDiverged), stores the hashes, numbers the
// entries (each must still be unnumbered; on SQLite the writer numbered
// them and the tenant index is written instead: audit_numbering.go) and
// the checkpoint. Entries are immutable once written, so hashing them as
// read (or, on SQLite, as the writer kept them: pendingEntries) is hashing
// what is integrated.
func (db *DB) IntegrateAudit(ctx context.Context, holder string, max int, sign func(int64, tlog.Hash, tlog.HashReader) (*audit.Checkpoint, error)) (*audit.Integrated, error) {
	var (
		size    int64
		entries []*audit.Entry
		seqs    []int64
		newIDs  []int64
		r       *hashReader
		root    tlog.Hash
		leaves  [][]byte
		hashes  []tlog.Hash
	)
	err := db.inAudit(ctx, false, func(t *tx) error {
		entries, seqs, newIDs = nil, nil, nil
		if err := t.queryRow("SELECT size FROM audit_head WHERE id = 1").Scan(&size); err != nil {
			return err
		}
		var err error
		if entries, seqs, err = t.pendingEntries(size, max); err != nil || len(entries) == 0 {
			return err
		}
		// Only the right edge of the tree is needed to append to it.
		r = &hashReader{t: t, cache: map[int64]tlog.Hash{}}
		if _, err := r.ReadHashes(audit.FrontierIndexes(size)); err != nil {
			return fmt.Errorf("read the audit tree's edge: %w", err)
		}
		leaves, hashes = make([][]byte, len(entries)), make([]tlog.Hash, len(entries))
		for i, e := range entries {
			e.Seq = size + int64(i)
			leaves[i] = e.Leaf()
			hashes[i] = tlog.RecordHash(leaves[i])
			hs, err := tlog.StoredHashesForRecordHash(e.Seq, hashes[i], r)
			if err != nil {
				return err
			}
			first := tlog.StoredHashCount(e.Seq)
			for j, h := range hs {
				r.cache[first+int64(j)] = h
				newIDs = append(newIDs, first+int64(j))
			}
		}
		root, err = tlog.TreeHash(size+int64(len(entries)), r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return &audit.Integrated{Start: size}, nil
	}
	err = db.inAudit(ctx, true, func(t *tx) error {
		if err := t.fence(holder); err != nil {
			return err
		}
		newSize := size + int64(len(entries))
		res, err := t.exec("UPDATE audit_head SET size = ? WHERE id = 1 AND size = ?", newSize, size)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return errLeaseLost
		}
		// The new tree's hashes, as this transaction sees them: the new
		// ones from the read above, the rest read here (the sequencer
		// proves the tree extends the checkpoints it trusts).
		cp, err := sign(newSize, root, &hashReader{t: t, cache: r.cache, runs: r.runs})
		if err != nil {
			return err
		}
		if err := t.insertHashes(newIDs, r.cache); err != nil {
			return err
		}
		if db.numbersAtInsert() {
			err = t.indexIntegrated(size, entries)
		} else {
			err = t.numberEntries(seqs, size)
		}
		if err != nil {
			return err
		}
		_, err = t.exec("INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)",
			cp.Size, cp.Root[:], string(cp.Note), micros(t.now))
		return err
	})
	if err != nil {
		return nil, err
	}
	if db.memo != nil {
		db.memo.drop(seqs)
	}
	return &audit.Integrated{Start: size, Leaves: leaves, Hashes: hashes}, nil
}

// pendingEntries reads up to max committed entries not yet in the tree
// of size entries, in commit order (audit_numbering.go).
func (t *tx) pendingEntries(size int64, max int) (entries []*audit.Entry, seqs []int64, err error) {
	if t.db.numbersAtInsert() {
		return t.pendingNumbered(size, max)
	}
	return t.entries("SELECT "+t.db.auditColumns()+" FROM audit_log WHERE idx IS NULL ORDER BY seq LIMIT ?", max)
}

// pendingNumbered is pendingEntries on SQLite, where the writer numbered
// the entries: the pending ones are idx = size, size+1, ... with no gap,
// which their count and their last index show without reading each row's
// numbers. Their content comes from the writer's memo when it holds all of
// them (audit_memo.go), else from the rows.
func (t *tx) pendingNumbered(size int64, max int) (entries []*audit.Entry, seqs []int64, err error) {
	var n int64
	var last sql.NullInt64
	if err := t.queryRow("SELECT count(*), max(idx) FROM (SELECT idx FROM audit_log WHERE idx >= ? ORDER BY idx LIMIT ?)", size, max).Scan(&n, &last); err != nil || n == 0 {
		return nil, nil, err
	}
	if last.Int64 != size+n-1 {
		return nil, nil, fmt.Errorf("the log's pending tail from audit entry %d has a gap (%d entries up to index %d): the database was changed outside Bulwark; run bulwark audit verify", size, n, last.Int64)
	}
	seqs = make([]int64, n)
	for i := range seqs {
		seqs[i] = sqliteSeq(size + int64(i))
	}
	if entries, ok := t.db.memo.get(seqs); ok {
		return entries, seqs, nil
	}
	// The same transaction counted the rows: they are these.
	entries, _, err = t.entries("SELECT "+t.db.auditColumns()+" FROM audit_log WHERE idx >= ? ORDER BY idx LIMIT ?", size, n)
	return entries, seqs, err
}

// numberEntries sets idx = base, base+1, ... on the rows seqs, in that
// order (PostgreSQL; SQLite's writer numbers entries itself). Consecutive
// seqs, nearly all of them, are numbered by one range UPDATE each; every
// row must still be unnumbered.
func (t *tx) numberEntries(seqs []int64, base int64) error {
	for i := 0; i < len(seqs); {
		j := i + 1
		for j < len(seqs) && seqs[j] == seqs[j-1]+1 {
			j++
		}
		res, err := t.exec("UPDATE audit_log SET idx = seq + ? WHERE seq >= ? AND seq <= ? AND idx IS NULL",
			base+int64(i)-seqs[i], seqs[i], seqs[j-1])
		if err != nil {
			return fmt.Errorf("number audit entries: %w", err)
		}
		if n, _ := res.RowsAffected(); n != int64(j-i) {
			return fmt.Errorf("number audit entries: %d of %d rows updated", n, j-i)
		}
		i = j
	}
	return nil
}

// indexIntegrated writes, on SQLite, the search's indexes of the newly
// integrated entries, starting at index from, a batch at a time rather
// than at every audited write (audit_numbering.go), each a row per block
// of auditBlock entries rather than per entry:
//
//   - audit_tenant, which tenants have entries in each block. With few
//     tenants, a block's handful of rows replaces one row per entry; a
//     search reads the tenant's blocks and skips the other tenants'
//     entries in them (tenantAudit).
//   - audit_time, the earliest and the latest time in each block, for the
//     operators' search with a time range (allAudit). A block that an
//     earlier batch began is widened to take in the new entries' times.
func (t *tx) indexIntegrated(from int64, entries []*audit.Entry) error {
	type key struct {
		tenant string
		block  int64
	}
	seen := map[key]bool{}
	var tenants []any
	type span struct{ block, earliest, latest int64 }
	var spans []span
	for i, e := range entries {
		block, at := (from+int64(i))/auditBlock, micros(e.Time)
		if n := len(spans) - 1; n >= 0 && spans[n].block == block {
			spans[n].earliest, spans[n].latest = min(spans[n].earliest, at), max(spans[n].latest, at)
		} else {
			spans = append(spans, span{block, at, at})
		}
		k := key{e.Tenant, block}
		if e.Tenant == "" || seen[k] {
			continue
		}
		seen[k] = true
		tenants = append(tenants, k.tenant, k.block)
	}
	if err := t.insertRows("INSERT OR IGNORE INTO audit_tenant (tenant, block)", "", 2, tenants, 400); err != nil {
		return fmt.Errorf("index audit entries by tenant: %w", err)
	}
	times := make([]any, 0, 3*len(spans))
	for _, s := range spans {
		times = append(times, s.block, s.earliest, s.latest)
	}
	if err := t.insertRows("INSERT INTO audit_time (block, earliest, latest)",
		" ON CONFLICT (block) DO UPDATE SET earliest = min(earliest, excluded.earliest), latest = max(latest, excluded.latest)",
		3, times, 400); err != nil {
		return fmt.Errorf("index audit entries by time: %w", err)
	}
	return nil
}

// AuditState implements audit.Backend.
func (db *DB) AuditState(ctx context.Context) (*audit.State, error) {
	st := &audit.State{}
	err := db.inAudit(ctx, false, func(t *tx) error {
		if err := t.queryRow("SELECT size, replicated FROM audit_head WHERE id = 1").Scan(&st.Size, &st.Replicated); err != nil {
			return err
		}
		var err error
		if st.Checkpoint, err = t.latestCheckpoint(); err != nil {
			return err
		}
		var oldestPending sql.NullInt64
		if err := t.queryRow("SELECT count(*), min(at) FROM audit_log WHERE "+db.auditPending()).Scan(&st.Pending, &oldestPending); err != nil {
			return err
		}
		var oldest int64
		if oldestPending.Valid {
			oldest = oldestPending.Int64
		}
		if st.Replicated < st.Size {
			var at int64
			if err := t.queryRow("SELECT at FROM audit_log WHERE idx = ?", st.Replicated).Scan(&at); err == nil && (oldest == 0 || at < oldest) {
				oldest = at
			}
		}
		if oldest != 0 {
			st.Oldest = fromMicros(oldest)
		}
		return nil
	})
	return st, err
}

// AuditLeaves implements audit.Backend.
func (db *DB) AuditLeaves(ctx context.Context, from, to int64) ([][]byte, []tlog.Hash, error) {
	var leaves [][]byte
	var hashes []tlog.Hash
	err := db.inAudit(ctx, false, func(t *tx) error {
		leaves, hashes = nil, nil
		es, _, err := t.entries("SELECT "+db.auditColumns()+" FROM audit_log WHERE idx >= ? AND idx < ? ORDER BY idx", from, to)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Seq != from+int64(len(leaves)) {
				return fmt.Errorf("audit entry %d is missing", from+int64(len(leaves)))
			}
			leaves = append(leaves, e.Leaf())
		}
		lh, err := t.leafHashes(from, to)
		if err != nil {
			return err
		}
		for i := from; i < to; i++ {
			h, ok := lh[i]
			if !ok {
				return fmt.Errorf("audit leaf hash %d is missing", i)
			}
			hashes = append(hashes, h)
		}
		return nil
	})
	return leaves, hashes, err
}

// SetAuditReplicated implements audit.Backend.
func (db *DB) SetAuditReplicated(ctx context.Context, holder string, size int64) error {
	return db.inAudit(ctx, true, func(t *tx) error {
		if err := t.fence(holder); err != nil {
			return err
		}
		_, err := t.exec("UPDATE audit_head SET replicated = ? WHERE id = 1 AND replicated < ?", size, size)
		return err
	})
}

// AuditSource returns the primary copy of the log, for audit.Verify.
func (db *DB) AuditSource() audit.Source { return primarySource{db} }

type primarySource struct{ db *DB }

var _ audit.Inspector = primarySource{}

func (primarySource) Name() string { return "primary" }

func (s primarySource) Checkpoints(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	err := s.db.inAudit(ctx, false, func(t *tx) error {
		notes, err := t.queryStrings("SELECT note FROM audit_checkpoints ORDER BY size")
		if err != nil {
			return err
		}
		out = nil // a retried transaction starts over
		for _, n := range notes {
			out = append(out, []byte(n))
		}
		return nil
	})
	return out, err
}

// Size is the largest of what the head says and what the checkpoints, the
// rows (PostgreSQL) and the hashes stored end to end from 0 show, so a
// head rolled back by hand hides nothing. A row of hashes that does not
// continue them is reported by Malformed, and sizes nothing.
func (s primarySource) Size(ctx context.Context) (int64, error) {
	var size int64
	err := s.db.inAudit(ctx, false, func(t *tx) error {
		var maxIdx, maxCheckpoint sql.NullInt64
		if err := t.queryRow("SELECT size FROM audit_head WHERE id = 1").Scan(&size); err != nil {
			return err
		}
		if err := t.queryRow("SELECT max(size) FROM audit_checkpoints").Scan(&maxCheckpoint); err != nil {
			return err
		}
		if maxCheckpoint.Valid && maxCheckpoint.Int64 > size {
			size = maxCheckpoint.Int64
		}
		// On SQLite rows are numbered before they are in the tree
		// (audit_numbering.go): a row beyond the head is pending.
		if !s.db.numbersAtInsert() {
			if err := t.queryRow("SELECT max(idx) FROM audit_log WHERE idx IS NOT NULL").Scan(&maxIdx); err != nil {
				return err
			}
		}
		lastHash, err := t.lastHash()
		if err != nil {
			return err
		}
		if maxIdx.Valid && maxIdx.Int64+1 > size {
			size = maxIdx.Int64 + 1
		}
		// The records whose hashes reach lastHash.
		if n := recordsThrough(lastHash); n > size {
			size = n
		}
		return nil
	})
	return size, err
}

// Malformed implements audit.Inspector: a row of audit_hash_runs that
// does not continue the hashes before it (hashChain).
func (s primarySource) Malformed(ctx context.Context) ([]audit.Problem, error) {
	var out []audit.Problem
	err := s.db.inAudit(ctx, false, func(t *tx) error {
		out = nil
		last, b, err := t.hashChain()
		if err != nil || b == nil {
			return err
		}
		out = append(out, audit.Problem{Source: s.Name(), Index: recordsThrough(last), Kind: audit.Malformed,
			Object: fmt.Sprintf("audit_hash_runs (first %d)", b.first),
			Detail: fmt.Sprintf("the tree's hashes stored end to end stop at index %d; the row of audit_hash_runs at %d (%d bytes), and the %d rows after it, do not continue them: no sequencer writes that", last, b.first, b.bytes, b.after)})
		return nil
	})
	return out, err
}

func (s primarySource) Leaves(ctx context.Context, size int64, fn func(int64, []byte, *tlog.Hash) error) error {
	const chunk = 5000
	for from := int64(0); from < size; from += chunk {
		to := min(from+chunk, size)
		leaves := map[int64][]byte{}
		var hashes map[int64]tlog.Hash
		err := s.db.inAudit(ctx, false, func(t *tx) error {
			clear(leaves)
			es, _, err := t.entries("SELECT "+s.db.auditColumns()+" FROM audit_log WHERE idx >= ? AND idx < ?", from, to)
			if err != nil {
				return err
			}
			for _, e := range es {
				leaves[e.Seq] = e.Leaf()
			}
			hashes, err = t.leafHashes(from, to)
			return err
		})
		if err != nil {
			return err
		}
		for i := from; i < to; i++ {
			var claimed *tlog.Hash
			if h, ok := hashes[i]; ok {
				claimed = &h
			}
			if err := fn(i, leaves[i], claimed); err != nil {
				return err
			}
		}
	}
	return nil
}

// auditGrants narrows what the application role may do to the audit
// tables on PostgreSQL: entries are only added and numbered, runs of
// hashes and checkpoints only added. A compromised application can still stop
// writing, but cannot quietly rewrite history in place; and whoever can
// (the owner, a DBA) is caught by the signed checkpoints and the replica.
func auditGrants(app string) []string {
	return []string{
		"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM " + app,
		"GRANT SELECT, INSERT ON audit_log TO " + app,
		"GRANT UPDATE (idx) ON audit_log TO " + app,
		"GRANT SELECT, INSERT ON audit_hash_runs, audit_checkpoints TO " + app,
		"GRANT SELECT, UPDATE ON audit_head TO " + app,
		"GRANT SELECT, UPDATE ON leases TO " + app,
	}
}
