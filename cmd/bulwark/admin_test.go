package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMigrateCreatesDataDir0700(t *testing.T) {
	data := filepath.Join(t.TempDir(), "nested", "data")
	r := runCmd(t, nil, "migrate", "--data", data, "--log-level", "error")
	if r.code != exitOK {
		t.Fatalf("migrate: exit %d, stderr %s", r.code, r.stderr)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(data, "bulwark.db")); err != nil {
		t.Errorf("no database: %v", err)
	}
	// Migrating again is a no-op.
	if r := runCmd(t, nil, "migrate", "--data", data, "--log-level", "error"); r.code != exitOK {
		t.Fatalf("second migrate: exit %d, stderr %s", r.code, r.stderr)
	}
}

// A data directory that group or others can reach is refused by every
// command that uses it, and left as it is.
func TestDataDirWithOpenPermissionsRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o750, 0o705, 0o755, 0o777} {
		data := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(data, mode); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", ""},
			{"migrate"},
			{"tenant", "list"},
			{"tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"},
			{"operator", "create", "ops@vendor.example", "--role", "admin"},
		} {
			r := runCmd(t, map[string]string{"BULWARK_DATA": data}, args...)
			if r.code != exitError {
				t.Errorf("%04o %v: exit %d, want 1; stderr %s", mode, args, r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "chmod 700") {
				t.Errorf("%04o %v: stderr does not say how to fix it: %s", mode, args, r.stderr)
			}
		}
		entries, _ := os.ReadDir(data)
		if len(entries) != 0 {
			t.Errorf("%04o: the refused directory was written to: %d entries", mode, len(entries))
		}
		fi, _ := os.Stat(data)
		if fi.Mode().Perm() != mode {
			t.Errorf("mode changed from %04o to %04o", mode, fi.Mode().Perm())
		}
	}
}

func TestDataDirNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	os.WriteFile(file, nil, 0o600)
	if r := runCmd(t, nil, "migrate", "--data", file); r.code != exitError {
		t.Errorf("exit %d, want 1", r.code)
	}
}

// The admin commands need the data directory to exist: they never create
// an empty database by mistake (a typo in --data).
func TestAdminCommandsNeedDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"tenant", "list", "--data", data},
		{"operator", "create", "ops@vendor.example", "--role", "admin", "--data", data},
	} {
		r := runCmd(t, nil, args...)
		if r.code != exitError || !strings.Contains(r.stderr, "no data directory") {
			t.Errorf("%v: exit %d, stderr %s", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("data directory created")
	}
}

// The environment picks the data directory unless a flag does; the
// database lands where the winner says.
func TestRunConfigPrecedence(t *testing.T) {
	root := t.TempDir()
	envData, flagData := filepath.Join(root, "env"), filepath.Join(root, "flag")
	vars := map[string]string{"BULWARK_DATA": envData, "BULWARK_LOG_LEVEL": "error"}

	if r := runCmd(t, vars, "migrate", "--data", flagData); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(flagData, "bulwark.db")); err != nil {
		t.Errorf("flag lost: %v", err)
	}
	if _, err := os.Stat(envData); err == nil {
		t.Error("env data dir used although --data was given")
	}

	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(envData, "bulwark.db")); err != nil {
		t.Errorf("env lost: %v", err)
	}

	// BULWARK_DB_FILE names a file holding the database URL.
	other := filepath.Join(root, "other.db")
	urlFile := filepath.Join(root, "db-url")
	os.WriteFile(urlFile, []byte("sqlite://"+other+"\n"), 0o600)
	vars["BULWARK_DB_FILE"] = urlFile
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("BULWARK_DB_FILE ignored: %v", err)
	}
	// A bad value in the environment is a usage error that names it.
	vars["BULWARK_INVITE_TTL"] = "soon"
	if r := runCmd(t, vars, "tenant", "create", "acme", "--name", "A", "--admin-email", "a@b.example"); r.code != exitUsage || !strings.Contains(r.stderr, "BULWARK_INVITE_TTL") {
		t.Errorf("bad env: exit %d, stderr %s", r.code, r.stderr)
	}
}

type createdJSON struct {
	Tenant struct {
		ID, Slug, Name string
	} `json:"tenant"`
	Operator struct {
		ID, Email, Status string
		Roles             []string
	} `json:"operator"`
	AdminEmail string    `json:"admin_email"`
	Token      string    `json:"activation_token"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func TestTenantCreateAndList(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error", "BULWARK_INVITE_TTL": "2h"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, vars, "tenant", "list"); r.code != exitOK || !strings.Contains(r.stdout, "No tenants") {
		t.Errorf("empty list: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runCmd(t, vars, "tenant", "list", "--json"); r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty JSON list: exit %d, stdout %q", r.code, r.stdout)
	}

	// The slug may come before or after the flags.
	before := time.Now()
	r := runCmd(t, vars, "tenant", "create", "acme", "--name", "Acme Inc", "--admin-email", "Ada@Acme.Example", "--json")
	if r.code != exitOK {
		t.Fatalf("create: exit %d, stderr %s", r.code, r.stderr)
	}
	var got createdJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("create --json: %v\n%s", err, r.stdout)
	}
	if got.Tenant.Slug != "acme" || got.Tenant.Name != "Acme Inc" || got.Tenant.ID == "" || got.Token == "" {
		t.Errorf("created %+v", got)
	}
	if got.AdminEmail != "ada@acme.example" {
		t.Errorf("admin_email %q, want it normalised", got.AdminEmail)
	}
	if ttl := got.ExpiresAt.Sub(before); ttl < 2*time.Hour-time.Minute || ttl > 2*time.Hour+time.Minute {
		t.Errorf("token lives %s, want the BULWARK_INVITE_TTL of 2h", ttl)
	}

	r = runCmd(t, vars, "tenant", "create", "--name", "Globex", "--admin-email", "hank@globex.example", "globex")
	if r.code != exitOK {
		t.Fatalf("create: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"Tenant globex", "/api/v1/auth/activate", "bwa_", "--cacert " + filepath.Join(data, "ca.pem"), "valid until"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCmd(t, vars, "tenant", "list")
	if r.code != exitOK || !strings.Contains(r.stdout, "acme") || !strings.Contains(r.stdout, "Globex") {
		t.Errorf("list: exit %d, stdout %s", r.code, r.stdout)
	}
	r = runCmd(t, vars, "tenant", "list", "--json")
	var list []struct{ Slug string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
		t.Errorf("list --json: %v, %d tenants\n%s", err, len(list), r.stdout)
	}

	// Store errors are exit 1 with a clear message, not a crash.
	for name, args := range map[string][]string{
		"taken slug": {"tenant", "create", "acme", "--name", "Again", "--admin-email", "b@acme.example"},
		"bad slug":   {"tenant", "create", "Not A Slug", "--name", "X", "--admin-email", "b@x.example"},
		"bad email":  {"tenant", "create", "initech", "--name", "Initech", "--admin-email", "not-an-email"},
	} {
		r := runCmd(t, vars, args...)
		if r.code != exitError || r.stderr == "" {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
}

func TestOperatorCreate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	r := runCmd(t, vars, "operator", "create", "ops@vendor.example", "--role", "admin,security", "--json")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	var got createdJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Operator.Email != "ops@vendor.example" || got.Operator.Status != "invited" || got.Token == "" || got.ExpiresAt.IsZero() ||
		strings.Join(got.Operator.Roles, " ") != "admin security" {
		t.Errorf("created %+v", got)
	}
	r = runCmd(t, vars, "operator", "create", "eve@vendor.example", "--role", "admin")
	if r.code != exitOK || !strings.Contains(r.stdout, "/api/v1/auth/activate") || !strings.Contains(r.stdout, "Operator eve@vendor.example created") {
		t.Errorf("exit %d, stdout %s", r.code, r.stdout)
	}
	if r := runCmd(t, vars, "operator", "create", "ops@vendor.example", "--role", "admin"); r.code != exitError {
		t.Errorf("duplicate operator: exit %d, want 1", r.code)
	}
}

// TestTenantDelete: the command needs the slug twice, then the tenant is
// gone from the list and its slug is free again.
func TestTenantDelete(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, vars, "tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"); r.code != exitOK {
		t.Fatalf("create: %s", r.stderr)
	}
	for _, args := range [][]string{{"tenant", "delete", "acme"}, {"tenant", "delete", "acme", "--confirm", "acm"}} {
		if r := runCmd(t, vars, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	if r := runCmd(t, vars, "tenant", "delete", "nope", "--confirm", "nope"); r.code != exitError {
		t.Errorf("deleting a missing tenant: exit %d", r.code)
	}
	if r := runCmd(t, vars, "tenant", "delete", "acme", "--confirm", "acme"); r.code != exitOK {
		t.Fatalf("delete: exit %d: %s", r.code, r.stderr)
	}
	if r := runCmd(t, vars, "tenant", "list", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("after delete the list is %s", r.stdout)
	}
	if r := runCmd(t, vars, "tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"); r.code != exitOK {
		t.Errorf("the slug is not free again: %s", r.stderr)
	}
}

// The commands that do not migrate refuse a database whose schema this
// binary does not match, behind (an upgrade not yet migrated) or ahead (a
// downgrade), and change nothing; migrate and serve are the way forward.
func TestAdminCommandsNeedCurrentSchema(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if r := runCmd(t, nil, "migrate", "--data", data, "--log-level", "error"); r.code != exitOK {
		t.Fatalf("migrate: exit %d, stderr %s", r.code, r.stderr)
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var latest int64
	if err := raw.QueryRow("SELECT max(version_id) FROM goose_db_version").Scan(&latest); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n int) {
		t.Helper()
		if err := raw.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for name, change := range map[string]string{
		"behind": fmt.Sprintf("DELETE FROM goose_db_version WHERE version_id = %d", latest),
		"ahead":  fmt.Sprintf("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, 1)", latest+1),
	} {
		if _, err := raw.Exec(change); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"tenant", "list"},
			{"tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"},
			{"operator", "create", "ops@vendor.example", "--role", "admin"},
			{"audit", "verify"},
		} {
			r := runCmd(t, nil, append(args, "--data", data)...)
			if r.code != exitError {
				t.Errorf("%s: %v: exit %d, want 1; stderr %s", name, args, r.code, r.stderr)
			}
		}
		if n := count("tenants") + count("operators") + count("audit_log"); n != 0 {
			t.Errorf("%s: %d rows written", name, n)
		}
		// Undo, so that the next case starts from a current schema.
		if _, err := raw.Exec("DELETE FROM goose_db_version WHERE version_id >= ?", latest); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)", latest); err != nil {
			t.Fatal(err)
		}
		if r := runCmd(t, nil, "tenant", "list", "--data", data); r.code != exitOK {
			t.Fatalf("%s, undone: tenant list: exit %d, stderr %s", name, r.code, r.stderr)
		}
	}
}
