package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
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

// TestResetEndsSecondFactorLockout is AUTH-7: a password reset ends a
// lockout of the second factor as it ends one of the password (the 429
// says so).
func TestResetEndsSecondFactorLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		p := bulwark.FromContext(owner)
		key := store.FailureKey("totp", p.TenantID, p.ID)
		for i := 0; i < store.LockoutFailures; i++ {
			if err := f.Attempt(ctx, key); err != nil {
				t.Fatalf("attempt %d: %v", i, err)
			}
			f.Clock.Advance(store.MaxThrottleDelay)
		}
		wantCode(t, f.Attempt(ctx, key), bulwark.ERateLimited)
		r, err := f.CreatePasswordReset(ctx, "acme", "owner@acme.example", 30*time.Minute)
		if err != nil || r == nil {
			t.Fatal(r, err)
		}
		if err := f.Auth.ResetPassword(ctx, r.Token, "a much longer passphrase about ferns, kites and tides"); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Failures(ctx, key); err != nil || n != 0 {
			t.Fatalf("second-factor counter after a reset: %d, %v", n, err)
		}
		if err := f.Attempt(ctx, key); err != nil {
			t.Fatalf("second factor after a reset: %v", err)
		}
	})
}
