package store

import (
	"context"
	"testing"
)

// TestOperatorRolesMigration: operators that exist when 00006 runs keep
// what they could do (the admin role); operators inserted afterwards get
// no role unless one is given (deny by default). On both backends.
func TestOperatorRolesMigration(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			conn, p := migrationTarget(t, backend)
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
