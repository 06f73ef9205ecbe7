package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/keys"
)

// kekFileVersions counts the versions of the data directory's KEK file by
// status.
func kekFileVersions(t *testing.T, data string) map[string]int {
	t.Helper()
	k, err := keys.OpenFile(filepath.Join(data, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := k.Versions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, v := range vs {
		out[v.Status]++
	}
	return out
}

// firstServe starts and stops `bulwark serve` once, which makes the data
// directory's KEK file and audit keys.
func firstServe(t *testing.T, data string) {
	t.Helper()
	s := startServe(t, data)
	s.cancel()
	code := <-s.done
	s.done <- code // for startServe's cleanup
}

// TestKEKRetireResealsAuditKeys: `bulwark keys rotate-kek --retire` seals
// the data directory's audit keys (audit-signing.key, audit-seal.key)
// again under the new KEK version before it disables the old one, so the
// next `bulwark serve` starts. Found by review: they stayed sealed under
// the retired version, and serve refused to start.
func TestKEKRetireResealsAuditKeys(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	quiet := map[string]string{"BULWARK_LOG_LEVEL": "error"}
	firstServe(t, data)
	files := []string{"audit-signing.key", "audit-seal.key"}
	before := map[string][]string{}
	for _, f := range files {
		lines, err := readKeyFile(filepath.Join(data, f))
		if err != nil || len(lines) == 0 {
			t.Fatalf("%s: %v %q", f, err, lines)
		}
		before[f] = lines
	}

	r := runCmd(t, quiet, "keys", "rotate-kek", "--data", data, "--retire")
	if r.code != exitOK {
		t.Fatalf("rotate-kek --retire: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if v := kekFileVersions(t, data); v[keys.StatusPrimary] != 1 || v[keys.StatusDisabled] != 1 || v[keys.StatusEnabled] != 0 {
		t.Fatalf("KEK versions after rotate-kek --retire: %v", v)
	}
	for _, f := range files {
		lines, err := readKeyFile(filepath.Join(data, f))
		if err != nil {
			t.Fatal(err)
		}
		if lines[0] == before[f][0] {
			t.Errorf("%s was not sealed again", f)
		}
		if len(lines) != len(before[f]) || (len(lines) > 1 && lines[1] != before[f][1]) {
			t.Errorf("%s: its other lines changed", f)
		}
	}
	// The next start opens them (startServe fails the test otherwise).
	firstServe(t, data)
}

// TestKEKRetireRefusedForUnopenedAuditKey: an audit key file still sealed
// under the version being retired that cannot be sealed again (it does
// not open) makes `keys rotate-kek --retire` fail, disabling nothing.
func TestKEKRetireRefusedForUnopenedAuditKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	quiet := map[string]string{"BULWARK_LOG_LEVEL": "error"}
	firstServe(t, data)
	// Sealed by the current version, under another label: it names the
	// version, but does not open as the audit seal key.
	k, err := keys.OpenFile(filepath.Join(data, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewRing(k, keys.RingOptions{Env: DefaultEnv})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ring.SealSecret(context.Background(), "something/else", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "audit-seal.key")
	if err := os.WriteFile(path, []byte(sealedPrefix+base64.StdEncoding.EncodeToString(ct)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCmd(t, quiet, "keys", "rotate-kek", "--data", data, "--retire")
	if r.code != exitError {
		t.Fatalf("rotate-kek --retire with an audit key that does not open: exit %d, want %d\n%s%s", r.code, exitError, r.stdout, r.stderr)
	}
	if v := kekFileVersions(t, data); v[keys.StatusDisabled] != 0 || v[keys.StatusEnabled] != 1 {
		t.Fatalf("KEK versions after a refused retirement: %v", v)
	}
}
