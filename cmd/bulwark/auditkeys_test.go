package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditKeysSealed: the audit log's signing and sealing keys are kept
// sealed under the KEK in the data directory, mode 0600; the public key is
// readable without it, and a clear key file from an earlier version is
// sealed at the next start.
func TestAuditKeysSealed(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServe(t, data)
	s.stop(t)
	for _, name := range []string{"audit-signing.key", "audit-seal.key"} {
		p := filepath.Join(data, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), sealedPrefix) {
			t.Errorf("%s is not sealed: starts %.12q", name, b)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o", name, fi.Mode().Perm())
		}
	}
	var out strings.Builder
	if code := run(t.Context(), []string{"audit", "public-key", "--data", data}, func(string) string { return "" }, strings.NewReader(""), &out, io.Discard); code != exitOK || !strings.Contains(out.String(), "+") {
		t.Fatalf("audit public-key: exit %d, %q", code, out.String())
	}
	// An earlier version's clear key is sealed in place, and still verifies
	// the same log (same public key).
	lines, _ := readKeyFile(filepath.Join(data, "audit-signing.key"))
	if err := os.WriteFile(filepath.Join(data, "audit-seal.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startServe(t, data)
	s.stop(t)
	b, _ := os.ReadFile(filepath.Join(data, "audit-seal.key"))
	if !strings.HasPrefix(string(b), sealedPrefix) {
		t.Error("a clear audit-seal.key was not sealed at start")
	}
	after, _ := readKeyFile(filepath.Join(data, "audit-signing.key"))
	if after[1] != lines[1] {
		t.Error("the public key changed across restarts")
	}
}
