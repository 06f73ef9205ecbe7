package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// enrolTOTP enrols an authenticator app for the session tok (over the
// API), and returns the completed session's token.
func (e *e2e) enrolTOTP(tok string) string {
	e.t.Helper()
	en := decodeInto[bulwark.TOTPEnrolment](e.t, e.want(e.do("POST", "/api/v1/auth/mfa/totp", tok, nil), 200))
	code, err := totp.GenerateCode(en.Secret, e.fx.Clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	r := decodeInto[totpConfirmResponse](e.t, e.want(e.do("POST", "/api/v1/auth/mfa/totp/confirm", tok, codeRequest{Code: code}), 200))
	if r.Next != "" {
		e.t.Fatalf("after enrolment the session still owes %q", r.Next)
	}
	return r.Token
}

// TestE2EAuthentication walks the authentication API over HTTP: the
// password policy endpoints (with warnings for opt-ins), a login that
// owes MFA and reaches no tenant route, completing it, sessions listed
// and revoked, step-up answered with 403 reauth_required, and a password
// change that ends the old session (AUTH-2, AUTH-3, AUTH-7).
func TestE2EAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		// Policy: below the floor is 400; opt-ins are accepted with warnings.
		e.want(e.do("PUT", "/api/v1/settings/password-policy", owner, `{"min_length":12}`), 400, bulwark.EInvalid)
		pol := decodeInto[policyResponse](t, e.want(e.do("PUT", "/api/v1/settings/password-policy", owner, `{"min_length":16,"require_digit":true,"max_age_days":90}`), 200))
		if pol.Policy.MinLength != 16 || len(pol.Warnings) != 2 {
			t.Fatalf("policy %+v", pol)
		}
		e.want(e.do("PUT", "/api/v1/settings/password-policy", owner, `{"min_length":15}`), 200)
		vid, vtok := e.user(owner, "acme", "vic@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		e.want(e.do("GET", "/api/v1/settings/password-policy", vtok, nil), 403, bulwark.EForbidden)

		// MFA: enrol, then a password login owes the code.
		owner = e.enrolTOTP(owner)
		r := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}), 200))
		if r.Next != bulwark.StageMFA {
			t.Fatalf("login next = %q", r.Next)
		}
		e.want(e.do("GET", "/api/v1/users", r.Token, nil), 403, bulwark.EForbidden)
		me := decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", r.Token, nil), 200))
		if me.Stage != bulwark.StageMFA || len(me.Grants) != 0 {
			t.Fatalf("me %+v", me)
		}
		e.want(e.do("POST", "/api/v1/auth/mfa/verify", r.Token, codeRequest{Code: "000000"}), 401, bulwark.EUnauthenticated)

		// Sessions: list and revoke one of the owner's own.
		list := decodeInto[struct {
			Sessions []bulwark.SessionInfo `json:"sessions"`
		}](t, e.want(e.do("GET", "/api/v1/auth/sessions", owner, nil), 200))
		var other string
		for _, s := range list.Sessions {
			if !s.Current {
				other = s.ID
			}
		}
		e.want(e.do("DELETE", "/api/v1/auth/sessions/"+other, owner, nil), 204)
		e.want(e.do("GET", "/api/v1/auth/me", r.Token, nil), 401, bulwark.EUnauthenticated)

		// Step-up: an MFA reset with an old login is 403 reauth_required.
		e.fx.Clock.Advance(bulwark.ReauthWindow + time.Minute)
		e.want(e.do("DELETE", "/api/v1/users/"+vid+"/mfa", owner, nil), 403, bulwark.EReauthRequired)
		re := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/reauth", owner, reauthRequest{Password: storetest.Password}), 200))
		e.want(e.do("DELETE", "/api/v1/users/"+vid+"/mfa", re.Token, nil), 204)
		e.want(e.do("DELETE", "/api/v1/users/"+vid+"/sessions", re.Token, nil), 204)
		e.want(e.do("GET", "/api/v1/auth/me", vtok, nil), 401, bulwark.EUnauthenticated)

		// Password change needs the current password and ends the session.
		e.want(e.do("POST", "/api/v1/auth/password", re.Token, passwordChangeRequest{CurrentPassword: "wrong wrong wrong", NewPassword: "saffron kettle drum parade"}), 403, bulwark.EForbidden)
		ch := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/password", re.Token, passwordChangeRequest{CurrentPassword: storetest.Password, NewPassword: "saffron kettle drum parade"}), 200))
		e.want(e.do("GET", "/api/v1/auth/me", re.Token, nil), 401, bulwark.EUnauthenticated)
		e.want(e.do("GET", "/api/v1/auth/me", ch.Token, nil), 200)
		// Reset requests answer 202 whether or not the account exists.
		e.want(e.do("POST", "/api/v1/auth/password/reset-request", "", resetRequestRequest{Tenant: "acme", Email: "nobody@acme.example"}), 202)
		e.want(e.do("POST", "/api/v1/auth/password/reset", "", resetRequest{Token: "bwr_x_" + strings.Repeat("A", 52), Password: "saffron kettle drum parade 2"}), 410, bulwark.EGone)
	})
}

// activeOperator creates an operator admin with the test password,
// activates it, and returns its password login over HTTP.
func (e *e2e) activeOperator(email string) func() sessionResponse {
	e.t.Helper()
	_, inv, err := e.fx.CreateOperator(storetest.System(context.Background()), email, bulwark.OperatorAdmin)
	if err != nil {
		e.t.Fatal(err)
	}
	e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: inv.Token, Password: storetest.Password}), 204)
	return func() sessionResponse {
		e.t.Helper()
		return decodeInto[sessionResponse](e.t, e.want(e.do("POST", "/api/v1/operator/login", "", operatorLoginRequest{Email: email, Password: storetest.Password}), 200))
	}
}

// TestE2EOperatorNeedsMFA is AUTH-8 over HTTP: an operator's password
// alone reaches no operator route (403), only enrolment; after enrolling,
// a later password login owes the code.
func TestE2EOperatorNeedsMFA(t *testing.T) {
	e := newE2E(t, "sqlite")
	login := e.activeOperator("ops@vendor.example")
	s := login()
	if s.Next != bulwark.StageEnrol {
		t.Fatalf("next = %q", s.Next)
	}
	e.want(e.do("GET", "/api/v1/operator/tenants", s.Token, nil), 403, bulwark.EForbidden)
	e.want(e.do("POST", "/api/v1/operator/tenants", s.Token, createTenantRequest{Slug: "acme", Name: "Acme", AdminEmail: "a@acme.example"}), 403, bulwark.EForbidden)
	en := decodeInto[bulwark.TOTPEnrolment](t, e.want(e.do("POST", "/api/v1/auth/mfa/totp", s.Token, nil), 200))
	code, _ := totp.GenerateCode(en.Secret, e.fx.Clock.Now())
	full := decodeInto[totpConfirmResponse](t, e.want(e.do("POST", "/api/v1/auth/mfa/totp/confirm", s.Token, codeRequest{Code: code}), 200))
	e.want(e.do("GET", "/api/v1/operator/tenants", full.Token, nil), 200)
	e.fx.Clock.Advance(30 * time.Second)
	s2 := login()
	if s2.Next != bulwark.StageMFA {
		t.Fatalf("second login next = %q", s2.Next)
	}
	e.want(e.do("GET", "/api/v1/operator/tenants", s2.Token, nil), 403, bulwark.EForbidden)
	code, _ = totp.GenerateCode(en.Secret, e.fx.Clock.Now())
	done := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/mfa/verify", s2.Token, codeRequest{Code: code}), 200))
	e.want(e.do("GET", "/api/v1/operator/tenants", done.Token, nil), 200)
}

// TestPasswordOnlySessionCannotTouchFactors: a login that still owes its
// second factor knows only the password. Its auth time is the password's,
// so step-up alone would let it remove the authenticator app, mint
// recovery codes and spend one, remove a passkey, or see and end the
// user's other sessions; each is refused, and the next password login
// still owes the second factor (AUTH-3, AUTH-7).
func TestPasswordOnlySessionCannotTouchFactors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.enrolTOTP(e.tenant("acme"))
		login := func() sessionResponse {
			return decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}), 200))
		}
		half := login()
		if half.Next != bulwark.StageMFA {
			t.Fatalf("login next = %q, want %q", half.Next, bulwark.StageMFA)
		}
		list := decodeInto[struct {
			Sessions []bulwark.SessionInfo `json:"sessions"`
		}](t, e.want(e.do("GET", "/api/v1/auth/sessions", owner, nil), 200))
		e.want(e.do("DELETE", "/api/v1/auth/mfa/totp", half.Token, nil), 403, bulwark.EForbidden)
		e.want(e.do("POST", "/api/v1/auth/mfa/recovery-codes", half.Token, nil), 403, bulwark.EForbidden)
		e.want(e.do("DELETE", "/api/v1/auth/mfa/passkeys/any", half.Token, nil), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/auth/sessions", half.Token, nil), 403, bulwark.EForbidden)
		e.want(e.do("DELETE", "/api/v1/auth/sessions/"+list.Sessions[0].ID, half.Token, nil), 403, bulwark.EForbidden)
		// Nothing changed: the owner's session lives, the app still counts.
		e.want(e.do("GET", "/api/v1/auth/sessions", owner, nil), 200)
		if again := login(); again.Next != bulwark.StageMFA {
			t.Fatalf("after the refused calls the next login owes %q, want %q", again.Next, bulwark.StageMFA)
		}
	})
}

// TestOperatorPasswordOnlySessionCannotRemoveTOTP: the same for an
// operator (AUTH-8): the password alone does not remove the app.
func TestOperatorPasswordOnlySessionCannotRemoveTOTP(t *testing.T) {
	e := newE2E(t, "sqlite")
	login := e.activeOperator("ops@vendor.example")
	e.enrolTOTP(login().Token)
	e.fx.Clock.Advance(30 * time.Second)
	half := login()
	if half.Next != bulwark.StageMFA {
		t.Fatalf("next = %q, want %q", half.Next, bulwark.StageMFA)
	}
	e.want(e.do("DELETE", "/api/v1/auth/mfa/totp", half.Token, nil), 403, bulwark.EForbidden)
	if again := login(); again.Next != bulwark.StageMFA {
		t.Fatalf("after the refused removal the next login owes %q, want %q", again.Next, bulwark.StageMFA)
	}
}

// TestE2ELoginWithAnyUserAgent: the User-Agent kept with a session is the
// client's to write. One whose 200-byte cut falls inside a character, or
// that is not UTF-8 at all, still logs in with the right password
// (PostgreSQL refused the row: 400), and such logins count no failures,
// so a plain login afterwards still works.
func TestE2ELoginWithAnyUserAgent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		e.tenant("acme")
		body := loginRequest{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password}
		agents := []string{strings.Repeat("a", 199) + "é", "Mozilla/5.0 (Ünïcödé)", "bad \xff\xfe bytes", strings.Repeat("\xe2\x82", 150)}
		for range 2 {
			for _, ua := range agents {
				e.want(e.do("POST", "/api/v1/auth/login", "", body, "User-Agent", ua), http.StatusOK)
			}
		}
		e.want(e.do("POST", "/api/v1/auth/login", "", body, "User-Agent", "curl/8"), http.StatusOK)
	})
}
