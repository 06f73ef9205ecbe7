package auth_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/mail"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

func wantCode(t *testing.T, err error, code bulwark.Code) {
	t.Helper()
	if got := bulwark.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// outbox is a Mailer that keeps messages in memory.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	c    chan mail.Message
}

func newOutbox() *outbox { return &outbox{c: make(chan mail.Message, 100)} }

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	o.msgs = append(o.msgs, m)
	o.mu.Unlock()
	o.c <- m
	return nil
}

func (o *outbox) next(t *testing.T, subject string) mail.Message {
	t.Helper()
	for {
		select {
		case m := <-o.c:
			if strings.Contains(m.Subject, subject) {
				return m
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no mail with subject %q", subject)
		}
	}
}

// env is a fixture whose auth service has a mailer.
type env struct {
	*storetest.Fixture
	mail *outbox
}

func newEnv(t *testing.T, backend string) *env {
	f := storetest.NewFixture(t, backend)
	o := newOutbox()
	f.Auth = auth.New(f.DB.DB, auth.Options{Params: storetest.FastHashing, Now: f.Clock.Now, Mailer: o})
	return &env{Fixture: f, mail: o}
}

func (e *env) login(t *testing.T, slug, email, pw string) (*bulwark.Session, error) {
	t.Helper()
	return e.Auth.Login(context.Background(), bulwark.Credentials{Tenant: slug, Email: email, Password: pw})
}

func (e *env) mustLogin(t *testing.T, slug, email, pw string) *bulwark.Session {
	t.Helper()
	s, err := e.login(t, slug, email, pw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) ctx(t *testing.T, s *bulwark.Session) context.Context {
	t.Helper()
	return e.As(t, s.Token)
}

func (e *env) code(t *testing.T, secret string) string {
	c, err := totp.GenerateCode(secret, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func owner(slug string) string { return "owner@" + slug + ".example" }

// TestPolicyEnforcedOnSetChangeReset: the tenant's policy applies when a
// password is set (activation), changed and reset, with reasons.
func TestPolicyEnforcedOnSetChangeReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		// Settings need settings.manage.
		viewer, _ := e.User(t, own, "vic@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		_, err := e.SetPasswordPolicy(viewer, bulwark.DefaultPasswordPolicy)
		wantCode(t, err, bulwark.EForbidden)
		p := bulwark.DefaultPasswordPolicy
		p.MinLength = 14
		_, err = e.SetPasswordPolicy(own, p)
		wantCode(t, err, bulwark.EInvalid)
		p.MinLength, p.BlockedWords, p.History = 20, []string{"Roadrunner"}, 3
		if _, err := e.SetPasswordPolicy(own, p); err != nil {
			t.Fatal(err)
		}
		got, err := e.AuthSettings(own)
		if err != nil || got.PasswordPolicy.MinLength != 20 || got.PasswordPolicy.BlockedWords[0] != "roadrunner" {
			t.Fatalf("settings %+v, %v", got, err)
		}
		// Activation: too short for this tenant, then a context word.
		_, inv, err := e.InviteUser(own, bulwark.NewUser{Email: "ada@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleEditor}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		wantCode(t, e.Auth.Activate(ctx, inv.Token, "seventeen chars!!"), bulwark.EInvalid)
		err = e.Auth.Activate(ctx, inv.Token, "roadrunner roadrunner 2026!")
		wantCode(t, err, bulwark.EInvalid)
		if !strings.Contains(bulwark.ErrorFields(err)["password"], "roadrunner") {
			t.Fatalf("no reason: %v", err)
		}
		wantCode(t, e.Auth.Activate(ctx, inv.Token, "AcmeAcmeAcme-2026-2026!"), bulwark.EInvalid)
		first := "violet harbour lantern drift"
		if err := e.Auth.Activate(ctx, inv.Token, first); err != nil {
			t.Fatal(err)
		}
		s := e.mustLogin(t, "acme", "ada@acme.example", first)
		// Change: needs the current password.
		_, err = e.Auth.ChangePassword(e.ctx(t, s), "wrong password entirely", "a brand new long passphrase")
		wantCode(t, err, bulwark.EForbidden)
		second := "copper meadow whistle canyon"
		s2, err := e.Auth.ChangePassword(e.ctx(t, s), first, second)
		if err != nil {
			t.Fatal(err)
		}
		e.mail.next(t, "password was changed")
		// The old session is dead; the new one works.
		if _, err := e.Auth.Authenticate(ctx, s.Token); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
			t.Fatalf("old session after a password change: %v", err)
		}
		// Reuse history: the first password may not come back.
		_, err = e.Auth.ChangePassword(e.ctx(t, s2), second, first)
		wantCode(t, err, bulwark.EInvalid)
		// Reset: a link by mail, policy applied, single use, 30 minutes.
		if err := e.Auth.RequestPasswordReset(ctx, "acme", "ada@acme.example"); err != nil {
			t.Fatal(err)
		}
		m := e.mail.next(t, "Reset your")
		token := m.Body[strings.Index(m.Body, "#token=")+len("#token="):]
		token = strings.Fields(token)[0]
		wantCode(t, e.Auth.ResetPassword(ctx, token, second), bulwark.EInvalid) // reuse
		wantCode(t, e.Auth.ResetPassword(ctx, token, "short"), bulwark.EInvalid)
		third := "granite orchard sailing pepper"
		if err := e.Auth.ResetPassword(ctx, token, third); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.Auth.ResetPassword(ctx, token, "another granite orchard ride"), bulwark.EGone)
		if _, err := e.Auth.Authenticate(ctx, s2.Token); bulwark.ErrorCode(err) != bulwark.EUnauthenticated {
			t.Fatalf("session survived a reset: %v", err)
		}
		e.mustLogin(t, "acme", "ada@acme.example", third)
		// An expired link is gone.
		e.Auth.RequestPasswordReset(ctx, "acme", "ada@acme.example")
		m = e.mail.next(t, "Reset your")
		token = strings.Fields(m.Body[strings.Index(m.Body, "#token=")+len("#token="):])[0]
		e.Clock.Advance(31 * time.Minute)
		wantCode(t, e.Auth.ResetPassword(ctx, token, "fourth quartz willow bakery"), bulwark.EGone)
		// Unknown accounts: the same answer, and no mail.
		if err := e.Auth.RequestPasswordReset(ctx, "acme", "nobody@acme.example"); err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.RequestPasswordReset(ctx, "nope", "ada@acme.example"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTightenedPolicyAtLogin: a password that no longer meets the policy
// (or has expired under the opt-in max age) must be changed before the
// session is complete.
func TestTightenedPolicyAtLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		p := bulwark.DefaultPasswordPolicy
		p.MinLength = 40
		if _, err := e.SetPasswordPolicy(own, p); err != nil {
			t.Fatal(err)
		}
		s := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if s.Next != bulwark.StagePassword {
			t.Fatalf("stage %q, want %q", s.Next, bulwark.StagePassword)
		}
		ctx := e.ctx(t, s)
		if _, _, err := e.ListUsers(ctx, bulwark.ListOptions{}); bulwark.ErrorCode(err) != bulwark.EForbidden {
			t.Fatalf("an incomplete session listed users: %v", err)
		}
		s2, err := e.Auth.ChangePassword(ctx, storetest.Password, "a much longer passphrase about ferns, kites and tides")
		if err != nil {
			t.Fatal(err)
		}
		if s2.Next != "" {
			t.Fatalf("stage after change %q", s2.Next)
		}
		if _, _, err := e.ListUsers(e.ctx(t, s2), bulwark.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		// Opt-in expiry.
		p.MinLength, p.MaxAgeDays = 15, 30
		if _, err := e.SetPasswordPolicy(e.ctx(t, s2), p); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(31 * 24 * time.Hour)
		s3 := e.mustLogin(t, "acme", owner("acme"), "a much longer passphrase about ferns, kites and tides")
		if s3.Next != bulwark.StagePassword {
			t.Fatalf("expired password: stage %q", s3.Next)
		}
	})
}

// TestSessions: per-tenant idle and absolute timeouts on the fake clock,
// fixation (a new token at every login), listing and revoking own
// sessions, admin revocation, disabling kills sessions (AUTH-7).
func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, ownTok := e.Tenant(t, "acme")
		ctx := context.Background()
		// Defaults 30 min idle, 12 h absolute.
		e.Clock.Advance(29 * time.Minute)
		if _, err := e.Auth.Authenticate(ctx, ownTok); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(30*time.Minute + time.Second)
		wantCode(t, authErr(e, ownTok), bulwark.EUnauthenticated)
		// Tenant settings: 5 min idle, 60 min absolute.
		s := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		own = e.ctx(t, s)
		set := bulwark.DefaultAuthSettings()
		set.SessionIdleMinutes, set.SessionAbsoluteMinutes = 5, 60
		if _, err := e.SetAuthSettings(own, set); err != nil {
			t.Fatal(err)
		}
		s = e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		for range 11 { // 55 min of activity, 4 min apart... then the absolute limit
			e.Clock.Advance(5*time.Minute - time.Second)
			if _, err := e.Auth.Authenticate(ctx, s.Token); err != nil {
				t.Fatal(err)
			}
		}
		e.Clock.Advance(5 * time.Minute)
		wantCode(t, authErr(e, s.Token), bulwark.EUnauthenticated)
		s = e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		e.Clock.Advance(5*time.Minute + time.Second)
		wantCode(t, authErr(e, s.Token), bulwark.EUnauthenticated)

		// Fixation: each login gets a new token; listing and revoking.
		a := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		b := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if a.Token == b.Token {
			t.Fatal("two logins share a token")
		}
		list, err := e.ListSessions(e.ctx(t, a))
		if err != nil || len(list) < 2 {
			t.Fatalf("sessions %v, %v", list, err)
		}
		var other string
		for _, si := range list {
			if !si.Current {
				other = si.ID
			}
		}
		if err := e.RevokeSession(e.ctx(t, a), other); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.RevokeSession(e.ctx(t, a), "nope"), bulwark.ENotFound)
		// Admin revocation of another user's sessions.
		ed, _ := e.User(t, e.ctx(t, a), "ed@acme.example", bulwark.Grant{Role: bulwark.RoleEditor})
		edTok := bulwark.FromContext(ed).SessionID
		_ = edTok
		edS := e.mustLogin(t, "acme", "ed@acme.example", storetest.Password)
		wantCode(t, e.RevokeUserSessions(e.ctx(t, edS), bulwark.FromContext(e.ctx(t, a)).ID), bulwark.EForbidden)
		if err := e.RevokeUserSessions(e.ctx(t, a), bulwark.FromContext(ed).ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, authErr(e, edS.Token), bulwark.EUnauthenticated)
		// Logout.
		if err := e.Auth.Logout(e.ctx(t, a)); err != nil {
			t.Fatal(err)
		}
		wantCode(t, authErr(e, a.Token), bulwark.EUnauthenticated)
	})
}

func authErr(e *env, tok string) error {
	_, err := e.Auth.Authenticate(context.Background(), tok)
	return err
}

// TestBruteForce: per-account counters in the database, progressive
// delays, a hard stop at 100, the same answers for unknown accounts, and
// a reset that unlocks (AUTH-7, NIST 800-63B-4 §3.2.2).
func TestBruteForce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.Tenant(t, "acme")
		ctx := context.Background()
		for _, email := range []string{owner("acme"), "ghost@acme.example"} {
			var codes []bulwark.Code
			for range store.FreeFailures {
				_, err := e.login(t, "acme", email, "not the password at all")
				codes = append(codes, bulwark.ErrorCode(err))
			}
			for i, c := range codes {
				want := bulwark.EUnauthenticated
				if c != want {
					t.Fatalf("%s: attempt %d: %q (all: %v)", email, i+1, c, codes)
				}
			}
			// The next one right away is throttled, before any hashing.
			_, err := e.login(t, "acme", email, "not the password at all")
			wantCode(t, err, bulwark.ERateLimited)
			if email == owner("acme") {
				// Even the right password waits out the delay.
				_, err := e.login(t, "acme", email, storetest.Password)
				wantCode(t, err, bulwark.ERateLimited)
			}
		}
		// After the delay the right password works and clears the count.
		e.Clock.Advance(3 * time.Second)
		e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if n, _ := e.Failures(ctx, store.FailureKey("user", "acme", owner("acme"))); n != 0 {
			t.Fatalf("failures after success: %d", n)
		}
		// Never more than 100 consecutive failures.
		failures := 0
		for range 300 {
			_, err := e.login(t, "acme", owner("acme"), "not the password at all")
			switch bulwark.ErrorCode(err) {
			case bulwark.EUnauthenticated:
				failures++
			case bulwark.ERateLimited:
			default:
				t.Fatal(err)
			}
			e.Clock.Advance(store.MaxThrottleDelay)
		}
		if failures > store.LockoutFailures {
			t.Fatalf("%d failures checked, limit %d", failures, store.LockoutFailures)
		}
		_, err := e.login(t, "acme", owner("acme"), storetest.Password)
		wantCode(t, err, bulwark.ERateLimited)
		// A password reset unlocks.
		e.Auth.RequestPasswordReset(ctx, "acme", owner("acme"))
		m := e.mail.next(t, "Reset your")
		token := strings.Fields(m.Body[strings.Index(m.Body, "#token=")+len("#token="):])[0]
		if err := e.Auth.ResetPassword(ctx, token, "harbour lights over the bay"); err != nil {
			t.Fatal(err)
		}
		e.mustLogin(t, "acme", owner("acme"), "harbour lights over the bay")
	})
}

// TestUnknownAccountsLookTheSame: status, code and message are identical
// for a wrong password, an unknown email and an unknown tenant.
func TestUnknownAccountsLookTheSame(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.Tenant(t, "acme")
	var msgs []string
	for _, c := range []bulwark.Credentials{
		{Tenant: "acme", Email: owner("acme"), Password: "wrong but long enough"},
		{Tenant: "acme", Email: "nobody@acme.example", Password: "wrong but long enough"},
		{Tenant: "nope", Email: owner("acme"), Password: "wrong but long enough"},
		{Tenant: "acme", Email: "not an email", Password: "wrong but long enough"},
	} {
		_, err := e.Auth.Login(context.Background(), c)
		wantCode(t, err, bulwark.EUnauthenticated)
		msgs = append(msgs, bulwark.ErrorMessage(err))
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("messages differ: %q", msgs)
		}
	}
}

// TestAddressRateLimit: one address may not spray credentials.
func TestAddressRateLimit(t *testing.T) {
	f := storetest.NewFixture(t, "sqlite")
	s := auth.New(f.DB.DB, auth.Options{Params: storetest.FastHashing, Now: f.Clock.Now, AddrRate: 1, AddrBurst: 5})
	ctx := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: "192.0.2.7"})
	other := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: "192.0.2.8"})
	for i := range 5 {
		_, err := s.Login(ctx, bulwark.Credentials{Tenant: "t", Email: "u" + string(rune('a'+i)) + "@x.example", Password: "xxxxxxxxxxxxxxxx"})
		wantCode(t, err, bulwark.EUnauthenticated)
	}
	_, err := s.Login(ctx, bulwark.Credentials{Tenant: "t", Email: "z@x.example", Password: "xxxxxxxxxxxxxxxx"})
	wantCode(t, err, bulwark.ERateLimited)
	_, err = s.Login(other, bulwark.Credentials{Tenant: "t", Email: "z@x.example", Password: "xxxxxxxxxxxxxxxx"})
	wantCode(t, err, bulwark.EUnauthenticated)
	f.Clock.Advance(2 * time.Second)
	_, err = s.Login(ctx, bulwark.Credentials{Tenant: "t", Email: "z@x.example", Password: "xxxxxxxxxxxxxxxx"})
	wantCode(t, err, bulwark.EUnauthenticated)
}

// TestNewDeviceNotice: a sign-in from a user agent the account has not
// used before is mailed to the owner (ASVS V6.3.7); a known one is not.
func TestNewDeviceNotice(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.Tenant(t, "acme") // first sign-in: no notice
	as := func(ua string) context.Context {
		return bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: "192.0.2.1", UserAgent: ua})
	}
	login := func(ua string) {
		t.Helper()
		if _, err := e.Auth.Login(as(ua), bulwark.Credentials{Tenant: "acme", Email: owner("acme"), Password: storetest.Password}); err != nil {
			t.Fatal(err)
		}
	}
	login("Firefox/140")
	m := e.mail.next(t, "New sign-in")
	if !strings.Contains(m.Body, "Firefox/140") || m.To != owner("acme") {
		t.Fatalf("notice %+v", m)
	}
	login("Firefox/140")
	select {
	case m := <-e.mail.c:
		t.Fatalf("a known device was notified: %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestCredentialStuffing is security test 8, scaled down: 5,000 guesses
// from 50 addresses against 100 accounts, spread over fake time. No
// account sees more than 100 failed checks, the addresses are slowed, and
// a real user still signs in.
func TestCredentialStuffing(t *testing.T) {
	if testing.Short() {
		t.Skip("stuffing run")
	}
	f := storetest.NewFixture(t, "sqlite")
	own, _ := f.Tenant(t, "acme")
	svc := auth.New(f.DB.DB, auth.Options{Params: storetest.FastHashing, Now: f.Clock.Now, AddrRate: 1, AddrBurst: 20})
	const accounts = 100
	for i := range accounts {
		_, inv, err := f.InviteUser(own, bulwark.NewUser{Email: fmt.Sprintf("u%03d@acme.example", i), Grants: []bulwark.Grant{{Role: bulwark.RoleViewer}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Activate(context.Background(), inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
	}
	checked := map[bulwark.Code]int{}
	for i := range 5000 {
		ctx := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: fmt.Sprintf("198.51.100.%d", i%50)})
		_, err := svc.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: fmt.Sprintf("u%03d@acme.example", i%accounts), Password: fmt.Sprintf("guess number %06d", i)})
		checked[bulwark.ErrorCode(err)]++
		f.Clock.Advance(200 * time.Millisecond)
	}
	if checked[""] != 0 {
		t.Fatalf("a guess succeeded: %v", checked)
	}
	worst := 0
	for i := range accounts {
		n, err := f.Failures(context.Background(), store.FailureKey("user", "acme", fmt.Sprintf("u%03d@acme.example", i)))
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, n)
	}
	t.Logf("outcomes %v; most failures on one account: %d", checked, worst)
	if worst > store.LockoutFailures || checked[bulwark.ERateLimited] == 0 {
		t.Fatalf("worst account %d failures, %d throttled", worst, checked[bulwark.ERateLimited])
	}
	ctx := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: "203.0.113.9"})
	if _, err := svc.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: owner("acme"), Password: storetest.Password}); err != nil {
		t.Fatalf("a real user cannot sign in during the attack: %v", err)
	}
}

// TestFailureCountersLapse: counters of made-up accounts do not pile up:
// a day after its last failure a counter is forgotten.
func TestFailureCountersLapse(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.Tenant(t, "acme")
	_, err := e.login(t, "acme", "ghost@acme.example", "not the password at all")
	wantCode(t, err, bulwark.EUnauthenticated)
	key := store.FailureKey("user", "acme", "ghost@acme.example")
	if n, _ := e.Failures(context.Background(), key); n != 1 {
		t.Fatalf("failures %d", n)
	}
	e.Clock.Advance(25 * time.Hour)
	e.login(t, "acme", "another-ghost@acme.example", "not the password at all")
	if n, _ := e.Failures(context.Background(), key); n != 0 {
		t.Fatalf("a day-old counter is still there: %d", n)
	}
}

// TestAdminSeesUserSessions is AUTH-6: an admin lists a user's sessions
// and ends them; a user without users.manage cannot.
func TestAdminSeesUserSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		ed, _ := e.User(t, own, "ed@acme.example", bulwark.Grant{Role: bulwark.RoleEditor})
		edID := bulwark.FromContext(ed).ID
		e.mustLogin(t, "acme", "ed@acme.example", storetest.Password)
		list, err := e.ListUserSessions(own, edID)
		if err != nil || len(list) != 2 {
			t.Fatalf("sessions %d, %v", len(list), err)
		}
		_, err = e.ListUserSessions(ed, bulwark.FromContext(own).ID)
		wantCode(t, err, bulwark.EForbidden)
		// An admin sees an owner's sessions no more than it ends them:
		// owners only for owners.
		adm, _ := e.User(t, own, "adm@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})
		_, err = e.ListUserSessions(adm, bulwark.FromContext(own).ID)
		wantCode(t, err, bulwark.EForbidden)
		if list, err := e.ListUserSessions(adm, edID); err != nil || len(list) != 2 {
			t.Fatalf("an admin lists an editor's sessions: %d, %v", len(list), err)
		}
		_, err = e.ListUserSessions(own, "no-such-user")
		wantCode(t, err, bulwark.ENotFound)
		if err := e.RevokeUserSessions(own, edID); err != nil {
			t.Fatal(err)
		}
		if list, _ := e.ListUserSessions(own, edID); len(list) != 0 {
			t.Fatalf("%d sessions after revocation", len(list))
		}
	})
}

// TestAuthPostures: tenants that opt into composition rules or expiry are
// flagged for the evidence report; operators read it, tenants cannot.
func TestAuthPostures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		acme, _ := e.Tenant(t, "acme")
		e.Tenant(t, "globex")
		p := bulwark.DefaultPasswordPolicy
		p.RequireSymbol, p.MaxAgeDays = true, 60
		if _, err := e.SetPasswordPolicy(acme, p); err != nil {
			t.Fatal(err)
		}
		got, err := e.AuthPostures(storetest.System(context.Background()))
		if err != nil || len(got) != 2 {
			t.Fatalf("postures %+v, %v", got, err)
		}
		if got[0].Tenant != "acme" || len(got[0].Warnings) != 2 || got[1].Tenant != "globex" || len(got[1].Warnings) != 0 || got[1].MFA != bulwark.MFAOptional {
			t.Fatalf("postures %+v", got)
		}
		_, err = e.AuthPostures(acme)
		wantCode(t, err, bulwark.EForbidden)
	})
}

// TestCurrentPasswordIsThrottled: the doors that ask for the current
// password (changing it, re-authenticating) count wrong guesses against
// the account as logins do: past the free failures even the right
// password waits.
func TestCurrentPasswordIsThrottled(t *testing.T) {
	doors := map[string]func(e *env, ctx context.Context, pw string) error{
		"change": func(e *env, ctx context.Context, pw string) error {
			_, err := e.Auth.ChangePassword(ctx, pw, "a much longer passphrase about ferns, kites and tides")
			return err
		},
		"reauthenticate": func(e *env, ctx context.Context, pw string) error {
			_, err := e.Auth.Reauthenticate(ctx, pw, "")
			return err
		},
	}
	for _, backend := range storetest.Backends {
		for name, door := range doors {
			t.Run(backend+"/"+name, func(t *testing.T) {
				e := newEnv(t, backend)
				e.Tenant(t, "acme")
				ctx := e.ctx(t, e.mustLogin(t, "acme", owner("acme"), storetest.Password))
				for range store.FreeFailures {
					wantCode(t, door(e, ctx, "not the password at all"), bulwark.EForbidden)
				}
				wantCode(t, door(e, ctx, storetest.Password), bulwark.ERateLimited)
			})
		}
	}
}

// TestResetRequestFloor: a password-reset request answers no sooner than
// ResetFloor after it began, for an existing account (whose secret and
// audit entry are written within it) as for an unknown email or tenant,
// so its time does not tell accounts apart. The clock stands still here,
// so each request must wait the whole floor.
func TestResetRequestFloor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		f.Tenant(t, "acme")
		o := newOutbox()
		const floor = 300 * time.Millisecond
		var mu sync.Mutex
		var waits []time.Duration
		svc := auth.New(f.DB.DB, auth.Options{Params: storetest.FastHashing, Now: f.Clock.Now, Mailer: o, ResetFloor: floor,
			Pause: func(_ context.Context, d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }})
		ctx := context.Background()
		for _, c := range []struct{ tenant, email string }{
			{"acme", owner("acme")}, {"acme", "nobody@acme.example"}, {"nope", owner("acme")}, {"acme", "not an email"},
		} {
			waits = nil
			if err := svc.RequestPasswordReset(ctx, c.tenant, c.email); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if len(waits) != 1 || waits[0] != floor {
				t.Errorf("reset request for %s in %s waited %v, want once %v", c.email, c.tenant, waits, floor)
			}
			mu.Unlock()
		}
		o.next(t, "Reset your") // the existing account still gets its link
	})
}
