package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

// TestKeysCommands: the key inventory, a tenant key rotation with its
// progress, a KEK rotation, and the refusals (a readable KEK file, a bad
// or mismatched environment).
func TestKeysCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	quiet := map[string]string{"BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, quiet, "migrate", "--data", data); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, quiet, "tenant", "create", "acme", "--data", data, "--name", "Acme", "--admin-email", "ada@acme.example"); r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	kek := filepath.Join(data, "kek.json")
	if fi, err := os.Stat(kek); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file: %v, mode %v", err, fi.Mode().Perm())
	}

	r := runCmd(t, quiet, "keys", "list", "--data", data)
	if r.code != exitOK {
		t.Fatalf("keys list: %s", r.stderr)
	}
	for _, want := range []string{"acme", "data", "index", "AES256-GCM", "HMAC-SHA256-PRF", "development", ":primary@", "never", "KEK: file://" + kek + "#"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys list lacks %q:\n%s", want, r.stdout)
		}
	}
	var inv []bulwark.TenantKeyset
	r = runCmd(t, quiet, "keys", "list", "--data", data, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil || len(inv) != 2 {
		t.Fatalf("keys list --json: %v\n%s", err, r.stdout)
	}
	kek1 := inv[0].KEK

	r = runCmd(t, quiet, "keys", "rotate", "--tenant", "acme", "--data", data)
	if r.code != exitOK || !strings.Contains(r.stdout, "re-sealed 0/0 records") || !strings.Contains(r.stdout, "Done") {
		t.Fatalf("keys rotate: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, quiet, "keys", "list", "--data", data, "--json")
	json.Unmarshal([]byte(r.stdout), &inv)
	for _, k := range inv {
		if k.Purpose == "data" && (len(k.Keys) != 2 || k.RotatedAt == nil || k.Status != "active" || k.Reseal == nil || k.Reseal.FinishedAt == nil) {
			t.Errorf("after rotation: %+v", k)
		}
	}
	if r := runCmd(t, quiet, "keys", "rotate", "--data", data); r.code != exitUsage {
		t.Errorf("keys rotate without --tenant: exit %d", r.code)
	}
	if r := runCmd(t, quiet, "keys", "rotate", "--tenant", "nope", "--data", data); r.code != exitError {
		t.Errorf("keys rotate of an unknown tenant: exit %d", r.code)
	}

	r = runCmd(t, quiet, "keys", "rotate-kek", "--data", data, "--retire")
	if r.code != exitOK || !strings.Contains(r.stdout, "New KEK version") || !strings.Contains(r.stdout, "2 keysets re-wrapped") || !strings.Contains(r.stdout, "disabled") {
		t.Fatalf("keys rotate-kek: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, quiet, "keys", "list", "--data", data, "--json")
	json.Unmarshal([]byte(r.stdout), &inv)
	if inv[0].KEK == kek1 || inv[1].KEK != inv[0].KEK {
		t.Errorf("after rotate-kek the keysets are wrapped by %s and %s (was %s)", inv[0].KEK, inv[1].KEK, kek1)
	}

	// Another environment on the same data: refused, and it says why.
	r = runCmd(t, map[string]string{"BULWARK_LOG_LEVEL": "error", "BULWARK_ENV": "production"}, "keys", "rotate", "--tenant", "acme", "--data", data)
	if r.code != exitError || !strings.Contains(r.stderr, `environment "development"`) || !strings.Contains(r.stderr, `"production"`) {
		t.Errorf("rotate in another environment: %d %s", r.code, r.stderr)
	}
	if r := runCmd(t, quiet, "keys", "list", "--data", data, "--env", "Prod!"); r.code != exitUsage {
		t.Errorf("a bad --env: exit %d", r.code)
	}
	// A KEK file others can read: refused, not fixed.
	os.Chmod(kek, 0o644)
	r = runCmd(t, quiet, "keys", "list", "--data", data)
	if r.code != exitError || !strings.Contains(r.stderr, "0644") || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("a 0644 KEK file: %d %s", r.code, r.stderr)
	}
	if r := runCmd(t, quiet, "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "off"); r.code != exitError || !strings.Contains(r.stderr, "0644") {
		t.Errorf("serve with a 0644 KEK file: %d %s", r.code, r.stderr)
	}
	os.Chmod(kek, 0o600)
	if r := runCmd(t, quiet, "keys", "--help"); r.code != exitOK || !strings.Contains(r.stdout, "rotate-kek") {
		t.Errorf("keys --help: %d", r.code)
	}
}

// TestServeSealsThroughAPI (DATA-3, the first proof): unique
// confidential, personal and secret values are written through the HTTPS
// API, read back and filtered on; then every file in the data directory
// (database, WAL, shm, audit replica, keys) and the server's log are
// scanned: none of the values appears. A public value written the same
// way is found in the database files, so the scan sees plaintext.
func TestServeSealsThroughAPI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServe(t, data)
	r := runCmd(t, map[string]string{"BULWARK_LOG_LEVEL": "error"},
		"tenant", "create", "acme", "--data", data, "--name", "Acme", "--admin-email", "ada@acme.example", "--json")
	if r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	var created createdJSON
	json.Unmarshal([]byte(r.stdout), &created)
	const pw = "correct horse battery staple"
	if r := s.do(t, "POST", "/api/v1/auth/activate", "", map[string]string{"token": created.Token, "password": pw}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("activate: %d", r.StatusCode)
	}
	lr := s.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "ada@acme.example", "password": pw})
	var sess struct{ Token string }
	json.NewDecoder(lr.Body).Decode(&sess)
	if lr.StatusCode != http.StatusOK || sess.Token == "" {
		t.Fatalf("login: %d", lr.StatusCode)
	}
	coll := map[string]any{"name": "patients", "fields": []map[string]any{
		{"name": "name", "type": "text", "classification": "personal", "required": true},
		{"name": "email", "type": "email", "classification": "personal", "unique": true},
		{"name": "diagnosis", "type": "text", "classification": "confidential", "lookup": true},
		{"name": "api_key", "type": "text", "classification": "secret"},
		{"name": "ward", "type": "text", "classification": "public"},
	}}
	if r := s.do(t, "POST", "/api/v1/collections", sess.Token, coll); r.StatusCode != http.StatusCreated {
		t.Fatalf("create collection: %d", r.StatusCode)
	}
	tok := func(p string) string {
		b := make([]byte, 8)
		rand.Read(b)
		return p + hex.EncodeToString(b)
	}
	canary := tok("publicward")
	var secrets []string
	for i := 0; i < 10; i++ {
		rec := map[string]any{"name": tok("pname"), "email": tok("pmail") + "@example.com", "diagnosis": tok("cdiag"), "api_key": tok("skey"), "ward": canary}
		resp := s.do(t, "POST", "/api/v1/collections/patients/records", sess.Token, rec)
		var got struct {
			ID   string
			Data map[string]any
		}
		json.NewDecoder(resp.Body).Decode(&got)
		if resp.StatusCode != http.StatusCreated || got.Data["api_key"] != rec["api_key"] {
			t.Fatalf("create record: %d %v", resp.StatusCode, got)
		}
		for _, k := range []string{"name", "email", "diagnosis", "api_key"} {
			secrets = append(secrets, rec[k].(string))
		}
		patched := tok("pnewname")
		if r := s.do(t, "PATCH", "/api/v1/collections/patients/records/"+got.ID, sess.Token, map[string]any{"name": patched}); r.StatusCode != http.StatusOK {
			t.Fatalf("patch: %d", r.StatusCode)
		}
		secrets = append(secrets, patched)
		// Filtering on a sealed lookup field goes through the URL: the
		// value must not reach the log either.
		lr := s.do(t, "GET", "/api/v1/collections/patients/records?diagnosis="+url.QueryEscape(rec["diagnosis"].(string)), sess.Token, nil)
		var list struct{ Items []map[string]any }
		json.NewDecoder(lr.Body).Decode(&list)
		if lr.StatusCode != http.StatusOK || len(list.Items) != 1 {
			t.Fatalf("filter on a sealed lookup field: %d, %d items", lr.StatusCode, len(list.Items))
		}
	}
	// A duplicate of a sealed unique value is refused.
	if r := s.do(t, "POST", "/api/v1/collections/patients/records", sess.Token, map[string]any{"name": "x", "email": strings.ToLower(secrets[1])}); r.StatusCode != http.StatusConflict {
		t.Errorf("duplicate sealed unique value: %d", r.StatusCode)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}

	var files []string
	var dbBytes []byte
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
			if strings.HasPrefix(filepath.Base(p), "bulwark.db") {
				b, _ := os.ReadFile(p)
				dbBytes = append(dbBytes, b...)
			}
		}
		return nil
	})
	if !bytes.Contains(dbBytes, []byte(canary)) {
		t.Fatal("the public canary is not in the database files: the scan cannot see plaintext")
	}
	scan := map[string][]byte{"server log": []byte(s.stderr.String())}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		scan[strings.TrimPrefix(p, data)] = b
	}
	for _, v := range secrets {
		for name, b := range scan {
			if bytes.Contains(b, []byte(v)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(v))) {
				t.Errorf("%s holds the sensitive value %q", name, v)
			}
		}
	}
	t.Logf("scanned %d files and the log for %d values", len(files), len(secrets))
}
