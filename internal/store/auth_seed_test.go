package store_test

import (
	"context"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// seedAuth gives the owner in ctx a row in every authentication table:
// settings, password history (from activation), TOTP, recovery codes and
// a passkey.
func seedAuth(t *testing.T, f *storetest.Fixture, owner context.Context) {
	t.Helper()
	p := bulwark.DefaultPasswordPolicy
	p.BlockedWords = []string{"anvil"}
	if _, err := f.SetPasswordPolicy(owner, p); err != nil {
		t.Fatal(err)
	}
	en, err := f.Auth.BeginTOTP(owner)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(en.Secret, f.Clock.Now())
	s, _, err := f.Auth.ConfirmTOTP(owner, code)
	if err != nil {
		t.Fatal(err)
	}
	// ConfirmTOTP replaced the session; AddPasskey replaces it again.
	if _, err := f.AddPasskey(f.As(t, s.Token), store.Passkey{ID: "cred-" + bulwark.FromContext(owner).TenantSlug, Name: "test", Credential: "{}"}); err != nil {
		t.Fatal(err)
	}
}
