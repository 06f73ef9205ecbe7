package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/pgadmin"
)

// migrationTarget is a new, empty database of backend and a provider of
// the backend's migrations for it, none applied yet. PostgreSQL tests
// skip when no server is reachable, unless BULWARK_REQUIRE_POSTGRES=1.
func migrationTarget(t *testing.T, backend string) (*sql.DB, *goose.Provider) {
	t.Helper()
	var conn *sql.DB
	var dialect goose.Dialect
	var err error
	switch backend {
	case "sqlite":
		conn, err = sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
		dialect = goose.DialectSQLite3
	case "postgres":
		conn, err = sql.Open("pgx", postgresScratch(t).OwnerURL)
		dialect = goose.DialectPostgres
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sub, err := fs.Sub(migrations, "migrations/"+backend)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, conn, sub)
	if err != nil {
		t.Fatal(err)
	}
	return conn, p
}

// postgresScratch is a new PostgreSQL database with an owner and an
// application role, dropped after the test. It skips when no server is
// reachable, unless BULWARK_REQUIRE_POSTGRES=1.
func postgresScratch(t *testing.T) *pgadmin.Scratch {
	t.Helper()
	admin := os.Getenv("BULWARK_TEST_POSTGRES")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	scratch, err := pgadmin.Create(context.Background(), admin, "bulwark_test")
	if err != nil {
		if os.Getenv("BULWARK_REQUIRE_POSTGRES") == "1" {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	t.Cleanup(scratch.Drop)
	return scratch
}

// TestAuditHashRunsMigration: migration 00013 (SQLite; 00009 on
// PostgreSQL) makes every stored tree hash a run of one, and its Down cuts
// runs, including those of several hashes written since, back into a row
// per hash.
func TestAuditHashRunsMigration(t *testing.T) {
	ctx := context.Background()
	for backend, before := range map[string]int64{"sqlite": 12, "postgres": 8} {
		t.Run(backend, func(t *testing.T) {
			conn, p := migrationTarget(t, backend)
			if _, err := p.UpTo(ctx, before); err != nil {
				t.Fatal(err)
			}
			hash := func(id int) []byte { return bytes.Repeat([]byte{byte(id)}, 32) }
			ph := func(n int) string {
				if backend == "postgres" {
					return fmt.Sprintf("$%d", n)
				}
				return "?"
			}
			for id := range 10 {
				if _, err := conn.Exec("INSERT INTO audit_hashes (id, hash) VALUES ("+ph(1)+", "+ph(2)+")", id, hash(id)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.UpTo(ctx, before+1); err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query("SELECT first, hashes FROM audit_hash_runs ORDER BY first")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; rows.Next(); n++ {
				var first int
				var b []byte
				if err := rows.Scan(&first, &b); err != nil {
					t.Fatal(err)
				}
				if first != n || !bytes.Equal(b, hash(n)) {
					t.Fatalf("run %d: first %d, hashes %x", n, first, b)
				}
			}
			rows.Close()
			if n != 10 {
				t.Fatalf("%d runs, want 10", n)
			}
			run := slices.Concat(hash(10), hash(11), hash(12))
			if _, err := conn.Exec("INSERT INTO audit_hash_runs (first, hashes) VALUES (10, "+ph(1)+")", run); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Down(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err = conn.Query("SELECT id, hash FROM audit_hashes ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n = 0
			for ; rows.Next(); n++ {
				var id int
				var b []byte
				if err := rows.Scan(&id, &b); err != nil {
					t.Fatal(err)
				}
				if id != n || !bytes.Equal(b, hash(n)) {
					t.Fatalf("after Down, row %d: id %d, hash %x", n, id, b)
				}
			}
			if n != 13 {
				t.Fatalf("after Down, %d hashes, want 13", n)
			}
		})
	}
}

// TestAuditTimeMigration: migration 00015 (SQLite) lists the time of
// every integrated entry in audit_time, and of no pending one (the
// sequencer lists those as it integrates them), and its Down brings back
// the index on at.
func TestAuditTimeMigration(t *testing.T) {
	ctx := context.Background()
	conn, p := migrationTarget(t, "sqlite")
	if _, err := p.UpTo(ctx, 14); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := conn.Exec(`INSERT INTO audit_log (at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, idx)
			VALUES (?, 'user', 'u', 'record.create', 'record', 'r', 'null', 'success', 'req', 0, ?)`, 1000+7*i, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec("UPDATE audit_head SET size = 3 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	got := queryInts(t, conn, "SELECT time, entry FROM audit_time ORDER BY time", 2)
	if want := [][]int{{1000, 0}, {1007, 1}, {1014, 2}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit_time %v, want %v (the integrated entries only)", got, want)
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log_at'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after Down, audit_log_at: %d, %v", n, err)
	}
}

// TestAuditLogByIndexMigration: migration 00016 (SQLite) keys the audit
// log by its tree index, keeps every entry as it was and derives seq from
// the index, leaves no index on the table (an audited write changes one
// B-tree), and its Down brings back seq as the key and the unique index on
// idx.
func TestAuditLogByIndexMigration(t *testing.T) {
	ctx := context.Background()
	conn, p := migrationTarget(t, "sqlite")
	if _, err := p.UpTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	insert := func(idx int) {
		t.Helper()
		if _, err := conn.Exec(`INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, client, idx)
			VALUES ('t1', ?, 'user', 'u', 'record.create', 'record', ?, '["title"]', 'success', 'req', 1, 'sealed', ?)`, 1000+idx, fmt.Sprint("r", idx), idx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		insert(i)
	}
	rowsOf := func() []string {
		t.Helper()
		rows, err := conn.Query("SELECT seq, idx, tenant_id, at, target_id, fields, privileged, client FROM audit_log ORDER BY idx")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var seq, idx, at, privileged int64
			var tenant, target, fields, client string
			if err := rows.Scan(&seq, &idx, &tenant, &at, &target, &fields, &privileged, &client); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d %d %s %d %s %s %d %s", seq, idx, tenant, at, target, fields, privileged, client))
		}
		return out
	}
	want := []string{
		"1 0 t1 1000 r0 [\"title\"] 1 sealed", "2 1 t1 1001 r1 [\"title\"] 1 sealed",
		"3 2 t1 1002 r2 [\"title\"] 1 sealed", "4 3 t1 1003 r3 [\"title\"] 1 sealed",
	}
	if got := rowsOf(); !slices.Equal(got, want) {
		t.Fatalf("before: %q", got)
	}
	if _, err := p.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(); !slices.Equal(got, want) {
		t.Fatalf("after 00016: %q, want %q", got, want)
	}
	var indexes int
	if err := conn.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log'").Scan(&indexes); err != nil || indexes != 0 {
		t.Fatalf("%d indexes on audit_log, want none (%v)", indexes, err)
	}
	insert(4)
	if _, err := conn.Exec(`INSERT INTO audit_log (at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, idx)
		VALUES (0, 'cli', '', 'x', '', '', '[]', 'success', '', 0, 4)`); err == nil {
		t.Fatal("a second entry took index 4")
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(); len(got) != 5 || !slices.Equal(got[:4], want) || got[4] != "5 4 t1 1004 r4 [\"title\"] 1 sealed" {
		t.Fatalf("after Down: %q", got)
	}
	if err := conn.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log_idx'").Scan(&indexes); err != nil || indexes != 1 {
		t.Fatalf("after Down, audit_log_idx: %d, %v", indexes, err)
	}
}

// TestAuditTimeBlocksMigration: migration 00017 (SQLite) turns audit_time
// into a row per block of 64 integrated entries with the earliest and the
// latest of their times, and its Down lists every integrated entry's time
// again, and no pending one's.
func TestAuditTimeBlocksMigration(t *testing.T) {
	ctx := context.Background()
	conn, p := migrationTarget(t, "sqlite")
	if _, err := p.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	// Entries 0-69, their times out of order within each block; 0-65 are
	// integrated, and audit_time lists them as the sequencer did.
	at := func(idx int) int { return 1000 + (idx*37)%70 }
	for i := range 70 {
		if _, err := conn.Exec(`INSERT INTO audit_log (at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged, idx)
			VALUES (?, 'user', 'u', 'record.create', 'record', 'r', 'null', 'success', 'req', 0, ?)`, at(i), i); err != nil {
			t.Fatal(err)
		}
		if i < 66 {
			if _, err := conn.Exec("INSERT INTO audit_time (time, entry) VALUES (?, ?)", at(i), i); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := conn.Exec("UPDATE audit_head SET size = 66 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	want := [][]int{{0, at(0), at(0)}, {1, at(64), at(64)}}
	for i := range 66 {
		b := want[i/64]
		b[1], b[2] = min(b[1], at(i)), max(b[2], at(i))
	}
	if got := queryInts(t, conn, "SELECT block, earliest, latest FROM audit_time ORDER BY block", 3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit_time %v, want %v", got, want)
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryInts(t, conn, "SELECT time, entry FROM audit_time ORDER BY entry", 2)
	if len(got) != 66 {
		t.Fatalf("after Down, audit_time has %d rows, want the 66 integrated entries", len(got))
	}
	for i, r := range got {
		if r[0] != at(i) || r[1] != i {
			t.Fatalf("after Down, audit_time row %d is %v, want [%d %d]", i, r, at(i), i)
		}
	}
}

// queryInts runs q and returns its rows of width integers.
func queryInts(t *testing.T, conn *sql.DB, q string, width int) [][]int {
	t.Helper()
	rows, err := conn.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]int
	for rows.Next() {
		r := make([]int, width)
		dest := make([]any, width)
		for i := range r {
			dest[i] = &r[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckSchema: a SQLite database at an older schema (here 00011, before
// the audit log's tenant blocks and hash runs) fails CheckSchema with
// EFailedPrecondition until Migrate brings it up to date; one marked with a
// version this binary does not have fails it too.
func TestCheckSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	conn, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations/sqlite")
	p, err := goose.NewProvider(goose.DialectSQLite3, conn, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	db, err := Open(ctx, "sqlite://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); bulwark.ErrorCode(err) != bulwark.EFailedPrecondition {
		t.Fatalf("at version 11: %v, want %s", err, bulwark.EFailedPrecondition)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("migrated: %v", err)
	}
	latest, err := latestMigration("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)", latest+1); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); bulwark.ErrorCode(err) != bulwark.EFailedPrecondition {
		t.Fatalf("at version %d: %v, want %s", latest+1, err, bulwark.EFailedPrecondition)
	}
}

// TestSessionClientMigration: migration 00019 (SQLite), 00012
// (PostgreSQL) blanks the client address and User-Agent that session rows
// kept in clear before they were sealed, in every tenant (on PostgreSQL
// through row-level security forced on the owner), and leaves sealed
// pairs and other kinds of secret alone.
func TestSessionClientMigration(t *testing.T) {
	for backend, before := range map[string]int64{"sqlite": 18, "postgres": 11} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db, p := migrationTarget(t, backend)
			if _, err := p.UpTo(ctx, before); err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			q := func(s string) string {
				if backend == "postgres" {
					n := 0
					return regexp.MustCompile(`\?`).ReplaceAllStringFunc(s, func(string) string { n++; return fmt.Sprintf("$%d", n) })
				}
				return s
			}
			rows := []struct{ tenant, id, kind, ip, ua string }{
				{"t1", "s1", "bws", "198.51.100.7", "Agent/1"},
				{"t2", "s2", "bws", "aead:c2VhbGVk", ""},
				{"t2", "s3", "act", "203.0.113.9", "Agent/2"},
			}
			for _, tn := range []string{"t1", "t2"} {
				if backend == "postgres" {
					if _, err := conn.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, false)", tn); err != nil {
						t.Fatal(err)
					}
				}
				for _, s := range []string{
					"INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, 'T', 0)",
					"INSERT INTO users (tenant_id, id, email, status, created_at, updated_at) VALUES (?, 'u', ?, 'active', 0, 0)",
				} {
					if _, err := conn.ExecContext(ctx, q(s), tn, tn+"@x.example"); err != nil {
						t.Fatal(err)
					}
				}
				for _, r := range rows {
					if r.tenant != tn {
						continue
					}
					if _, err := conn.ExecContext(ctx, q(`INSERT INTO user_secrets (tenant_id, id, kind, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent)
						VALUES (?, ?, ?, 'u', 0, 1, 0, ?, ?)`), r.tenant, r.id, r.kind, r.ip, r.ua); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := p.UpTo(ctx, before+1); err != nil {
				t.Fatal(err)
			}
			want := map[string][2]string{"s1": {"", ""}, "s2": {"aead:c2VhbGVk", ""}, "s3": {"203.0.113.9", "Agent/2"}}
			for _, r := range rows {
				if backend == "postgres" {
					if _, err := conn.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, false)", r.tenant); err != nil {
						t.Fatal(err)
					}
				}
				var ip, ua string
				if err := conn.QueryRowContext(ctx, q("SELECT client_ip, user_agent FROM user_secrets WHERE tenant_id = ? AND id = ?"), r.tenant, r.id).Scan(&ip, &ua); err != nil {
					t.Fatal(err)
				}
				if got := [2]string{ip, ua}; got != want[r.id] {
					t.Errorf("%s after the migration: %q, want %q", r.id, got, want[r.id])
				}
			}
		})
	}
}
