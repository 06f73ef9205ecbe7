package auth_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// enrol gives the session in ctx an authenticator app and returns its
// secret, the new session and the recovery codes.
func (e *env) enrol(t *testing.T, ctx context.Context) (string, *bulwark.Session, []string) {
	t.Helper()
	en, err := e.Auth.BeginTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/") || len(en.Secret) < 32 {
		t.Fatalf("enrolment %+v", en)
	}
	s, codes, err := e.Auth.ConfirmTOTP(ctx, e.code(t, en.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return en.Secret, s, codes
}

// TestTOTP: enrolment, a login that owes a second factor and reaches
// nothing until it is given, single use of each step, no older step after
// a newer one, recovery codes used once, throttling of wrong codes, and a
// factor change that ends other sessions (AUTH-3, AUTH-7; security tests
// 11, 16, 17).
func TestTOTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, ownTok := e.Tenant(t, "acme")
		other := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		secret, s, codes := e.enrol(t, own)
		e.mail.next(t, "authenticator app was added")
		if len(codes) != 10 || s.Next != "" {
			t.Fatalf("codes %d, stage %q", len(codes), s.Next)
		}
		// The factor change ended the other sessions, the enrolling one too
		// (replaced by s).
		wantCode(t, authErr(e, other.Token), bulwark.EUnauthenticated)
		wantCode(t, authErr(e, ownTok), bulwark.EUnauthenticated)
		if _, err := e.Auth.Authenticate(context.Background(), s.Token); err != nil {
			t.Fatal(err)
		}
		// A password now opens only a StageMFA session.
		e.Clock.Advance(30 * time.Second)
		l := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if l.Next != bulwark.StageMFA {
			t.Fatalf("stage %q", l.Next)
		}
		lctx := e.ctx(t, l)
		if _, _, err := e.ListUsers(lctx, bulwark.ListOptions{}); bulwark.ErrorCode(err) != bulwark.EForbidden {
			t.Fatalf("a password-only session listed users: %v", err)
		}
		_, err := e.Auth.VerifyTOTP(lctx, "000000")
		wantCode(t, err, bulwark.EUnauthenticated)
		// The previous step's code is still good (30 s of skew) ...
		prev := e.code(t, secret)
		e.Clock.Advance(30 * time.Second)
		full, err := e.Auth.VerifyTOTP(lctx, prev)
		if err != nil {
			t.Fatal(err)
		}
		if full.Next != "" || full.Token == l.Token {
			t.Fatalf("after MFA: %+v", full)
		}
		wantCode(t, authErr(e, l.Token), bulwark.EUnauthenticated) // rotated
		if _, _, err := e.ListUsers(e.ctx(t, full), bulwark.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		// ... but the same code never twice, and once the current step
		// is used, the previous one is refused.
		l2 := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		_, err = e.Auth.VerifyTOTP(e.ctx(t, l2), prev)
		wantCode(t, err, bulwark.EUnauthenticated)
		cur := e.code(t, secret)
		if _, err := e.Auth.VerifyTOTP(e.ctx(t, l2), cur); err != nil {
			t.Fatal(err)
		}
		l3 := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		_, err = e.Auth.VerifyTOTP(e.ctx(t, l3), cur)
		wantCode(t, err, bulwark.EUnauthenticated)
		// Two steps old: refused.
		old := e.code(t, secret)
		e.Clock.Advance(60 * time.Second)
		_, err = e.Auth.VerifyTOTP(e.ctx(t, l3), old)
		wantCode(t, err, bulwark.EUnauthenticated)
		// Recovery codes: each works once.
		r1, err := e.Auth.UseRecoveryCode(e.ctx(t, l3), strings.ToLower(codes[0]))
		if err != nil || r1.Next != "" {
			t.Fatalf("recovery: %+v, %v", r1, err)
		}
		e.mail.next(t, "recovery code was used")
		l4 := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		_, err = e.Auth.UseRecoveryCode(e.ctx(t, l4), codes[0])
		wantCode(t, err, bulwark.EUnauthenticated)
		// Throttling: wrong codes are counted; after a few, even a right
		// one waits (the 11th in a minute is certainly refused).
		var limited bool
		for range 10 {
			_, err := e.Auth.VerifyTOTP(e.ctx(t, l4), "123456")
			limited = limited || bulwark.ErrorCode(err) == bulwark.ERateLimited
		}
		_, err = e.Auth.VerifyTOTP(e.ctx(t, l4), e.code(t, secret))
		if !limited || bulwark.ErrorCode(err) != bulwark.ERateLimited {
			t.Fatalf("TOTP not throttled: limited=%v, then %v", limited, err)
		}
		// Removing the factor needs a recent login (step-up).
		e.Clock.Advance(bulwark.ReauthWindow + time.Minute)
		_, err = e.Auth.RemoveTOTP(e.ctx(t, r1))
		wantCode(t, err, bulwark.EReauthRequired)
		e.Clock.Advance(15 * time.Minute) // let the throttle lapse
		re, err := e.Auth.Reauthenticate(e.ctx(t, r1), "", e.code(t, secret))
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, authErr(e, r1.Token), bulwark.EUnauthenticated) // rotated
		if _, err := e.Auth.RemoveTOTP(e.ctx(t, re)); err != nil {
			t.Fatal(err)
		}
		if l := e.mustLogin(t, "acme", owner("acme"), storetest.Password); l.Next != "" {
			t.Fatalf("after removal the login owes %q", l.Next)
		}
	})
}

// TestResetKeepsMFA: a password reset never removes a second factor; the
// next login still asks for it (ASVS V6.4.3, security test 17).
func TestResetKeepsMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		e.enrol(t, own)
		ctx := context.Background()
		if err := e.Auth.RequestPasswordReset(ctx, "acme", owner("acme")); err != nil {
			t.Fatal(err)
		}
		m := e.mail.next(t, "Reset your")
		token := strings.Fields(m.Body[strings.Index(m.Body, "#token=")+len("#token="):])[0]
		if err := e.Auth.ResetPassword(ctx, token, "lantern river basil comet"); err != nil {
			t.Fatal(err)
		}
		if s := e.mustLogin(t, "acme", owner("acme"), "lantern river basil comet"); s.Next != bulwark.StageMFA {
			t.Fatalf("after a reset the login owes %q, want mfa", s.Next)
		}
	})
}

// TestMFAEnforcement: a tenant that requires MFA (for admins, then for
// everyone) lets a user without a factor reach only enrolment; an admin
// can reset a user's factors after re-authenticating (AUTH-3, AUTH-6).
func TestMFAEnforcement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		viewer, _ := e.User(t, own, "vic@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		vicID := bulwark.FromContext(viewer).ID
		set := bulwark.DefaultAuthSettings()
		set.MFA = bulwark.MFAAdmins
		if _, err := e.SetAuthSettings(own, set); err != nil {
			t.Fatal(err)
		}
		// The owner (an admin) must enrol; the viewer need not.
		s := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if s.Next != bulwark.StageEnrol {
			t.Fatalf("owner stage %q", s.Next)
		}
		if v := e.mustLogin(t, "acme", "vic@acme.example", storetest.Password); v.Next != "" {
			t.Fatalf("viewer stage %q", v.Next)
		}
		sctx := e.ctx(t, s)
		if _, _, err := e.ListUsers(sctx, bulwark.ListOptions{}); bulwark.ErrorCode(err) != bulwark.EForbidden {
			t.Fatalf("an unenrolled admin reached data: %v", err)
		}
		if _, err := e.CreateCollection(sctx, bulwark.Collection{Name: "x", Fields: []bulwark.Field{{Name: "t", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}}}); bulwark.ErrorCode(err) != bulwark.EForbidden {
			t.Fatalf("an unenrolled admin wrote: %v", err)
		}
		_, full, _ := e.enrol(t, sctx)
		if full.Next != "" {
			t.Fatalf("after enrolment: %q", full.Next)
		}
		fctx := e.ctx(t, full)
		// Everyone: the viewer must enrol now.
		set.MFA = bulwark.MFAEveryone
		set.PasswordPolicy.MinLength = 8 // allowed only now
		if _, err := e.SetAuthSettings(fctx, set); err != nil {
			t.Fatal(err)
		}
		v := e.mustLogin(t, "acme", "vic@acme.example", storetest.Password)
		if v.Next != bulwark.StageEnrol {
			t.Fatalf("viewer stage %q", v.Next)
		}
		_, vfull, _ := e.enrol(t, e.ctx(t, v))
		// Admin MFA reset: needs a recent login.
		e.Clock.Advance(bulwark.ReauthWindow + time.Minute)
		if _, err := e.Auth.Authenticate(context.Background(), full.Token); err != nil {
			t.Fatal(err)
		}
		fctx = e.ctx(t, full)
		wantCode(t, e.Auth.ResetUserMFA(fctx, vicID), bulwark.EReauthRequired)
		re, err := e.Auth.Reauthenticate(fctx, storetest.Password, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.ResetUserMFA(e.ctx(t, re), vicID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, authErr(e, vfull.Token), bulwark.EUnauthenticated)
		if v := e.mustLogin(t, "acme", "vic@acme.example", storetest.Password); v.Next != bulwark.StageEnrol {
			t.Fatalf("after an MFA reset the viewer owes %q", v.Next)
		}
		// The viewer cannot reset anyone's MFA.
		wantCode(t, e.Auth.ResetUserMFA(viewer, bulwark.FromContext(fctx).ID), bulwark.EForbidden)
	})
}

// TestOperatorNeedsMFA is AUTH-8: a password alone never makes an
// operator session; the operator enrols and then signs in with a code.
func TestOperatorNeedsMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		ctx := context.Background()
		_, inv, err := e.CreateOperator(storetest.System(ctx), "ops@vendor.example")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s, err := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		if err != nil {
			t.Fatal(err)
		}
		if s.Next != bulwark.StageEnrol {
			t.Fatalf("a password-only operator login gave stage %q", s.Next)
		}
		p, err := e.Auth.Authenticate(ctx, s.Token)
		if err != nil || p.Stage != bulwark.StageEnrol {
			t.Fatalf("principal %+v, %v", p, err)
		}
		secret, full, codes := e.enrol(t, bulwark.NewContext(ctx, p))
		if full.Next != "" || codes != nil {
			t.Fatalf("operator after enrolment: %+v, %d codes", full, len(codes))
		}
		e.Clock.Advance(30 * time.Second)
		s2, err := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		if err != nil || s2.Next != bulwark.StageMFA {
			t.Fatalf("second login: %+v, %v", s2, err)
		}
		p2, _ := e.Auth.Authenticate(ctx, s2.Token)
		done, err := e.Auth.VerifyTOTP(bulwark.NewContext(ctx, p2), e.code(t, secret))
		if err != nil || done.Next != "" {
			t.Fatalf("operator MFA: %+v, %v", done, err)
		}
		if p3, err := e.Auth.Authenticate(ctx, done.Token); err != nil || p3.Stage != "" || p3.Kind != bulwark.KindOperator {
			t.Fatalf("operator principal %+v, %v", p3, err)
		}
	})
}

// TestOperatorStageRefusedByStore: the store refuses operator actions to
// a session that still owes its second factor, whatever the caller.
func TestOperatorStageRefusedByStore(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	_, inv, err := e.CreateOperator(storetest.System(ctx), "ops@vendor.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
		t.Fatal(err)
	}
	s, err := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Auth.Authenticate(ctx, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ListTenants(bulwark.NewContext(ctx, p))
	wantCode(t, err, bulwark.EForbidden)
}

// TestTOTPSecretSealed: the TOTP secret is sealed with the tenant's data
// key (DATA-3): the raw database file does not hold it, and it still
// works after a key rotation has re-sealed and retired the old key.
func TestTOTPSecretSealed(t *testing.T) {
	e := newEnv(t, "sqlite")
	own, _ := e.Tenant(t, "acme")
	secret, _, _ := e.enrol(t, own)
	// Rotate the tenant key and finish the re-seal, which retires the old
	// key unless something still uses it: the TOTP secret must count.
	sys := storetest.System(context.Background())
	if _, err := e.RotateTenantKey(sys, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reseal(sys, "acme", nil); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	l := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
	if _, err := e.Auth.VerifyTOTP(e.ctx(t, l), e.code(t, secret)); err != nil {
		t.Fatalf("TOTP after a key rotation: %v", err)
	}
	e.DB.Close()
	raw, err := os.ReadFile(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(e.Path + "-wal")
	for _, b := range [][]byte{raw, wal} {
		if bytes.Contains(b, []byte(secret)) {
			t.Fatal("the TOTP secret is in the database file in clear")
		}
	}
}

// TestOperatorMFAReset: the command line can remove a lost operator
// factor; the operator's sessions end and the next login must enrol.
func TestOperatorMFAReset(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	_, inv, err := e.CreateOperator(storetest.System(ctx), "ops@vendor.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
		t.Fatal(err)
	}
	s, _ := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
	full := e.CompleteMFA(t, s)
	wantCode(t, e.ResetOperatorMFA(e.As(t, full.Token), "ops@vendor.example"), bulwark.EForbidden)
	if err := e.ResetOperatorMFA(storetest.System(ctx), "ops@vendor.example"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, authErr(e, full.Token), bulwark.EUnauthenticated)
	s2, err := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
	if err != nil || s2.Next != bulwark.StageEnrol {
		t.Fatalf("after the reset: %+v, %v", s2, err)
	}
}
