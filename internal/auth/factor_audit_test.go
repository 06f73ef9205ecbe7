package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/passkeytest"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// failures counts the failure entries of action naming userID as target.
func failures(t *testing.T, e *env, ctx context.Context, action, userID string) int {
	t.Helper()
	es, _, err := e.SearchAudit(ctx, bulwark.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range es {
		if x.Outcome == bulwark.OutcomeFailure && x.Target.Kind == "user" && x.Target.ID == userID {
			n++
		}
	}
	return n
}

// TestFailedSecondFactorAudited: every failed second-factor verification
// (a wrong TOTP code, a wrong recovery code, a passkey from the wrong
// origin, a wrong code at step-up) writes one failure entry naming the
// user, as a failed password does (ASVS V16.3.1, DATA-5).
func TestFailedSecondFactorAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		userID := bulwark.FromContext(own).ID
		_, s, _ := e.enrol(t, own)
		admin := e.ctx(t, s)
		e.Clock.Advance(30 * time.Second)
		lctx := e.ctx(t, e.mustLogin(t, "acme", owner("acme"), storetest.Password))

		_, err := e.Auth.VerifyTOTP(lctx, "000000")
		wantCode(t, err, bulwark.EUnauthenticated)
		if n := failures(t, e, admin, "auth.mfa", userID); n != 1 {
			t.Fatalf("after a wrong TOTP code: %d auth.mfa failure entries, want 1", n)
		}
		_, err = e.Auth.UseRecoveryCode(lctx, "AAAA-BBBB-CCCC-DDDD")
		wantCode(t, err, bulwark.EUnauthenticated)
		if n := failures(t, e, admin, "auth.mfa", userID); n != 2 {
			t.Fatalf("after a wrong recovery code: %d auth.mfa failure entries, want 2", n)
		}
		_, err = e.Auth.Reauthenticate(admin, "", "000000")
		wantCode(t, err, bulwark.EUnauthenticated)
		if n := failures(t, e, admin, "auth.reauth", userID); n != 1 {
			t.Fatalf("after a wrong code at step-up: %d auth.reauth failure entries, want 1", n)
		}

		// A passkey from a phishing origin.
		k := passkeytest.New()
		opts, err := e.Auth.BeginPasskeyRegistration(admin)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := e.Auth.FinishPasskeyRegistration(admin, "laptop", k.Create(t, opts))
		if err != nil {
			t.Fatal(err)
		}
		admin = e.ctx(t, s2)
		e.Clock.Advance(15 * time.Minute) // let the throttle lapse
		lctx = e.ctx(t, e.mustLogin(t, "acme", owner("acme"), storetest.Password))
		opts, err = e.Auth.BeginPasskeyLogin(lctx)
		if err != nil {
			t.Fatal(err)
		}
		k.Origin = "https://evil.example"
		_, err = e.Auth.FinishPasskeyLogin(lctx, k.Get(t, opts, userID))
		wantCode(t, err, bulwark.EUnauthenticated)
		if n := failures(t, e, admin, "auth.mfa", userID); n != 3 {
			t.Fatalf("after a passkey from the wrong origin: %d auth.mfa failure entries, want 3", n)
		}
	})
}
