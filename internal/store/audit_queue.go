package store

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// Audit entries written with their batch (SQLite).
//
// In SQLite's group commit (batch.go) every request runs in a savepoint
// of the writer's transaction. An entry inserted there costs a statement
// of its own, and every page it touches (the log's last page and the tips
// of its indexes) is copied into the savepoint's journal first, once per
// request. Instead a request's entries wait in the batch's queue: if the
// request fails they are dropped with its savepoint; if it succeeds they
// join the batch's, and the batch inserts them all, a few statements in
// all, just before its COMMIT. They are in the same transaction as the
// changes they record, so either both are committed or neither (DATA-5):
// if the insert fails, the whole batch is rolled back and every request
// in it fails.
//
// Nothing reads the log inside the writer's transaction except the
// sequencer, which integrates only what is committed, and the check for
// the keys that sealed a tenant's entries (auditKeyIDs), which looks in
// the queue too.

// auditInsert's columns are in the order of auditValues; the queue adds
// idx (auditInserts).
const auditInsert = "INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, privileged, client, user_agent"

const (
	auditRowParams = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// auditChunk bounds the rows of one INSERT (SQLite allows 32,766
	// parameters in a statement).
	auditChunk = 32
)

// auditInserts[n] inserts n entries.
var auditInserts = func() []string {
	out := make([]string, auditChunk+1)
	for n := 1; n <= auditChunk; n++ {
		out[n] = auditInsert + ", idx) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n), ", ")
	}
	return out
}()

// auditQueue holds entries as scanEntry will read them back; they are
// also what the batch hands to the memo.
type auditQueue struct {
	done []*audit.Entry // entries of the batch's requests that succeeded
	req  []*audit.Entry // entries of the request running now
}

// begin starts a request's entries.
func (q *auditQueue) begin() { q.req = q.req[:0] }

// end keeps the request's entries if it succeeded, and drops them if not.
func (q *auditQueue) end(ok bool) {
	if ok {
		q.done = append(q.done, q.req...)
	}
	q.req = q.req[:0]
}

// sealedWith reports whether a queued entry of tenantID has a client
// column starting with prefix.
func (q *auditQueue) sealedWith(tenantID, prefix string) bool {
	for _, l := range [][]*audit.Entry{q.done, q.req} {
		for _, e := range l {
			if e.Tenant == tenantID && strings.HasPrefix(e.Client, prefix) {
				return true
			}
		}
	}
	return false
}

// write inserts the batch's entries in t, outside every savepoint, each
// numbered with its tree index (the last index plus one, then on:
// audit_numbering.go), and returns them with their sequence numbers, and
// the index after the last.
//
// next is that first index if the writer knows it (-1 if not): the one
// after its own last committed batch, which saves asking the log for its
// last index in every batch. Only another process (a CLI command writing
// to the same file between two batches) can have moved it, and then only
// up: the first row then takes an index that is already taken, the
// table's key (idx, migration 00016) refuses the statement (SQLite undoes
// just that statement), and write asks the log and numbers again. A stale
// next can never leave a gap, since nothing removes entries.
func (q *auditQueue) write(t *tx, next int64) ([]memoEntry, int64, error) {
	if len(q.done) == 0 {
		return nil, next, nil
	}
	idx, known := next, next >= 0
	if !known {
		var err error
		if idx, err = t.nextAuditIndex(); err != nil {
			return nil, -1, err
		}
	}
	memo := make([]memoEntry, 0, len(q.done))
	for rest := q.done; len(rest) > 0; {
		n := min(len(rest), auditChunk)
		args := make([]any, 0, n*15)
		for i, e := range rest[:n] {
			args = append(append(args, t.db.auditValues(e)...), idx+int64(i))
		}
		_, err := t.exec(auditInserts[n], args...)
		if known && t.db.dialect.isUnique(err) {
			// Another process wrote entries since: number from the log.
			known = false
			if idx, err = t.nextAuditIndex(); err != nil {
				return nil, -1, err
			}
			continue
		}
		if err != nil {
			return nil, -1, fmt.Errorf("append audit entries: %w", err)
		}
		for i, e := range rest[:n] {
			memo = append(memo, memoEntry{sqliteSeq(idx + int64(i)), e})
		}
		idx += int64(n)
		rest = rest[n:]
	}
	return memo, idx, nil
}

// nextAuditIndex is the index after the log's last numbered entry.
func (t *tx) nextAuditIndex() (int64, error) {
	var last sql.NullInt64
	if err := t.queryRow("SELECT max(idx) FROM audit_log WHERE idx IS NOT NULL").Scan(&last); err != nil {
		return -1, fmt.Errorf("append audit entries: %w", err)
	}
	if !last.Valid {
		return 0, nil
	}
	return last.Int64 + 1, nil
}
