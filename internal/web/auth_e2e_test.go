package web

import (
	"github.com/pquerna/otp/totp"

	bulwark "github.com/bulwarkhq/bulwark"
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
