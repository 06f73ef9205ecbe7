package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/bulwarkhq/bulwark"
)

// TestAuditNumberingMigration: migration 00011 (SQLite) numbers the
// entries still pending after the last numbered one, indexes the
// integrated ones by tenant in audit_tenant, and its Down puts back the
// pending entries and the indexes of 00010.
func TestAuditNumberingMigration(t *testing.T) {
	ctx := context.Background()
	conn, p, exec := sqliteMigratedTo(t, 10)
	// Six entries: the first four in a tree of size 4, two pending.
	tenants := []any{"ta", "tb", nil, "ta", "tb", "ta"}
	for i, tenant := range tenants {
		var idx any
		if i < 4 {
			idx = i
		}
		exec(`INSERT INTO audit_log (seq, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, idx)
			VALUES (?, ?, 0, 'cli', '', 'x', '', '', '[]', 'success', '', 0, ?)`, i+1, tenant, idx)
	}
	exec("UPDATE audit_head SET size = 4")
	idxOf := func() []string {
		t.Helper()
		rows, err := conn.Query("SELECT idx FROM audit_log ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var idx sql.NullInt64
			rows.Scan(&idx)
			out = append(out, fmt.Sprint(idx.Int64, idx.Valid))
		}
		return out
	}
	indexes := func() []string {
		t.Helper()
		rows, err := conn.Query("SELECT name FROM sqlite_master WHERE tbl_name IN ('audit_log', 'audit_tenant') AND name NOT LIKE 'sqlite_%' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	before := indexes()
	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if got, want := idxOf(), []string{"0 true", "1 true", "2 true", "3 true", "4 true", "5 true"}; !slices.Equal(got, want) {
		t.Fatalf("after Up: idx %v, want %v", got, want)
	}
	rows, err := conn.Query("SELECT tenant, entry FROM audit_tenant ORDER BY tenant, entry")
	if err != nil {
		t.Fatal(err)
	}
	var indexed []string
	for rows.Next() {
		var tenant string
		var entry int64
		rows.Scan(&tenant, &entry)
		indexed = append(indexed, fmt.Sprint(tenant, entry))
	}
	rows.Close()
	if want := []string{"ta0", "ta3", "tb1"}; !slices.Equal(indexed, want) {
		t.Fatalf("audit_tenant %v, want the integrated tenant entries %v", indexed, want)
	}
	if got := indexes(); slices.Contains(got, "audit_log_pending") || slices.Contains(got, "audit_log_tenant") {
		t.Fatalf("after Up the indexes are %v", got)
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := idxOf(), []string{"0 true", "1 true", "2 true", "3 true", "0 false", "0 false"}; !slices.Equal(got, want) {
		t.Fatalf("after Down: idx %v, want %v", got, want)
	}
	if got := indexes(); !slices.Equal(got, before) {
		t.Fatalf("after Down the indexes are %v, want %v", got, before)
	}
}

// sqliteMigratedTo is a new SQLite database migrated up to version v, its
// migration provider, and a function that runs a statement or fails t.
func sqliteMigratedTo(t *testing.T, v int64) (*sql.DB, *goose.Provider, func(string, ...any)) {
	t.Helper()
	conn, p := migrationTarget(t, "sqlite")
	if _, err := p.UpTo(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	return conn, p, func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditTenantBlocksMigration: migration 00012 (SQLite) turns
// audit_tenant's row per entry into a row per block of 64 entries and
// tenant, and its Down rebuilds the rows per integrated entry.
func TestAuditTenantBlocksMigration(t *testing.T) {
	ctx := context.Background()
	conn, p, exec := sqliteMigratedTo(t, 11)
	// 200 entries, 150 of them integrated: ta has every third entry, tb
	// the others but entries 64-127, deployment-level entries none.
	tenantOf := func(i int) any {
		switch {
		case i%3 == 0:
			return "ta"
		case i >= 64 && i < 128:
			return nil
		}
		return "tb"
	}
	for i := range 200 {
		exec(`INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, idx)
			VALUES (?, 0, 'cli', '', 'x', '', '', '[]', 'success', '', 0, ?)`, tenantOf(i), i)
		if tenant := tenantOf(i); tenant != nil && i < 150 {
			exec("INSERT INTO audit_tenant (tenant, entry) VALUES (?, ?)", tenant, i)
		}
	}
	exec("UPDATE audit_head SET size = 150")
	rows := func(q string) []string {
		t.Helper()
		r, err := conn.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var tenant string
			var n int64
			r.Scan(&tenant, &n)
			out = append(out, fmt.Sprint(tenant, n))
		}
		return out
	}
	before := rows("SELECT tenant, entry FROM audit_tenant ORDER BY tenant, entry")
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	if got, want := rows("SELECT tenant, block FROM audit_tenant ORDER BY tenant, block"), []string{"ta0", "ta1", "ta2", "tb0", "tb2"}; !slices.Equal(got, want) {
		t.Fatalf("after Up audit_tenant is %v, want %v", got, want)
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rows("SELECT tenant, entry FROM audit_tenant ORDER BY tenant, entry"); !slices.Equal(got, before) {
		t.Fatalf("after Down audit_tenant is %v, want %v", got, before)
	}
}

// TestAuditNumberedAtInsert: SQLite's writer numbers entries as it inserts
// them, in commit order from 0; the pending ones are those at and beyond
// the tree's size; and a gap in the pending tail (a row deleted behind
// Bulwark's back) stops the sequencer rather than shifting the numbers.
func TestAuditNumberedAtInsert(t *testing.T) {
	db := openSQLiteForTest(t)
	for i := range 4 {
		if err := auditedInsert(db, fmt.Sprint("t", i), "test.write", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wrong int
	if err := db.read.QueryRow("SELECT count(*) FROM audit_log WHERE idx IS NULL OR idx != seq - 1").Scan(&wrong); err != nil || wrong != 0 {
		t.Fatalf("%d entries not numbered seq - 1 (%v)", wrong, err)
	}
	pending := func(size int64) ([]int64, error) {
		var seqs []int64
		err := db.inAudit(context.Background(), false, func(t *tx) error {
			var err error
			_, seqs, err = t.pendingEntries(size, 100)
			return err
		})
		return seqs, err
	}
	if seqs, err := pending(1); err != nil || !slices.Equal(seqs, []int64{2, 3, 4}) {
		t.Fatalf("pending beyond a tree of 1: %v, %v", seqs, err)
	}
	if _, err := db.write.Exec("DELETE FROM audit_log WHERE idx = 2"); err != nil {
		t.Fatal(err)
	}
	if seqs, err := pending(1); err == nil {
		t.Fatalf("a gap in the pending tail was integrated: %v", seqs)
	}
}

// TestAuditTenantSearchPlan: on SQLite a tenant's search reaches its
// integrated entries through audit_tenant and its pending ones through the
// tail of the log (keyed by idx), in order: no scan of the whole log and no sort,
// with or without a cursor and filters, and from the cursor's block on (a
// full scan and a deep page reading every newer block went unnoticed until
// BenchmarkAuditTenantSearch showed them).
func TestAuditTenantSearchPlan(t *testing.T) {
	db := openSQLiteForTest(t)
	for _, f := range []bulwark.AuditFilter{{}, {Cursor: "1000", Action: "record.", Since: time.Unix(1, 0)}} {
		q, qargs, err := db.tenantAudit("t1", f, 50)
		if err != nil {
			t.Fatal(err)
		}
		plan := queryPlan(t, db, q, qargs)
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN audit_") || strings.Contains(step, "TEMP B-TREE") {
				t.Fatalf("filter %+v: the plan %q reads the whole log or sorts", f, plan)
			}
		}
		// A cursor bounds the blocks read: a page deep in the log starts
		// there, not at the newest block.
		if f.Cursor != "" && !slices.Contains(plan, "SEARCH audit_tenant USING PRIMARY KEY (tenant=? AND block<?)") {
			t.Fatalf("filter %+v: the plan %q reads the tenant's blocks from the newest", f, plan)
		}
	}
}

// TestAuditOperatorSearchPlan: on SQLite an operator's search reads the
// log newest first by its key, from the cursor on, without sorting it;
// with a time range it reaches the integrated entries through audit_time,
// newest block first and from the cursor's block on, reading the log a
// block at a time, and the pending ones through the tail of the log: no
// scan of the whole log and no sort.
func TestAuditOperatorSearchPlan(t *testing.T) {
	db := openSQLiteForTest(t)
	plan := func(f bulwark.AuditFilter) []string {
		t.Helper()
		q, qargs, err := db.allAudit(f, 9)
		if err != nil {
			t.Fatal(err)
		}
		return queryPlan(t, db, q, qargs)
	}
	for _, f := range []bulwark.AuditFilter{{}, {Cursor: "1000", Action: "record."}} {
		p := plan(f)
		if slices.ContainsFunc(p, func(step string) bool { return strings.Contains(step, "TEMP B-TREE") }) {
			t.Fatalf("filter %+v: the plan %q sorts the log", f, p)
		}
		if f.Cursor != "" && !slices.Contains(p, "SEARCH audit_log USING INTEGER PRIMARY KEY (rowid<?)") {
			t.Fatalf("filter %+v: the plan %q does not start at the cursor", f, p)
		}
	}
	for _, f := range []bulwark.AuditFilter{
		{Since: time.Unix(1, 0)},
		{Until: time.Unix(2, 0), Action: "record."},
		{Since: time.Unix(1, 0), Until: time.Unix(2, 0), Cursor: "1000"},
	} {
		p := plan(f)
		if slices.ContainsFunc(p, func(step string) bool {
			return strings.HasPrefix(step, "SCAN audit_log") || strings.Contains(step, "TEMP B-TREE")
		}) {
			t.Fatalf("filter %+v: the plan %q reads the whole log or sorts", f, p)
		}
		if !slices.Contains(p, "SEARCH audit_log USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") {
			t.Fatalf("filter %+v: the plan %q does not read the log a block at a time", f, p)
		}
		if f.Cursor != "" && !slices.Contains(p, "SEARCH audit_time USING INTEGER PRIMARY KEY (rowid<?)") {
			t.Fatalf("filter %+v: the plan %q reads the blocks from the newest", f, p)
		}
	}
}

// queryPlan is SQLite's plan for q, a step a line.
func queryPlan(t *testing.T, db *DB, q string, args []any) []string {
	t.Helper()
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
