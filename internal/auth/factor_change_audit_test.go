package auth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/passkeytest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestFactorChangeAuditedInItsTransaction: a change of a second factor
// (TOTP confirmed or removed, a passkey added or removed) commits with
// its one audit entry or not at all (DATA-5): with the audit write
// refused the call fails and the factors are as before; then it succeeds
// with exactly one entry of its action.
func TestFactorChangeAuditedInItsTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		var refuse atomic.Bool
		clock := storetest.NewClock()
		db := storetest.Open(t, backend, store.Options{Now: clock.Now, Audit: store.AuditOptions{Gate: func() error {
			if refuse.Load() {
				return errors.New("audit write refused")
			}
			return nil
		}}})
		o := newOutbox()
		f := &storetest.Fixture{DB: db, Clock: clock}
		f.Auth = auth.New(db.DB, auth.Options{Params: storetest.FastHashing, Now: clock.Now, Mailer: o})
		e := &env{Fixture: f, mail: o}
		own, _ := e.Tenant(t, "acme")
		// refused runs fn with every audit write refused; it must fail.
		refused := func(what string, fn func() error) {
			t.Helper()
			refuse.Store(true)
			err := fn()
			refuse.Store(false)
			if err == nil {
				t.Fatalf("%s succeeded although its audit entry could not be written", what)
			}
		}
		factors := func(ctx context.Context) *store.MFAStatus {
			t.Helper()
			st, err := e.Factors(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		entries := func(ctx context.Context, action string) int {
			t.Helper()
			es, _, err := e.SearchAudit(ctx, bulwark.AuditFilter{Action: action, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			return len(es)
		}

		// Confirming TOTP.
		en, err := e.Auth.BeginTOTP(own)
		if err != nil {
			t.Fatal(err)
		}
		code := e.code(t, en.Secret)
		refused("ConfirmTOTP", func() error { _, _, err := e.Auth.ConfirmTOTP(own, code); return err })
		if st := factors(own); st.TOTP || st.RecoveryCodes != 0 {
			t.Fatalf("after a refused confirmation: %+v", st)
		}
		s, _, err := e.Auth.ConfirmTOTP(own, code)
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(t, s)
		if n, m := entries(ctx, "mfa.totp_enrol"), entries(ctx, "mfa.recovery_codes"); n != 1 || m != 1 {
			t.Fatalf("mfa.totp_enrol entries %d, mfa.recovery_codes %d; want 1 each", n, m)
		}

		// Adding a passkey.
		k := passkeytest.New()
		opts, err := e.Auth.BeginPasskeyRegistration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		refused("FinishPasskeyRegistration", func() error {
			_, err := e.Auth.FinishPasskeyRegistration(ctx, "laptop", k.Create(t, opts))
			return err
		})
		if st := factors(ctx); st.Passkeys != 0 {
			t.Fatalf("after a refused registration: %+v", st)
		}
		if opts, err = e.Auth.BeginPasskeyRegistration(ctx); err != nil {
			t.Fatal(err)
		}
		if s, err = e.Auth.FinishPasskeyRegistration(ctx, "laptop", k.Create(t, opts)); err != nil {
			t.Fatal(err)
		}
		ctx = e.ctx(t, s)
		if n := entries(ctx, "mfa.passkey_add"); n != 1 {
			t.Fatalf("mfa.passkey_add entries %d, want 1", n)
		}

		// Removing it.
		keys, err := e.Auth.Passkeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("passkeys %+v, %v", keys, err)
		}
		refused("RemovePasskey", func() error { _, err := e.Auth.RemovePasskey(ctx, keys[0].ID); return err })
		if st := factors(ctx); st.Passkeys != 1 {
			t.Fatalf("after a refused removal: %+v", st)
		}
		if s, err = e.Auth.RemovePasskey(ctx, keys[0].ID); err != nil {
			t.Fatal(err)
		}
		ctx = e.ctx(t, s)
		if n := entries(ctx, "mfa.passkey_remove"); n != 1 {
			t.Fatalf("mfa.passkey_remove entries %d, want 1", n)
		}

		// Removing the authenticator app.
		refused("RemoveTOTP", func() error { _, err := e.Auth.RemoveTOTP(ctx); return err })
		if st := factors(ctx); !st.TOTP || st.RecoveryCodes != auth.RecoveryCodes {
			t.Fatalf("after a refused removal: %+v", st)
		}
		if s, err = e.Auth.RemoveTOTP(ctx); err != nil {
			t.Fatal(err)
		}
		ctx = e.ctx(t, s)
		if n := entries(ctx, "mfa.totp_remove"); n != 1 {
			t.Fatalf("mfa.totp_remove entries %d, want 1", n)
		}
		if st := factors(ctx); st.TOTP || st.Passkeys != 0 {
			t.Fatalf("after the removals: %+v", st)
		}
	})
}
