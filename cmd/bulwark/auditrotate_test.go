package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditRotateKey: `bulwark audit rotate-key` between two runs of
// serve leaves a log whose checkpoints were signed by two keys; `audit
// verify` (the data directory knows both), `audit public-key --all` and a
// replica verified alone with the key list (in one file or repeated
// --public-key) all pass; with only the new key the replica fails.
func TestAuditRotateKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, vars, "audit", "rotate-key"); r.code != exitError {
		t.Fatalf("rotate-key before any key exists: exit %d", r.code)
	}
	if r := runCmd(t, vars, "tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"); r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	startServe(t, data).stop(t) // signs the first checkpoint with the first key
	before := runCmd(t, vars, "audit", "public-key")
	if before.code != exitOK {
		t.Fatal(before.stderr)
	}

	r := runCmd(t, vars, "audit", "rotate-key")
	if r.code != exitOK {
		t.Fatalf("rotate-key: exit %d, %s", r.code, r.stderr)
	}
	if r := runCmd(t, vars, "tenant", "create", "globex", "--name", "Globex", "--admin-email", "g@globex.example"); r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	startServe(t, data).stop(t) // signs with the new key

	after := runCmd(t, vars, "audit", "public-key")
	all := runCmd(t, vars, "audit", "public-key", "--all")
	keys := strings.Fields(all.stdout)
	if after.code != exitOK || all.code != exitOK || len(keys) != 2 || keys[0] != strings.TrimSpace(after.stdout) ||
		keys[1] != strings.TrimSpace(before.stdout) || keys[0] == keys[1] {
		t.Fatalf("public keys: before %q, after %q, all %q", before.stdout, after.stdout, all.stdout)
	}
	b, _ := os.ReadFile(filepath.Join(data, "audit-signing.key"))
	if !strings.HasPrefix(string(b), sealedPrefix) || strings.Count(string(b), sealedPrefix) != 1 {
		t.Error("the signing key file does not hold exactly one sealed private key")
	}

	if r := runCmd(t, vars, "audit", "verify"); r.code != exitOK {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := write("all.pub", all.stdout)
	newKey := write("new.pub", after.stdout)
	oldKey := write("old.pub", before.stdout)
	replica := "file://" + filepath.Join(data, "audit-replica") + "?metadata=skip"
	if r := runCmd(t, nil, "audit", "verify", "--replica", replica, "--public-key", list); r.code != exitOK {
		t.Fatalf("replica with the key list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, nil, "audit", "verify", "--replica", replica, "--public-key", newKey, "--public-key", oldKey); r.code != exitOK {
		t.Fatalf("replica with two --public-key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, nil, "audit", "verify", "--replica", replica, "--public-key", newKey); r.code != exitError {
		t.Fatalf("replica without the retired key: exit %d\n%s", r.code, r.stdout)
	}
	// A replica location holding nothing (a wrong URL, an emptied bucket)
	// is not a verified log.
	empty := "file://" + t.TempDir() + "?metadata=skip"
	if r := runCmd(t, nil, "audit", "verify", "--replica", empty, "--public-key", list); r.code != exitError {
		t.Fatalf("an empty replica: exit %d\n%s", r.code, r.stdout)
	}
	// A second rotation keeps both older keys.
	if r := runCmd(t, vars, "audit", "rotate-key"); r.code != exitOK {
		t.Fatalf("second rotate-key: %s", r.stderr)
	}
	if r := runCmd(t, vars, "audit", "public-key", "--all"); len(strings.Fields(r.stdout)) != 3 {
		t.Fatalf("after two rotations: %q", r.stdout)
	}
	if r := runCmd(t, vars, "audit", "verify"); r.code != exitOK {
		t.Fatalf("audit verify after the second rotation: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
