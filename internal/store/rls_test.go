package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// seedTwo makes two tenants with a row in every tenant table.
func seedTwo(t *testing.T, f *storetest.Fixture) (idA, idB string) {
	t.Helper()
	for _, slug := range []string{"acme", "globex"} {
		owner, _ := f.Tenant(t, slug)
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateRecord(owner, "notes", map[string]any{"title": "t", "owner_email": "a@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateRole(owner, bulwark.Role{Name: "custom", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "t", Grant: bulwark.Grant{Role: bulwark.RoleViewer}}); err != nil {
			t.Fatal(err)
		}
		// A key rotation leaves a re-seal job (key_jobs).
		if _, err := f.RotateTenantKey(storetest.System(context.Background()), slug); err != nil {
			t.Fatal(err)
		}
		seedAuth(t, f, owner)
		seedSSO(t, f, owner)
		if slug == "acme" {
			idA = bulwark.FromContext(owner).TenantID
		} else {
			idB = bulwark.FromContext(owner).TenantID
		}
	}
	// The audit log's fallback salt is made only while the KMS is down
	// (audit_seal.go); here each tenant gets one as the store writes it,
	// in a transaction scoped to the tenant.
	if f.Backend == "postgres" {
		db, err := sql.Open("pgx", f.AppURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, id := range []string{idA, idB} {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("SELECT set_config('app.tenant_id', $1, true)", id); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("INSERT INTO audit_seal_salts (tenant_id, salt) VALUES ($1, $2)", id, []byte("0123456789abcdef0123456789abcdef")); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return idA, idB
}

var rlsTables = []string{"users", "roles", "user_grants", "user_secrets", "api_tokens", "collections", "records", "record_uniques", "audit_log",
	"auth_settings", "password_history", "mfa_totp", "mfa_recovery_codes", "webauthn_credentials", "user_devices",
	"tenant_keys", "key_jobs", "audit_seal_salts",
	"sso_providers", "federated_identities", "sso_requests", "sso_seen_assertions", "sso_settings"}

// TestRowLevelSecurity bypasses the application layer: it connects as the
// application role and queries the tables directly (ISO-1).
func TestRowLevelSecurity(t *testing.T) {
	f := storetest.NewFixture(t, "postgres")
	idA, idB := seedTwo(t, f)
	ctx := context.Background()
	app, err := sql.Open("pgx", f.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.SetMaxOpenConns(1) // one pooled connection, reused by every transaction

	count := func(q func(string, ...any) *sql.Row, table, where string, args ...any) int {
		t.Helper()
		var n int
		if err := q("SELECT count(*) FROM "+table+" "+where, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		return n
	}
	// No tenant set: nothing at all.
	for _, table := range rlsTables {
		if n := count(app.QueryRow, table, ""); n != 0 {
			t.Errorf("with no tenant set, %s shows %d rows", table, n)
		}
	}
	// Tenant A set: A's rows only, and some of them.
	tx, err := app.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT set_config('app.tenant_id', $1, true)", idA); err != nil {
		t.Fatal(err)
	}
	for _, table := range rlsTables {
		if n := count(tx.QueryRow, table, "WHERE tenant_id <> $1", idA); n != 0 {
			t.Errorf("as tenant A, %s shows %d rows of other tenants", table, n)
		}
		if n := count(tx.QueryRow, table, "WHERE tenant_id = $1", idA); n == 0 {
			t.Errorf("as tenant A, %s shows none of A's rows", table)
		}
	}
	// Writing another tenant's id is refused by WITH CHECK.
	_, err = tx.Exec("INSERT INTO roles (tenant_id, name, description, permissions, created_at) VALUES ($1, 'evil', '', '[]', 0)", idB)
	if err == nil {
		t.Fatal("tenant A inserted a row for tenant B")
	}
	tx.Rollback()
	tx, _ = app.BeginTx(ctx, nil)
	tx.Exec("SELECT set_config('app.tenant_id', $1, true)", idA)
	if _, err := tx.Exec("UPDATE roles SET tenant_id = $1", idB); err == nil {
		t.Fatal("tenant A moved a row to tenant B")
	}
	tx.Rollback()
	tx, _ = app.BeginTx(ctx, nil)
	tx.Exec("SELECT set_config('app.tenant_id', $1, true)", idA)
	res, err := tx.Exec("DELETE FROM records WHERE tenant_id = $1", idB)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 0 {
		t.Fatalf("tenant A deleted %d of B's records", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The setting ended with its transaction: the same pooled connection
	// shows nothing in the next one.
	var setting sql.NullString
	if err := app.QueryRow("SELECT current_setting('app.tenant_id', true)").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting.String != "" {
		t.Fatalf("app.tenant_id leaked into the next transaction: %q", setting.String)
	}
	if n := count(app.QueryRow, "records", ""); n != 0 {
		t.Fatalf("the next transaction sees %d records", n)
	}
	// Deployment-level audit entries (no tenant) can be added but not read.
	if _, err := app.Exec("INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged) VALUES (NULL, 0, 'x', 'x', 'x', 'x', 'x', '[]', 'success', '', false)"); err != nil {
		t.Fatalf("a deployment-level audit entry was refused: %v", err)
	}
	tx, _ = app.BeginTx(ctx, nil)
	tx.Exec("SELECT set_config('app.tenant_id', $1, true)", idA)
	if _, err := tx.Exec("INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields, outcome, request_id, privileged) VALUES (NULL, 0, 'x', 'x', 'x', 'x', 'x', '[]', 'success', '', false)"); err == nil {
		t.Fatal("a tenant transaction wrote a deployment-level audit entry")
	}
	tx.Rollback()
}

// TestRowLevelSecurityLint checks the schema: every table with a tenant_id
// has RLS enabled and forced with a WITH CHECK policy, every unique index
// leads with tenant_id, nothing runs as definer, and the application role
// cannot bypass any of it.
func TestRowLevelSecurityLint(t *testing.T) {
	f := storetest.NewFixture(t, "postgres")
	owner, err := sql.Open("pgx", f.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	rows, err := owner.Query(`SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN information_schema.columns col ON col.table_schema = n.nspname AND col.table_name = c.relname AND col.column_name = 'tenant_id'
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'tenants'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var name string
		var enabled, forced bool
		rows.Scan(&name, &enabled, &forced)
		seen[name] = true
		if !enabled || !forced {
			t.Errorf("table %s: row security enabled=%v forced=%v", name, enabled, forced)
		}
		var policies, withCheck int
		owner.QueryRow("SELECT count(*), count(with_check) FROM pg_policies WHERE tablename = $1", name).Scan(&policies, &withCheck)
		if policies == 0 || withCheck != policies {
			t.Errorf("table %s: %d policies, %d with WITH CHECK", name, policies, withCheck)
		}
	}
	rows.Close()
	for _, table := range rlsTables {
		if !seen[table] {
			t.Errorf("table %s has no tenant_id column", table)
		}
	}
	if len(seen) != len(rlsTables) {
		t.Errorf("tables with tenant_id = %v, want exactly %v", seen, rlsTables)
	}
	// Unique indexes on tenant tables start with tenant_id (unique checks
	// bypass RLS, so otherwise they could leak existence across tenants).
	rows, err = owner.Query(`SELECT t.relname, i.relname, a.attname
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
		WHERE n.nspname = 'public' AND x.indisunique`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, index, first string
		rows.Scan(&table, &index, &first)
		if seen[table] && first != "tenant_id" && !(table == "audit_log" && (first == "seq" || first == "idx")) {
			t.Errorf("unique index %s on %s starts with %s, not tenant_id", index, table, first)
		}
	}
	rows.Close()
	var definers, views int
	owner.QueryRow("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef").Scan(&definers)
	owner.QueryRow("SELECT count(*) FROM pg_views WHERE schemaname = 'public'").Scan(&views)
	if definers != 0 || views != 0 {
		t.Errorf("%d SECURITY DEFINER functions and %d views in public", definers, views)
	}
	var super, bypass bool
	var owned int
	owner.QueryRow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", f.AppRole).Scan(&super, &bypass)
	owner.QueryRow("SELECT count(*) FROM pg_tables WHERE tableowner = $1", f.AppRole).Scan(&owned)
	if super || bypass || owned != 0 {
		t.Errorf("application role: superuser=%v bypassrls=%v owns %d tables", super, bypass, owned)
	}
}

// TestRefusesPrivilegedRole: the store will not serve as a role that RLS
// does not bind.
func TestRefusesPrivilegedRole(t *testing.T) {
	f := storetest.NewFixture(t, "postgres")
	ctx := context.Background()
	// As the owner of the tables.
	db, err := store.Open(ctx, f.OwnerURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantCode(t, db.Migrate(ctx), bulwark.EFailedPrecondition)
	// As a superuser.
	u, _ := url.Parse(storetest.PostgresURL(t))
	ou, _ := url.Parse(f.OwnerURL)
	u.Path = ou.Path
	su, err := store.Open(ctx, u.String(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	wantCode(t, su.Migrate(ctx), bulwark.EFailedPrecondition)
	// Migrating with the same role as owner and app is refused too.
	same, err := store.Open(ctx, f.OwnerURL, store.Options{OwnerURL: f.OwnerURL})
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	wantCode(t, same.Migrate(ctx), bulwark.EFailedPrecondition)
}
