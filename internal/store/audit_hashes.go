package store

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// The audit tree's stored hashes, numbered as golang.org/x/mod/sumdb/tlog
// does (StoredHashIndex), are kept in runs: a row of audit_hash_runs holds
// the hashes first, first+1, ... end to end, 32 bytes each. A round of the
// sequencer adds consecutive hashes (a tree of n leaves stores hashes 0 to
// StoredHashCount(n)-1), as rows of at most hashRun hashes: a few rows a
// round rather than two per entry, and a reader loads at most 8 KiB for
// one hash. Rows are only ever added, never rewritten (on
// PostgreSQL the application role may only insert them: auditGrants).
//
// The hash at index x is in the row with the greatest first at or below x.

// hashRun bounds the hashes of one row.
const hashRun = 256

// insertHashes stores the tree's new hashes ids (consecutive) with their
// values in hashes.
func (t *tx) insertHashes(ids []int64, hashes map[int64]tlog.Hash) error {
	var args []any
	for start := 0; start < len(ids); start += hashRun {
		run := ids[start:min(start+hashRun, len(ids))]
		blob := make([]byte, 0, len(run)*tlog.HashSize)
		for i, id := range run {
			if id != run[0]+int64(i) {
				return fmt.Errorf("store audit tree hashes: %d does not follow %d", id, run[i-1])
			}
			h := hashes[id]
			blob = append(blob, h[:]...)
		}
		args = append(args, run[0], blob)
	}
	if err := t.insertRows("INSERT INTO audit_hash_runs (first, hashes)", "", 2, args, 100); err != nil {
		return fmt.Errorf("store audit tree hashes: %w", err)
	}
	return nil
}

// insertRows runs insert (an INSERT up to its column list of width
// columns) with args as consecutive rows of width values, at most rows
// rows a statement (chunk), each statement ending with tail.
func (t *tx) insertRows(insert, tail string, width int, args []any, rows int) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + "), "
	for len(args) > 0 {
		n := chunk(len(args)/width, rows)
		if _, err := t.exec(insert+" VALUES "+strings.TrimSuffix(strings.Repeat(row, n), ", ")+tail, args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// hashRuns are rows of audit_hash_runs, by first.
type hashRuns []hashRunRow

type hashRunRow struct {
	first  int64
	hashes []byte
}

// readHashRuns reads the runs that where (a condition on first, with
// args) selects.
func (t *tx) readHashRuns(where string, args ...any) (hashRuns, error) {
	rows, err := t.query("SELECT first, hashes FROM audit_hash_runs WHERE "+where+" ORDER BY first", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out hashRuns
	for rows.Next() {
		var r hashRunRow
		if err := rows.Scan(&r.first, &r.hashes); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func compareFirst(r hashRunRow, first int64) int { return cmp.Compare(r.first, first) }

// get is the hash at index id: in the run with the greatest first at or
// below id, if that run reaches it. Runs never overlap unless edited by
// hand, which verification finds from the leaves and checkpoints.
func (rs hashRuns) get(id int64) (tlog.Hash, bool) {
	i, found := slices.BinarySearchFunc(rs, id, compareFirst)
	if !found {
		i-- // the run before the first that starts after id
	}
	if i < 0 {
		return tlog.Hash{}, false
	}
	off := (id - rs[i].first) * tlog.HashSize
	if off+tlog.HashSize > int64(len(rs[i].hashes)) {
		return tlog.Hash{}, false
	}
	return tlog.Hash(rs[i].hashes[off:]), true
}

// hashReader reads the tree's stored hashes in t, caching them and the
// runs they came in: proofs of neighbouring entries share most of their
// hashes, and most of the rest sit in runs already read.
type hashReader struct {
	t     *tx
	cache map[int64]tlog.Hash
	runs  hashRuns // read so far, by first
}

func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var missing []any
	for _, x := range indexes {
		if _, ok := r.cache[x]; ok {
			continue
		}
		if h, ok := r.runs.get(x); ok {
			r.cache[x] = h
			continue
		}
		missing = append(missing, x)
	}
	for len(missing) > 0 {
		n := chunk(len(missing), 200)
		// The run of each missing index: the greatest first at or below it.
		runs, err := r.t.readHashRuns("first IN (SELECT (SELECT max(first) FROM audit_hash_runs WHERE first <= x.column1) FROM (VALUES "+
			strings.TrimSuffix(strings.Repeat("(CAST(? AS BIGINT)), ", n), ", ")+") AS x)", missing[:n]...)
		if err != nil {
			return nil, err
		}
		for _, run := range runs {
			if i, found := slices.BinarySearchFunc(r.runs, run.first, compareFirst); !found {
				r.runs = slices.Insert(r.runs, i, run) // kept in order of first
			}
		}
		for _, x := range missing[:n] {
			if h, ok := runs.get(x.(int64)); ok {
				r.cache[x.(int64)] = h
			}
		}
		missing = missing[n:]
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := r.cache[x]
		if !ok {
			return nil, fmt.Errorf("audit tree hash %d is missing", x)
		}
		out[i] = h
	}
	return out, nil
}

// leafHashes returns the stored level-0 hashes of records [from, to).
func (t *tx) leafHashes(from, to int64) (map[int64]tlog.Hash, error) {
	out := map[int64]tlog.Hash{}
	if to <= from {
		return out, nil
	}
	lo, hi := tlog.StoredHashIndex(0, from), tlog.StoredHashIndex(0, to-1)
	runs, err := t.readHashRuns("first <= ? AND first >= coalesce((SELECT max(first) FROM audit_hash_runs WHERE first <= ?), 0)", hi, lo)
	if err != nil {
		return nil, err
	}
	for n := from; n < to; n++ {
		if h, ok := runs.get(tlog.StoredHashIndex(0, n)); ok {
			out[n] = h
		}
	}
	return out, nil
}

// lastHash is the last index of the hashes stored end to end from 0, or
// -1 when there are none (hashChain).
func (t *tx) lastHash() (int64, error) {
	last, _, err := t.hashChain()
	return last, err
}

// brokenRun is the row of audit_hash_runs where the hashes stored end to
// end from 0 stop: one after a gap or overlapping the row before, or
// not whole hashes. Rows after it are counted in after.
type brokenRun struct {
	first, bytes, after int64
}

// hashChain reads where each row of audit_hash_runs starts and how long
// it is (not the hashes), in order, and returns the last index of the
// hashes stored end to end from 0 (-1 if none) and the row that breaks
// them, if one does. The sequencer writes only rows that continue the
// one before (insertHashes): another row was written by hand, and is
// neither counted nor walked to, however far its first claims to be.
func (t *tx) hashChain() (last int64, broken *brokenRun, err error) {
	rows, err := t.query("SELECT first, length(hashes) FROM audit_hash_runs ORDER BY first")
	if err != nil {
		return -1, nil, err
	}
	defer rows.Close()
	next := int64(0) // the index the next row must start at
	for rows.Next() {
		var first, n int64
		if err := rows.Scan(&first, &n); err != nil {
			return -1, nil, err
		}
		switch {
		case broken != nil:
			broken.after++
		case first != next || n <= 0 || n%tlog.HashSize != 0:
			broken = &brokenRun{first: first, bytes: n}
		default:
			next += n / tlog.HashSize
		}
	}
	return next - 1, broken, rows.Err()
}

// recordsThrough is the number of records whose stored hashes reach
// index last: the least n with tlog.StoredHashCount(n) > last, by binary
// search (StoredHashCount(n) >= n, so n <= last+1).
func recordsThrough(last int64) int64 {
	lo, hi := int64(0), last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if tlog.StoredHashCount(mid) > last {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
