package store

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/bulwarkhq/bulwark/internal/pgadmin"
)

// TestOperatorRolesMigration: operators that exist when 00006 runs keep
// what they could do (the admin role); operators inserted afterwards get
// no role unless one is given (deny by default). On both backends.
func TestOperatorRolesMigration(t *testing.T) {
	ctx := context.Background()
	open := map[string]func(t *testing.T) (*sql.DB, goose.Dialect){
		"sqlite": func(t *testing.T) (*sql.DB, goose.Dialect) {
			conn, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
			if err != nil {
				t.Fatal(err)
			}
			return conn, goose.DialectSQLite3
		},
		"postgres": func(t *testing.T) (*sql.DB, goose.Dialect) {
			admin := os.Getenv("BULWARK_TEST_POSTGRES")
			if admin == "" {
				admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
			}
			scratch, err := pgadmin.Create(ctx, admin, "bulwark_test")
			if err != nil {
				if os.Getenv("BULWARK_REQUIRE_POSTGRES") == "1" {
					t.Fatal(err)
				}
				t.Skipf("no PostgreSQL: %v", err)
			}
			t.Cleanup(scratch.Drop)
			conn, err := sql.Open("pgx", scratch.OwnerURL)
			if err != nil {
				t.Fatal(err)
			}
			return conn, goose.DialectPostgres
		},
	}
	for backend, mk := range open {
		t.Run(backend, func(t *testing.T) {
			conn, dialect := mk(t)
			defer conn.Close()
			sub, err := fs.Sub(migrations, "migrations/"+backend)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(dialect, conn, sub)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec("INSERT INTO operators (id, email, status, created_at, updated_at) VALUES ('op-old', 'old@vendor.example', 'active', 0, 0)"); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec("INSERT INTO operators (id, email, status, created_at, updated_at) VALUES ('op-new', 'new@vendor.example', 'active', 0, 0)"); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{"op-old": "admin", "op-new": ""} {
				var roles string
				if err := conn.QueryRow("SELECT roles FROM operators WHERE id = '" + id + "'").Scan(&roles); err != nil {
					t.Fatal(err)
				}
				if roles != want {
					t.Errorf("%s: roles %q, want %q", id, roles, want)
				}
			}
		})
	}
}
