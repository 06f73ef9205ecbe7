package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// TestAuditVerifyExportCommand: `audit verify-export FILE --public-key
// FILE` accepts a tenant's export signed by the key, and with --tenant ID
// refuses an export of another tenant (DATA-7); an export signed by
// another key, or an edited one, fails; without --public-key it is a
// usage error.
func TestAuditVerifyExportCommand(t *testing.T) {
	dir := t.TempDir()
	signer, _, vkey, err := audit.GenerateSigner("bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	other, _, _, err := audit.GenerateSigner("bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	var hs audit.MemoryHashes
	var leaves [][]byte
	for i := int64(0); i < n; i++ {
		e := &audit.Entry{Seq: i, Time: time.Date(2026, 11, 1, 12, 0, int(i), 0, time.UTC), Tenant: "tenant-a",
			ActorKind: "user", ActorID: "u1", ActorHow: "session", Action: "record.update", TargetKind: "record",
			TargetID: "notes/r1", Fields: []string{"title"}, Outcome: "success", RequestID: "req"}
		leaves = append(leaves, e.Leaf())
		hs.AppendLeafHash(tlog.RecordHash(e.Leaf()))
	}
	root, err := tlog.TreeHash(n, &hs)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, s *audit.Signer, edit func([]byte) []byte) string {
		t.Helper()
		cp, err := s.Sign(n, root)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w := audit.NewExportWriter(&b, "tenant-a", cp)
		for i, l := range leaves {
			p, err := tlog.ProveRecord(n, int64(i), &hs)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(int64(i), edit(l), p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	same := func(l []byte) []byte { return l }
	good := write("good.jsonl", signer, same)
	forged := write("forged.jsonl", other, same)
	edited := write("edited.jsonl", signer, func(l []byte) []byte {
		return bytes.Replace(l, []byte("record.update"), []byte("record.delete"), 1)
	})
	key := filepath.Join(dir, "audit.pub")
	if err := os.WriteFile(key, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"the tenant's export", []string{good, "--public-key", key}, exitOK},
		{"checked against its tenant", []string{good, "--public-key", key, "--tenant", "tenant-a"}, exitOK},
		{"checked against another tenant", []string{good, "--public-key", key, "--tenant", "tenant-b"}, exitError},
		{"signed by another key", []string{forged, "--public-key", key}, exitError},
		{"an edited entry", []string{edited, "--public-key", key}, exitError},
		{"no public key", []string{good}, exitUsage},
	} {
		if r := runCmd(t, nil, append([]string{"audit", "verify-export"}, c.args...)...); r.code != c.want {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.name, r.code, c.want, r.stdout, r.stderr)
		}
	}
}
