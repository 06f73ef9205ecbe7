package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// The same commands on PostgreSQL: migrate as the owner role, serve as the
// application role, the CLI against the same database. Skipped without a
// server unless BULWARK_REQUIRE_POSTGRES=1.
func TestPostgresMigrateServeAndCLI(t *testing.T) {
	pg := storetest.OpenPostgres(t, store.Options{})
	pg.Close() // the commands open their own
	// The test server trusts local connections, so a password in the URL
	// is accepted and ignored: it must still never be printed or logged.
	const secret = "n0t-in-any-0utput"
	appURL := strings.Replace(pg.AppURL, "@", ":"+secret+"@", 1)
	vars := map[string]string{"BULWARK_DB": appURL, "BULWARK_LOG_LEVEL": "debug"}
	var printed strings.Builder

	r := runCmd(t, vars, "migrate", "--db-owner", pg.OwnerURL)
	printed.WriteString(r.stdout + r.stderr)
	if r.code != exitOK {
		t.Fatalf("migrate as owner: exit %d, stderr %s", r.code, r.stderr)
	}
	// The application role alone can only check that the schema is current.
	r = runCmd(t, vars, "migrate")
	printed.WriteString(r.stdout + r.stderr)
	if r.code != exitOK {
		t.Fatalf("migrate check as app: exit %d, stderr %s", r.code, r.stderr)
	}

	data := filepath.Join(t.TempDir(), "data")
	s := startServe(t, data, "--db", appURL, "--db-owner", pg.OwnerURL, "--log-level", "debug")
	if r := s.do(t, "GET", "/readyz", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", r.StatusCode)
	}

	// The admin commands do not need the data directory on PostgreSQL; they
	// need the server's key-encryption key (here its KEK file; in production
	// a KMS), or the tenant's keys would be wrapped under another one.
	r = runCmd(t, vars, "tenant", "create", "acme", "--data", filepath.Join(t.TempDir(), "none"), "--kek", defaultKEK(data),
		"--name", "Acme", "--admin-email", "ada@acme.example", "--json")
	if r.code != exitOK {
		t.Fatalf("tenant create: exit %d, stderr %s", r.code, r.stderr)
	}
	var created createdJSON
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if r := s.do(t, "POST", "/api/v1/auth/activate", "", map[string]string{"token": created.Token, "password": pw}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("activate: %d", r.StatusCode)
	}
	if r := s.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "ada@acme.example", "password": pw}); r.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if r := runCmd(t, vars, "tenant", "list"); r.code != exitOK || !strings.Contains(r.stdout, "acme") {
		t.Errorf("tenant list: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exited %d; stderr:\n%s", code, s.stderr)
	}
	printed.WriteString(s.stderr.String())
	if strings.Contains(printed.String(), secret) {
		t.Error("the database password was printed or logged")
	}
	if !strings.Contains(printed.String(), "xxxxx@127.0.0.1") {
		t.Error("the redacted database URL is not shown")
	}
}
