package password

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

// TestPolicy covers every rule and boundary of the password policy
// (AUTH-2; security-tests.md (e) test 10).
func TestPolicy(t *testing.T) {
	def := bulwark.DefaultPasswordPolicy
	mfa := def
	mfa.MinLength = 8
	classes := def
	classes.RequireUpper, classes.RequireDigit, classes.RequireSymbol = true, true, true
	extra := def
	extra.BlockedWords = []string{"rocketship"}
	c := Context{TenantName: "Acme Corporation", TenantSlug: "acme", Email: "ada.lovelace@acme-mail.example"}
	long := func(n int) string { return strings.Repeat("q7Zm ", n/5+1)[:n] }
	cases := []struct {
		name string
		p    bulwark.PasswordPolicy
		pw   string
		ok   bool
	}{
		{"14 characters, password alone", def, "tulip marble x", false},
		{"15 characters, password alone", def, "tulip marble xy", true},
		{"lowercase passphrase accepted (no composition rules)", def, "correct horse battery staple", true},
		{"64 characters", def, long(64), true},
		{"1000 characters", def, long(1000), true},
		{"1024 bytes", def, long(1024), true},
		{"1025 bytes rejected before hashing", def, long(1025), false},
		{"8 characters when MFA is enforced", mfa, "tulip#mx", true},
		{"7 characters when MFA is enforced", mfa, "tulipmx", false},
		{"Unicode counted by code point", def, "日本語のパスフレーズは長くて安全だよね", true},
		{"Unicode too short", def, "日本語のパスワード", false},
		{"NFKC: fullwidth letters count once each", def, "ｔｕｌｉｐ ｍａｒｂｌｅ ｘｙ", true},
		{"invalid UTF-8", def, "tulip marble xy\xff\xfe", false},
		{"blocklisted exactly", def, "qwertyuiopasdfghjklzxcvbnm", false},
		{"blocklisted word with digits", def, "Password12345678!", false},
		{"blocklisted word with leet", def, "P@ssw0rdP@ssw0rd", false},
		{"blocklisted word repeated", def, "monkeymonkeymonkey", false},
		{"keyboard walk", def, "qwertyuiopasdfghjkl", false},
		{"alphabet sequence", def, "abcdefghijklmnop", false},
		{"digit sequence", def, "1234567890123456", false},
		{"too few distinct characters", def, "aaaaaaaaaaaaaaaabbbb", false},
		{"tenant name plus year", def, "AcmeCorporation2026!", false},
		{"tenant slug decorated", def, "acme!acme!acme!2026", false},
		{"email local part", def, "ada.lovelace-1815!!", false},
		{"email domain label", def, "acme-mail 12345678", false},
		{"tenant-added word", extra, "Rocketship-2026-!!", false},
		{"context word inside a real passphrase is fine", def, "acme makes purple anvils daily", true},
		{"class rules off by default", def, "tulip marble xylophone", true},
		{"class rules opted in, missing", classes, "tulip marble xylophone", false},
		{"class rules opted in, met", classes, "Tulip marble xylophone 7!", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.p, c, tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
			}
			if err != nil {
				if bulwark.ErrorCode(err) != bulwark.EInvalid || bulwark.ErrorFields(err)["password"] == "" {
					t.Fatalf("rejection without a reason: %#v", err)
				}
			}
		})
	}
}

// TestPolicyNoTruncation: the 100th character matters (no bcrypt-style
// 72-byte cut): two passwords that differ only there hash differently.
func TestPolicyNoTruncation(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 1, Threads: 1}, 1)
	a := strings.Repeat("x7", 49) + "ab"
	b := strings.Repeat("x7", 49) + "Xb"
	stored, err := h.Hash(t.Context(), Normalize(a))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(t.Context(), stored, Normalize(b)); ok {
		t.Fatal("a password differing at character 99 verified")
	}
	if ok, _, _ := h.Verify(t.Context(), stored, Normalize(a)); !ok {
		t.Fatal("the right password did not verify")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		min  int
		mode bulwark.MFAMode
		ok   bool
	}{
		{14, bulwark.MFAOptional, false},
		{15, bulwark.MFAOptional, true},
		{8, bulwark.MFAAdmins, false},
		{8, bulwark.MFAEveryone, true},
		{7, bulwark.MFAEveryone, false},
		{64, bulwark.MFAOptional, true},
		{65, bulwark.MFAOptional, false},
	} {
		p := bulwark.DefaultPasswordPolicy
		p.MinLength = tc.min
		if err := p.Validate(tc.mode); (err == nil) != tc.ok {
			t.Errorf("min %d under %s: %v, want ok=%v", tc.min, tc.mode, err, tc.ok)
		}
	}
	p := bulwark.DefaultPasswordPolicy
	if len(p.Warnings()) != 0 {
		t.Fatal("the default policy has warnings")
	}
	p.RequireDigit, p.MaxAgeDays = true, 90
	if len(p.Warnings()) != 2 {
		t.Fatalf("opt-ins gave %d warnings, want 2", len(p.Warnings()))
	}
}

func BenchmarkCheck(b *testing.B) {
	c := Context{TenantName: "Acme Corporation", TenantSlug: "acme", Email: "ada@acme.example"}
	for b.Loop() {
		Check(bulwark.DefaultPasswordPolicy, c, "correct horse battery staple")
	}
}

// BenchmarkHashDefault is one Argon2id hash with the production
// parameters (m=19 MiB, t=2, p=1): the cost of a login.
func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(Default, 1)
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "violet harbour lantern drift"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCheck: the policy evaluator never panics, never accepts what is
// over the byte cap or under the length floor, and is deterministic.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"correct horse battery staple", "P@ssw0rd2026!!!!", "日本語のパスフレーズは長くて安全だよね", "\xff\xfe", "acme acme acme acme", ""} {
		f.Add(s, "Acme Corp", "ada@acme.example")
	}
	f.Fuzz(func(t *testing.T, pw, tenant, email string) {
		p := bulwark.DefaultPasswordPolicy
		c := Context{TenantName: tenant, TenantSlug: tenant, Email: email}
		err := Check(p, c, pw)
		if err == nil && (len(pw) > bulwark.MaxPasswordBytes || utf8.RuneCountInString(Normalize(pw)) < p.MinLength) {
			t.Fatalf("accepted %q", pw)
		}
		if (Check(p, c, pw) == nil) != (err == nil) {
			t.Fatal("not deterministic")
		}
	})
}
