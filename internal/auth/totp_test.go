package auth

import (
	"encoding/base32"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestTOTPVectors checks the generator against RFC 6238 Appendix B (SHA-1,
// 8 digits, the ASCII seed "12345678901234567890"), and that our 6-digit
// codes are those values' last six digits.
func TestTOTPVectors(t *testing.T) {
	seed := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(v.unix, 0).UTC()
		got, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
		if err != nil || got != v.code {
			t.Errorf("T=%d: %s, %v; want %s", v.unix, got, err, v.code)
		}
		if step := matchTOTP(seed, v.code[2:], at); step != v.unix/30 {
			t.Errorf("T=%d: the 6-digit code %s matched step %d, want %d", v.unix, v.code[2:], step, v.unix/30)
		}
	}
}

// TestTOTPSkew: only the current and the previous 30-second step are
// accepted (ASVS V6.5.5); the next step and two steps back are not.
func TestTOTPSkew(t *testing.T) {
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Date(2026, 11, 1, 12, 0, 15, 0, time.UTC)
	code := func(d time.Duration) string {
		c, _ := totp.GenerateCodeCustom(secret, now.Add(d), totpOpts)
		return c
	}
	step := now.Unix() / 30
	for _, tc := range []struct {
		name string
		d    time.Duration
		want int64
	}{
		{"current", 0, step},
		{"previous", -30 * time.Second, step - 1},
		{"two back", -60 * time.Second, 0},
		{"next", 30 * time.Second, 0},
	} {
		if got := matchTOTP(secret, code(tc.d), now); got != tc.want {
			t.Errorf("%s: step %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if matchTOTP(secret, bad, now) != 0 {
			t.Errorf("%q matched", bad)
		}
	}
}

// TestTOTPOathtool checks codes made by an independent implementation,
// Debian's oathtool (installed by .ci/run), at several instants.
func TestTOTPOathtool(t *testing.T) {
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("BULWARK_REQUIRE_OATHTOOL") == "1" {
			t.Fatal("oathtool is required (BULWARK_REQUIRE_OATHTOOL=1) but not installed")
		}
		t.Skip("oathtool not installed (apt-get install oathtool)")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Bulwark", AccountName: "t", SecretSize: totpSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{
		time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 12, 0, 29, 0, time.UTC),
		time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC),
		time.Unix(1111111109, 0).UTC(),
	} {
		out, err := exec.Command(path, "--totp", "-b", "-d", "6", "-s", "30s", "-N", at.Format("2006-01-02 15:04:05 UTC"), key.Secret()).Output()
		if err != nil {
			t.Fatal(err)
		}
		code := strings.TrimSpace(string(out))
		if step := matchTOTP(key.Secret(), code, at); step != at.Unix()/30 {
			t.Errorf("at %s oathtool says %s; matched step %d, want %d", at, code, step, at.Unix()/30)
		}
	}
}
