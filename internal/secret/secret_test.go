package secret

import "testing"

func TestNewParse(t *testing.T) {
	plain, hash := New(Session, "tenant-1")
	kind, scope, ok := Parse(plain)
	if !ok || kind != Session || scope != "tenant-1" {
		t.Fatalf("Parse(%q) = %q, %q, %v", plain, kind, scope, ok)
	}
	if Hash(plain) != hash || len(hash) != 64 {
		t.Fatalf("hash mismatch")
	}
	other, _ := New(Session, "tenant-1")
	if other == plain {
		t.Fatal("two secrets are equal")
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "bws", "bws_x", "bws__aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "xxx_t_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bws_t_short"} {
		if _, _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}
