package auth_test

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/passkeytest"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestPasskeys: registration with user verification, a login that owes
// its second factor completed with the passkey, a replayed challenge, a
// wrong origin, missing user verification and a cloned authenticator
// (sign count going backwards) all refused (AUTH-3; security test 12).
func TestPasskeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		userID := bulwark.FromContext(own).ID
		k := passkeytest.New()
		// Without user verification: refused.
		opts, err := e.Auth.BeginPasskeyRegistration(own)
		if err != nil {
			t.Fatal(err)
		}
		k.UV = false
		_, err = e.Auth.FinishPasskeyRegistration(own, "laptop", k.Create(t, opts))
		wantCode(t, err, bulwark.EUnauthenticated)
		k.UV = true
		// The challenge was used up by the failed attempt.
		_, err = e.Auth.FinishPasskeyRegistration(own, "laptop", k.Create(t, opts))
		wantCode(t, err, bulwark.EFailedPrecondition)
		opts, _ = e.Auth.BeginPasskeyRegistration(own)
		s, err := e.Auth.FinishPasskeyRegistration(own, "laptop", k.Create(t, opts))
		if err != nil {
			t.Fatal(err)
		}
		e.mail.next(t, "passkey was added")
		keys, err := e.Auth.Passkeys(e.ctx(t, s))
		if err != nil || len(keys) != 1 || keys[0].Name != "laptop" {
			t.Fatalf("passkeys %+v, %v", keys, err)
		}
		// Login: the password alone owes the passkey.
		l := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if l.Next != bulwark.StageMFA {
			t.Fatalf("stage %q", l.Next)
		}
		lctx := e.ctx(t, l)
		opts, err = e.Auth.BeginPasskeyLogin(lctx)
		if err != nil {
			t.Fatal(err)
		}
		// Wrong origin (phishing site): refused, and the challenge is spent.
		k.Origin = "https://evil.example"
		_, err = e.Auth.FinishPasskeyLogin(lctx, k.Get(t, opts, userID))
		wantCode(t, err, bulwark.EUnauthenticated)
		k.Origin = "https://localhost:8443"
		_, err = e.Auth.FinishPasskeyLogin(lctx, k.Get(t, opts, userID))
		wantCode(t, err, bulwark.EFailedPrecondition)
		opts, _ = e.Auth.BeginPasskeyLogin(lctx)
		full, err := e.Auth.FinishPasskeyLogin(lctx, k.Get(t, opts, userID))
		if err != nil {
			t.Fatal(err)
		}
		if full.Next != "" {
			t.Fatalf("after the passkey: %q", full.Next)
		}
		// A cloned authenticator: its counter goes backwards.
		l2 := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		opts, _ = e.Auth.BeginPasskeyLogin(e.ctx(t, l2))
		k.Count = 0
		_, err = e.Auth.FinishPasskeyLogin(e.ctx(t, l2), k.Get(t, opts, userID))
		wantCode(t, err, bulwark.EUnauthenticated)
		e.mail.next(t, "may have been copied")
	})
}

// TestOperatorPasskey: an operator enrols a passkey as their second
// factor (phishing-resistant MFA for staff) and signs in with it.
func TestOperatorPasskey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		ctx := context.Background()
		_, inv, err := e.CreateOperator(storetest.System(ctx), "ops@vendor.example", bulwark.OperatorAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s, _ := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		p, _ := e.Auth.Authenticate(ctx, s.Token)
		opID := p.ID
		k := passkeytest.New()
		octx := bulwark.NewContext(ctx, p)
		opts, err := e.Auth.BeginPasskeyRegistration(octx)
		if err != nil {
			t.Fatal(err)
		}
		full, err := e.Auth.FinishPasskeyRegistration(octx, "yubikey", k.Create(t, opts))
		if err != nil || full.Next != "" {
			t.Fatalf("registration: %+v, %v", full, err)
		}
		s2, _ := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		if s2.Next != bulwark.StageMFA {
			t.Fatalf("second login owes %q", s2.Next)
		}
		p2, _ := e.Auth.Authenticate(ctx, s2.Token)
		o2 := bulwark.NewContext(ctx, p2)
		opts, err = e.Auth.BeginPasskeyLogin(o2)
		if err != nil {
			t.Fatal(err)
		}
		done, err := e.Auth.FinishPasskeyLogin(o2, k.Get(t, opts, opID))
		if err != nil || done.Next != "" {
			t.Fatalf("passkey login: %+v, %v", done, err)
		}
		p3, err := e.Auth.Authenticate(ctx, done.Token)
		if err != nil || p3.Kind != bulwark.KindOperator || p3.Stage != "" {
			t.Fatalf("operator principal %+v, %v", p3, err)
		}
		if _, err := e.ListTenants(bulwark.NewContext(ctx, p3)); err != nil {
			t.Fatal(err)
		}
	})
}
