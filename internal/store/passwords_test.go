package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestPasswordChangeVoidsResetLink is AUTH-7: a reset link sent before the
// password was changed no longer works after the change, nor does one
// sent before another reset.
func TestPasswordChangeVoidsResetLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		f.Tenant(t, "acme")
		const email = "owner@acme.example"
		changed := "a much longer passphrase about ferns, kites and tides"
		r, err := f.CreatePasswordReset(ctx, "acme", email, 30*time.Minute)
		if err != nil || r == nil {
			t.Fatal(r, err)
		}
		s, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: email, Password: storetest.Password})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Auth.ChangePassword(f.As(t, s.Token), storetest.Password, changed); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(5 * time.Minute)
		_, err = f.ResetTarget(ctx, r.Token)
		wantCode(t, err, bulwark.EGone)
		wantCode(t, f.Auth.ResetPassword(ctx, r.Token, "attacker chosen passphrase of lupins and moths"), bulwark.EGone)
		if _, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: email, Password: changed}); err != nil {
			t.Fatalf("the changed password: %v", err)
		}

		// A link is good once: a reset voids it and nothing else is left.
		r, err = f.CreatePasswordReset(ctx, "acme", email, 30*time.Minute)
		if err != nil || r == nil {
			t.Fatal(r, err)
		}
		reset := "another passphrase of herons, slate and rain"
		if err := f.Auth.ResetPassword(ctx, r.Token, reset); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.Auth.ResetPassword(ctx, r.Token, "attacker chosen passphrase of lupins and moths"), bulwark.EGone)
		if _, err := f.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: email, Password: reset}); err != nil {
			t.Fatalf("the reset password: %v", err)
		}
	})
}
