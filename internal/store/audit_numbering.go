package store

import (
	"strconv"
	"strings"
)

// Where an audit entry gets its tree index (idx).
//
// On PostgreSQL several nodes write at once, and a sequence hands out
// row numbers (seq) with gaps; the sequencer numbers the committed entries
// in commit order (numberEntries), and idx is NULL until then.
//
// On SQLite one writer inserts every entry, so it numbers each one as it
// inserts it: the next index is the last one plus one (auditQueue.write,
// migration 00011). An entry is then pending while its index is at or
// beyond the tree's size (audit_head.size). The table is keyed by idx,
// and seq is derived from it (migration 00016), so that an audited write
// changes one B-tree. The sequencer only hashes the pending tail and
// writes the search's indexes of what it integrated (indexIntegrated:
// audit_tenant and audit_time), instead of rewriting every row.
//
// Either way, what readers see is the same: idx as read through
// auditColumns is NULL for a pending entry.

// On SQLite the table derives an entry's sequence number from its key, the
// tree index (migration 00016): sqliteSeq and sqliteIdx convert. A search
// cursor, a sequence number, thus becomes a condition on the key
// (auditWhere).
func sqliteSeq(idx int64) int64 { return idx + 1 }
func sqliteIdx(seq int64) int64 { return seq - 1 }

// numbersAtInsert reports whether the writer numbers entries (SQLite).
func (db *DB) numbersAtInsert() bool { return db.dialect.name() == "sqlite" }

// auditColumnList is the stored columns, in scanEntry's order.
const auditColumnList = "seq, idx, tenant_id, at, actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, privileged, client, user_agent"

// sqliteAuditColumns reads idx as NULL for a pending entry (SQLite
// evaluates the uncorrelated subquery once per statement).
var sqliteAuditColumns = strings.Replace(auditColumnList, "idx", "CASE WHEN idx < (SELECT size FROM audit_head WHERE id = 1) THEN idx END", 1)

// auditColumns are read in this order by scanEntry.
func (db *DB) auditColumns() string {
	if db.numbersAtInsert() {
		return sqliteAuditColumns
	}
	return auditColumnList
}

// auditPending is the condition that an audit_log row is pending.
func (db *DB) auditPending() string {
	if db.numbersAtInsert() {
		return "idx >= (SELECT size FROM audit_head WHERE id = 1)"
	}
	return "idx IS NULL"
}

// auditBlock is the number of consecutive entries that one audit_tenant
// row stands for (SQLite).
const auditBlock = 64

// sqliteTenantEntries joins audit_tenant to the integrated entries of the
// blocks it lists. The entry's own tenant_id decides, so that a wrong row
// in audit_tenant can never show another tenant's entry
// (TestAuditTenantIndexCannotWidenScope). Ordered by block then idx, the
// rows come in index order without a sort. Other conditions on idx are
// written +idx, so that SQLite ranges over the log's key by the block's
// bounds and not by one of them (from a block to the end of the log, for
// every block).
var sqliteTenantEntries = "audit_tenant JOIN audit_log ON idx >= block * " + strconv.Itoa(auditBlock) +
	" AND idx < (block + 1) * " + strconv.Itoa(auditBlock) +
	" AND tenant_id = tenant AND +idx < (SELECT size FROM audit_head WHERE id = 1)"

// sqliteTimeEntries joins audit_time (migration 00017) to the integrated
// entries of the blocks it lists. As in sqliteTenantEntries, the entry's
// own columns decide: the search's conditions on at apply to each entry,
// and a block's times only spare reading the blocks wholly outside the
// range: a wrong row can at worst hide entries from the search, as a
// missing row of audit_tenant can (the log and its verification do not
// read either), but never show one outside the range. Ordered by block
// then idx, the rows come in index order without a sort.
var sqliteTimeEntries = "audit_time JOIN audit_log ON idx >= block * " + strconv.Itoa(auditBlock) +
	" AND idx < (block + 1) * " + strconv.Itoa(auditBlock) + " AND +idx < (SELECT size FROM audit_head WHERE id = 1)"
