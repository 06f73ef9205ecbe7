package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestFederatedIdentityProviderMigration: migration 00018 (SQLite; 00011
// on PostgreSQL) keys federated identities by (tenant_id, provider_id,
// issuer, subject) and keeps every row as it was, so a second provider may
// link the same subject; its Down keeps, of the identities providers of a
// tenant linked for one (issuer, subject), the one linked first, and on
// PostgreSQL forces row-level security on the table again.
func TestFederatedIdentityProviderMigration(t *testing.T) {
	ctx := context.Background()
	for backend, before := range map[string]int64{"sqlite": 17, "postgres": 10} {
		t.Run(backend, func(t *testing.T) {
			conn, p := migrationTarget(t, backend)
			if _, err := p.UpTo(ctx, before); err != nil {
				t.Fatal(err)
			}
			// inTenant runs fn in a transaction of tenant t1 (row-level
			// security applies to the tables' owner too), committed unless
			// a statement failed.
			inTenant := func(fn func(exec func(q string, args ...any) error, query func(q string) []string)) {
				t.Helper()
				tx, err := conn.Begin()
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if backend == "postgres" {
					if _, err := tx.Exec("SELECT set_config('app.tenant_id', 't1', true)"); err != nil {
						t.Fatal(err)
					}
				}
				failed := false
				exec := func(q string, args ...any) error {
					if backend == "postgres" {
						q = rebindDollar(q)
					}
					_, err := tx.Exec(q, args...)
					failed = failed || err != nil
					return err
				}
				fn(exec, func(q string) []string { return queryRows(t, tx, q) })
				if failed {
					return // a failed statement ends a PostgreSQL transaction
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			const cols = "tenant_id, issuer, subject, provider_id, user_id, created_at, last_login_at, display_name"
			const insert = "INSERT INTO federated_identities (" + cols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
			const list = "SELECT " + cols + " FROM federated_identities ORDER BY subject, provider_id"
			inTenant(func(exec func(string, ...any) error, _ func(string) []string) {
				for _, q := range []string{
					"INSERT INTO tenants (id, slug, name, created_at) VALUES ('t1', 'acme', 'Acme', 1)",
					"INSERT INTO users (tenant_id, id, email, status, created_at, updated_at) VALUES ('t1', 'u1', 'a@acme.example', 'active', 1, 1)",
				} {
					if err := exec(q); err != nil {
						t.Fatal(err)
					}
				}
				for _, r := range [][]any{
					{"t1", "https://idp.example", "s-a", "p1", "u1", 10, 20, "A"},
					{"t1", "https://idp.example", "s-b", "p1", "u1", 11, 21, "B"},
				} {
					if err := exec(insert, r...); err != nil {
						t.Fatal(err)
					}
				}
			})
			want := []string{
				"t1 https://idp.example s-a p1 u1 10 20 A",
				"t1 https://idp.example s-b p1 u1 11 21 B",
			}
			if _, err := p.UpTo(ctx, before+1); err != nil {
				t.Fatal(err)
			}
			inTenant(func(exec func(string, ...any) error, query func(string) []string) {
				if got := query(list); !slices.Equal(got, want) {
					t.Fatalf("after the migration: %q, want %q", got, want)
				}
				// Another provider links the same subject; its own twice, never.
				if err := exec(insert, "t1", "https://idp.example", "s-a", "p2", "u1", 5, 30, "A2"); err != nil {
					t.Fatalf("a second provider's identity for s-a: %v", err)
				}
			})
			inTenant(func(exec func(string, ...any) error, _ func(string) []string) {
				if err := exec(insert, "t1", "https://idp.example", "s-a", "p2", "u1", 6, 31, "A3"); err == nil {
					t.Fatal("provider p2 linked s-a twice")
				}
			})
			if backend == "sqlite" {
				var n int
				if err := conn.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'federated_identities_user'").Scan(&n); err != nil || n != 1 {
					t.Fatalf("federated_identities_user: %d, %v", n, err)
				}
			}
			if _, err := p.Down(ctx); err != nil {
				t.Fatal(err)
			}
			// p2's identity was linked first (created_at 5): it stays.
			wantDown := []string{
				"t1 https://idp.example s-a p2 u1 5 30 A2",
				"t1 https://idp.example s-b p1 u1 11 21 B",
			}
			inTenant(func(exec func(string, ...any) error, query func(string) []string) {
				if got := query(list); !slices.Equal(got, wantDown) {
					t.Fatalf("after Down: %q, want %q", got, wantDown)
				}
			})
			inTenant(func(exec func(string, ...any) error, _ func(string) []string) {
				if err := exec(insert, "t1", "https://idp.example", "s-b", "p2", "u1", 40, 40, ""); err == nil {
					t.Fatal("after Down, a second identity for s-b was linked")
				}
			})
			if backend == "postgres" {
				var forced bool
				if err := conn.QueryRow("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'federated_identities'").Scan(&forced); err != nil || !forced {
					t.Fatalf("after Down, row-level security forced: %v, %v", forced, err)
				}
			}
		})
	}
}

// queryRows runs q in tx and returns each row's columns joined by spaces.
func queryRows(t *testing.T, tx *sql.Tx, q string) []string {
	t.Helper()
	rows, err := tx.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
