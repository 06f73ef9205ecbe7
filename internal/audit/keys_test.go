package audit

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestVerifierSeveralKeys: after a key rotation a verifier trusts the
// current and the retired keys of one log: checkpoints signed by either
// open, one signed by any other key does not; keys of another log, or no
// key at all, are refused; a key file may hold several keys.
func TestVerifierSeveralKeys(t *testing.T) {
	const origin = "bulwark.test/audit"
	a, _, _, err := GenerateSigner(origin)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, _ := GenerateSigner(origin)
	stranger, _, _, _ := GenerateSigner(origin)
	otherLog, _, _, _ := GenerateSigner("elsewhere.test/audit")
	root := tlog.RecordHash([]byte("x"))
	sign := func(s *Signer, size int64) []byte {
		cp, err := s.Sign(size, root)
		if err != nil {
			t.Fatal(err)
		}
		return cp.Note
	}
	both, err := NewVerifier(b.PublicKey(), a.PublicKey(), a.PublicKey())
	if err != nil || both.Keys() != 2 || both.Origin() != origin {
		t.Fatalf("NewVerifier: %v, %v", both, err)
	}
	for _, n := range [][]byte{sign(a, 3), sign(b, 7)} {
		if _, err := both.Open(n); err != nil {
			t.Fatalf("a checkpoint of a trusted key: %v", err)
		}
	}
	if _, err := both.Open(sign(stranger, 9)); err == nil {
		t.Fatal("a checkpoint of an unknown key of the same log verified")
	}
	onlyB, _ := NewVerifier(b.PublicKey())
	if _, err := onlyB.Open(sign(a, 3)); err == nil {
		t.Fatal("a retired key's checkpoint verified without that key")
	}
	if _, err := NewVerifier(a.PublicKey(), otherLog.PublicKey()); err == nil {
		t.Fatal("keys of two logs accepted together")
	}
	if _, err := NewVerifier(); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := NewVerifier("not a key"); err == nil {
		t.Fatal("garbage accepted as a key")
	}

	dir := t.TempDir()
	list := filepath.Join(dir, "keys.pub")
	os.WriteFile(list, []byte("# bulwark audit public-key --all\n"+b.PublicKey()+"\n\n"+a.PublicKey()+"\n"), 0o600)
	v, err := ReadVerifier(list)
	if err != nil || v.Keys() != 2 {
		t.Fatalf("ReadVerifier of a list: %v, %v", v, err)
	}
	one := filepath.Join(dir, "a.pub")
	os.WriteFile(one, []byte(a.PublicKey()+"\n"), 0o600)
	two := filepath.Join(dir, "b.pub")
	os.WriteFile(two, []byte(b.PublicKey()), 0o600)
	if v, err := ReadVerifier(one, two); err != nil || v.Keys() != 2 {
		t.Fatalf("ReadVerifier of two files: %v, %v", v, err)
	}
	empty := filepath.Join(dir, "empty.pub")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	if _, err := ReadVerifier(one, empty); err == nil {
		t.Fatal("a key file without a key accepted")
	}
	if _, err := ReadVerifier(filepath.Join(dir, "missing.pub")); err == nil {
		t.Fatal("a missing key file accepted")
	}
}
