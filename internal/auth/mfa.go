package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// TOTP parameters (RFC 6238): 30-second steps, 6 digits, HMAC-SHA1 (what
// every authenticator app supports), 160-bit secrets (NIST: at least 112).
const (
	totpPeriod = 30
	totpSecret = 20
	// RecoveryCodes is how many single-use recovery codes a user gets.
	RecoveryCodes = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// BeginTOTP starts TOTP enrolment for the session's account. The secret
// is confirmed, and starts to count, only after a first valid code.
// Enrolling when a factor already exists needs a recent login.
func (s *Service) BeginTOTP(ctx context.Context) (*bulwark.TOTPEnrolment, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.SessionID == "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only a login session can enrol a second factor")
	}
	if p.Stage == "" {
		if err := p.RequireRecentAuth(s.opt.Now()); err != nil {
			return nil, err
		}
	}
	account := p.ID
	if p.TenantSlug != "" {
		account = p.TenantSlug + ":" + p.ID
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Bulwark", AccountName: account, Period: totpPeriod, SecretSize: totpSecret, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	// The store seals the secret with the tenant's data key.
	if err := s.db.BeginTOTP(ctx, key.Secret()); err != nil {
		return nil, err
	}
	return &bulwark.TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// matchTOTP returns the time step code belongs to, trying only the current
// and the previous step (ASVS V6.5.5: at most 30 s of skew), or 0.
func matchTOTP(secret, code string, now time.Time) int64 {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0
	}
	step := now.Unix() / totpPeriod
	found := int64(0)
	for _, st := range []int64{step, step - 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found == 0 {
			found = st
		}
	}
	return found
}

var errCode = bulwark.Errorf(bulwark.EUnauthenticated, "the code is wrong or was already used; wait for the next one")

// checkTOTP verifies code for the session's account and spends its time
// step with use, throttled per account like a password.
func (s *Service) checkTOTP(ctx context.Context, code string, confirm bool, use func(step int64) error) error {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return err
	}
	p := bulwark.FromContext(ctx)
	key := store.FailureKey("totp", p.TenantID, p.ID)
	if err := s.db.Attempt(ctx, key); err != nil {
		return err
	}
	st, err := s.db.TOTP(ctx)
	if err != nil {
		return err
	}
	if confirm == st.Confirmed {
		if confirm {
			return bulwark.Errorf(bulwark.EConflict, "the authenticator app is already confirmed")
		}
		return bulwark.Errorf(bulwark.EFailedPrecondition, "no authenticator app is enrolled")
	}
	action := "auth.reauth"
	if confirm {
		action = "mfa.totp_enrol"
	} else if p.Stage == bulwark.StageMFA {
		action = "auth.mfa"
	}
	step := matchTOTP(st.Secret, code, s.opt.Now())
	if step == 0 || step <= st.LastStep {
		return s.factorFailed(ctx, action, errCode)
	}
	if err := use(step); err != nil {
		if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
			return s.factorFailed(ctx, action, err)
		}
		return err
	}
	return s.db.ClearFailures(ctx, key)
}

// factorFailed records a failed second-factor verification of the
// session's account (outcome failure, action the one the verification
// records on success), as a failed password is, and returns err, or the
// audit write's error if that failed.
func (s *Service) factorFailed(ctx context.Context, action string, err error) error {
	if aerr := s.db.AuditFactorFailure(ctx, action); aerr != nil {
		return aerr
	}
	return err
}

// ConfirmTOTP finishes TOTP enrolment with a first code. A tenant user
// gets ten recovery codes, shown once. Every other session of the account
// ends; the caller gets a new one.
// The confirmation, the codes, the end of the other sessions and their
// entries are one transaction (store.DB.ConfirmTOTP).
func (s *Service) ConfirmTOTP(ctx context.Context, code string) (*bulwark.Session, []string, error) {
	var codes, hashes []string
	if p := bulwark.FromContext(ctx); p != nil && p.Kind == bulwark.KindUser {
		codes, hashes = newRecoveryCodes(p)
	}
	var sess *bulwark.Session
	err := s.checkTOTP(ctx, code, true, func(step int64) error {
		var err error
		sess, err = s.db.ConfirmTOTP(ctx, step, hashes)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.notifyAccount(ctx, "An authenticator app was added to your Bulwark account",
		"An authenticator app was just added as a second factor to your account, and your other sessions were signed out.\n\nIf this was not you, tell your administrator at once.")
	return sess, codes, nil
}

// VerifyTOTP completes a login that owes a second factor.
func (s *Service) VerifyTOTP(ctx context.Context, code string) (*bulwark.Session, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Stage != bulwark.StageMFA {
		return nil, bulwark.Errorf(bulwark.EFailedPrecondition, "this session owes no second factor")
	}
	if err := s.checkTOTP(ctx, code, false, s.useTOTPStep(ctx)); err != nil {
		return nil, err
	}
	return s.db.CompleteMFA(ctx)
}

// recoveryHash is the stored form of a recovery code. Codes carry 80 bits
// from crypto/rand, so a plain hash is enough (as for bearer secrets).
func recoveryHash(p *bulwark.Principal, code string) string {
	code = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	sum := sha256.Sum256([]byte(p.TenantID + "\x00" + p.ID + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// useTOTPStep spends a step of the session's confirmed enrolment.
func (s *Service) useTOTPStep(ctx context.Context) func(int64) error {
	return func(step int64) error { return s.db.UseTOTPStep(ctx, step) }
}

// newRecoveryCodes makes a new set of recovery codes for p, and their
// stored forms.
func newRecoveryCodes(p *bulwark.Principal) (codes, hashes []string) {
	codes = make([]string, RecoveryCodes)
	hashes = make([]string, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 10)
		rand.Read(b)
		c := base32.StdEncoding.EncodeToString(b) // 16 characters
		codes[i] = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		hashes[i] = recoveryHash(p, codes[i])
	}
	return codes, hashes
}

// RegenerateRecoveryCodes replaces the user's recovery codes (step-up).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context) ([]string, error) {
	p := bulwark.FromContext(ctx)
	if err := p.RequireRecentAuth(s.opt.Now()); err != nil {
		return nil, err
	}
	codes, hashes := newRecoveryCodes(p)
	if err := s.db.SetRecoveryCodes(ctx, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// UseRecoveryCode completes a login that owes a second factor with one
// of the user's recovery codes; the code is spent.
func (s *Service) UseRecoveryCode(ctx context.Context, code string) (*bulwark.Session, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Stage != bulwark.StageMFA || p.Kind != bulwark.KindUser {
		return nil, bulwark.Errorf(bulwark.EFailedPrecondition, "this session owes no second factor")
	}
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return nil, err
	}
	key := store.FailureKey("totp", p.TenantID, p.ID)
	if err := s.db.Attempt(ctx, key); err != nil {
		return nil, err
	}
	if len(code) > 64 {
		return nil, s.factorFailed(ctx, "auth.mfa", errCode)
	}
	if err := s.db.UseRecoveryCode(ctx, recoveryHash(p, code)); err != nil {
		if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
			return nil, s.factorFailed(ctx, "auth.mfa", err)
		}
		return nil, err
	}
	if err := s.db.ClearFailures(ctx, key); err != nil {
		return nil, err
	}
	sess, err := s.db.CompleteMFA(ctx)
	if err != nil {
		return nil, err
	}
	s.notifyAccount(ctx, "A recovery code was used on your Bulwark account",
		"A recovery code was just used to sign in to your account.\n\nIf this was not you, tell your administrator at once.")
	return sess, nil
}

// RemoveTOTP removes the account's authenticator app (step-up); other
// sessions end, in the removal's transaction.
func (s *Service) RemoveTOTP(ctx context.Context) (*bulwark.Session, error) {
	sess, err := s.db.RemoveTOTP(ctx)
	if err != nil {
		return nil, err
	}
	s.notifyAccount(ctx, "An authenticator app was removed from your Bulwark account",
		"The authenticator app was just removed from your account, and your other sessions were signed out.\n\nIf this was not you, tell your administrator at once.")
	return sess, nil
}

// Reauthenticate proves the session's person again (step-up) with their
// password or, if they have one, a TOTP code, and returns a new session.
func (s *Service) Reauthenticate(ctx context.Context, pw, code string) (*bulwark.Session, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Kind != bulwark.KindUser || p.SessionID == "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only a user's login session can re-authenticate")
	}
	if code != "" {
		if err := s.checkTOTP(ctx, code, false, s.useTOTPStep(ctx)); err != nil {
			return nil, err
		}
		return s.db.Reauthenticate(ctx)
	}
	pt, err := s.db.SelfPasswordTarget(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkCurrentPassword(ctx, pt, pw); err != nil {
		return nil, err
	}
	return s.db.Reauthenticate(ctx)
}

// notifyAccount mails a notice to the tenant user of the session in ctx.
func (s *Service) notifyAccount(ctx context.Context, subject, body string) {
	email, err := s.db.AccountEmail(ctx)
	if err != nil || email == "" {
		return
	}
	s.notify(email, subject, body)
}

// ResetUserMFA removes every second factor of a user of the caller's
// tenant (users.manage, step-up, audited).
func (s *Service) ResetUserMFA(ctx context.Context, userID string) error {
	return s.db.ResetUserMFA(ctx, userID)
}
