// Package auth implements bulwark.AuthService: password logins, second
// factors, bearer authentication, activation, password change and reset,
// on top of the store. It owns the decisions that need a plaintext
// password (policy, history, hashing) and the in-process defences
// (per-address rate limits); everything that must hold across nodes
// (failure counters, sessions) lives in the store.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/addrlimit"
	"github.com/bulwarkhq/bulwark/internal/mail"
	"github.com/bulwarkhq/bulwark/internal/password"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Options configures the service.
type Options struct {
	// Params are the Argon2id parameters; default password.Default.
	Params password.Params
	// HashLimit caps concurrent hashes; default the number of CPUs.
	HashLimit int
	// HashWait is how long a login may wait for a hashing slot before it is
	// shed with 429. Default 2s.
	HashWait time.Duration
	// Mailer sends reset links and security notices. Nil drops them (and
	// logs that it did).
	Mailer mail.Mailer
	// BaseURL is the public URL reset links point at, such as
	// https://bulwark.example.com. Default https://127.0.0.1:8443.
	BaseURL string
	// ResetTTL is how long a reset link works. Default 30 minutes.
	ResetTTL time.Duration
	// ResetFloor is the least time a password-reset request takes to
	// answer, whether or not the account exists: an existing account's
	// request also writes the reset secret and its audit entry, several
	// times the cost of the lookup, which would otherwise tell accounts
	// apart by timing. Default 250ms.
	ResetFloor time.Duration
	// Pause waits d (nothing when d <= 0), or less if ctx ends. Default a
	// timer; tests replace it.
	Pause func(ctx context.Context, d time.Duration)
	// AddrRate and AddrBurst bound unauthenticated credential attempts
	// per client address (logins, resets, second factors). Defaults 1/s
	// with a burst of 100.
	AddrRate  float64
	AddrBurst int
	// RPID and RPOrigins name the WebAuthn relying party; by default
	// they come from BaseURL (a loopback host becomes "localhost").
	RPID      string
	RPOrigins []string
	// Now is the clock (TOTP steps, rate limits). Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service authenticates against a store.
type Service struct {
	db     *store.DB
	hasher *password.Hasher
	wait   time.Duration
	opt    Options
	addrs  *addrlimit.Limiter
	wa     *webauthn.WebAuthn // nil when the relying party is unusable
}

var (
	_ bulwark.AuthService    = (*Service)(nil)
	_ bulwark.AccountService = (*Service)(nil)
)

// New returns a Service.
func New(db *store.DB, opt Options) *Service {
	if opt.Params == (password.Params{}) {
		opt.Params = password.Default
	}
	if opt.HashWait <= 0 {
		opt.HashWait = 2 * time.Second
	}
	if opt.BaseURL == "" {
		opt.BaseURL = "https://127.0.0.1:8443"
	}
	if opt.ResetTTL <= 0 {
		opt.ResetTTL = 30 * time.Minute
	}
	if opt.ResetFloor <= 0 {
		opt.ResetFloor = 250 * time.Millisecond
	}
	if opt.Pause == nil {
		opt.Pause = pause
	}
	if opt.AddrRate <= 0 {
		opt.AddrRate = 1
	}
	if opt.AddrBurst <= 0 {
		opt.AddrBurst = 100
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		db:     db,
		hasher: password.NewHasher(opt.Params, opt.HashLimit),
		wait:   opt.HashWait,
		opt:    opt,
		addrs:  addrlimit.New(opt.AddrRate, opt.AddrBurst, errAddrLimited),
	}
	wa, err := webAuthnConfig(opt)
	if err != nil {
		opt.Logger.Error("passkeys disabled: bad relying party configuration", "err", err)
	} else {
		s.wa = wa
	}
	return s
}

// CheckPassword applies the password rules that hold for everyone,
// whatever the tenant's policy: the cap before hashing, valid UTF-8 and
// the 15-character floor of a password that may be the only factor.
func CheckPassword(pw string) error {
	return password.Check(bulwark.DefaultPasswordPolicy, password.Context{}, pw)
}

// errLogin is the answer to every failed login.
var errLogin = bulwark.Errorf(bulwark.EUnauthenticated, "the tenant, email or password is wrong")

func (s *Service) verifier(ctx context.Context, pw string) store.Verifier {
	return func(stored string) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, s.wait)
		defer cancel()
		ok, needsRehash, err := s.hasher.Verify(ctx, stored, password.Normalize(pw))
		if err != nil {
			return false, "", shed(err)
		}
		if !needsRehash {
			return ok, "", nil
		}
		h, err := s.hasher.Hash(ctx, password.Normalize(pw))
		if err != nil {
			// The login still succeeds; the upgrade waits for next time.
			return ok, "", nil
		}
		return ok, h, nil
	}
}

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	h, err := s.hasher.Hash(ctx, password.Normalize(pw))
	if err != nil {
		return "", shed(err)
	}
	return h, nil
}

func shed(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return &bulwark.Error{Code: bulwark.ERateLimited, Message: "too many logins at once; retry in a few seconds", Err: err}
	}
	return err
}

// compliant reports whether pw still meets the policy in pt.
func compliant(pw string) store.Compliance {
	return func(pt *store.PasswordTarget) bool {
		return password.Check(pt.Policy, contextOf(pt), pw) == nil
	}
}

func contextOf(pt *store.PasswordTarget) password.Context {
	return password.Context{TenantName: pt.TenantName, TenantSlug: pt.TenantSlug, Email: pt.Email}
}

// Login implements bulwark.AuthService.
func (s *Service) Login(ctx context.Context, c bulwark.Credentials) (*bulwark.Session, error) {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return nil, err
	}
	if len(c.Password) > bulwark.MaxPasswordBytes {
		return nil, errLogin
	}
	sess, err := s.db.PasswordLogin(ctx, c, s.verifier(ctx, c.Password), compliant(c.Password))
	if err != nil {
		return nil, err
	}
	if sess.NewDevice {
		if email, err := bulwark.NormalizeEmail("email", c.Email); err == nil {
			ri := bulwark.RequestInfoFrom(ctx)
			s.notify(email, "New sign-in to your Bulwark account",
				"Your account in "+c.Tenant+" was just signed in to from a device it had not used before.\n\nAddress: "+ri.ClientIP+"\nBrowser: "+ri.UserAgent+
					"\n\nIf this was not you, change your password and tell your administrator.")
		}
	}
	return sess, nil
}

// OperatorLogin implements bulwark.AuthService. The session it returns is
// never complete: operators always owe a second factor (AUTH-8).
func (s *Service) OperatorLogin(ctx context.Context, email, pw string) (*bulwark.Session, error) {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return nil, err
	}
	if len(pw) > bulwark.MaxPasswordBytes {
		return nil, errLogin
	}
	return s.db.OperatorPasswordLogin(ctx, email, s.verifier(ctx, pw))
}

// Authenticate implements bulwark.AuthService.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*bulwark.Principal, error) {
	return s.db.Authenticate(ctx, bearer)
}

// newPassword judges pw against pt's policy and reuse history, then
// hashes it.
func (s *Service) newPassword(ctx context.Context, pt *store.PasswordTarget, pw string) (string, error) {
	if err := password.Check(pt.Policy, contextOf(pt), pw); err != nil {
		return "", err
	}
	for _, old := range pt.History {
		ctx2, cancel := context.WithTimeout(ctx, s.wait)
		ok, _, err := s.hasher.Verify(ctx2, old, password.Normalize(pw))
		cancel()
		if err != nil {
			return "", shed(err)
		}
		if ok {
			return "", bulwark.FieldError("password", "was used recently; this organisation does not allow reusing the last "+strconv.Itoa(pt.Policy.History)+" passwords")
		}
	}
	return s.hash(ctx, pw)
}

// Activate implements bulwark.AuthService.
func (s *Service) Activate(ctx context.Context, token, pw string) error {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return err
	}
	if err := CheckPassword(pw); err != nil && len(pw) > bulwark.MaxPasswordBytes {
		return err // refused before anything else, without a lookup
	}
	// Refuse a bad secret before spending a hash on it.
	pt, err := s.db.ActivationTarget(ctx, token)
	if err != nil {
		return err
	}
	h, err := s.newPassword(ctx, pt, pw)
	if err != nil {
		return err
	}
	return s.db.Activate(ctx, token, h)
}

// Logout implements bulwark.AuthService.
func (s *Service) Logout(ctx context.Context) error { return s.db.Logout(ctx) }

var errCurrentPassword = bulwark.Errorf(bulwark.EForbidden, "the current password is wrong")

// checkCurrentPassword verifies the password of the user in ctx, whose
// target pt is. Guessing it through a door that asks for it (changing the
// password, re-authenticating) is throttled like a login: each try counts
// as a failure of the account until one succeeds.
func (s *Service) checkCurrentPassword(ctx context.Context, pt *store.PasswordTarget, pw string) error {
	key := store.FailureKey("user", bulwark.FromContext(ctx).TenantSlug, pt.Email)
	if err := s.db.Attempt(ctx, key); err != nil {
		return err
	}
	if len(pw) > bulwark.MaxPasswordBytes {
		return errCurrentPassword
	}
	ok, _, err := s.verifier(ctx, pw)(pt.CurrentHash)
	if err != nil {
		return err
	}
	if !ok {
		return errCurrentPassword
	}
	return s.db.ClearFailures(ctx, key)
}

// ChangePassword sets a new password for the user in ctx. It needs the
// current password (ASVS V6.2.3), applies the tenant's policy and reuse
// history, ends every session of the user and returns a new one for the
// caller. The user is told by email.
func (s *Service) ChangePassword(ctx context.Context, current, next string) (*bulwark.Session, error) {
	if len(current) > bulwark.MaxPasswordBytes {
		return nil, errCurrentPassword
	}
	pt, err := s.db.SelfPasswordTarget(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkCurrentPassword(ctx, pt, current); err != nil {
		return nil, err
	}
	h, err := s.newPassword(ctx, pt, next)
	if err != nil {
		return nil, err
	}
	sess, err := s.db.ChangePassword(ctx, h)
	if err != nil {
		return nil, err
	}
	s.notify(pt.Email, "Your Bulwark password was changed",
		"The password of your account in "+pt.TenantName+" was just changed, and every session was signed out.\n\nIf this was not you, reset your password at once and tell your administrator.")
	return sess, nil
}

// RequestPasswordReset emails a one-time reset link (valid ResetTTL) to
// an active user. It answers the same, in the same time, whether or not
// the account exists: not before ResetFloor has passed since it began
// (the secret and audit entry of an existing account are written within
// it), and the mail is sent in the background.
func (s *Service) RequestPasswordReset(ctx context.Context, tenant, email string) error {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return err
	}
	start := s.opt.Now()
	defer func() { s.opt.Pause(ctx, s.opt.ResetFloor-s.opt.Now().Sub(start)) }()
	r, err := s.db.CreatePasswordReset(ctx, tenant, email, s.opt.ResetTTL)
	if err != nil || r == nil {
		return err
	}
	// The secret is in the fragment: browsers do not send it to the
	// server, so it never reaches access logs or Referer headers.
	link := s.opt.BaseURL + "/console/reset#token=" + r.Token
	s.notify(r.Email, "Reset your Bulwark password",
		"Someone asked to reset the password of your account in "+tenant+".\n\nTo choose a new password, open this link within "+s.opt.ResetTTL.String()+":\n\n"+link+
			"\n\nThe link works once. Your second factor (authenticator app or passkey) stays as it is.\nIf you did not ask for this, ignore this message.")
	return nil
}

// ResetPassword uses a reset secret to set a new password. Second factors
// are kept: the next login still asks for them.
func (s *Service) ResetPassword(ctx context.Context, token, pw string) error {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return err
	}
	pt, err := s.db.ResetTarget(ctx, token)
	if err != nil {
		return err
	}
	h, err := s.newPassword(ctx, pt, pw)
	if err != nil {
		return err
	}
	if err := s.db.ResetPassword(ctx, token, h); err != nil {
		return err
	}
	s.notify(pt.Email, "Your Bulwark password was reset",
		"The password of your account in "+pt.TenantName+" was reset with an emailed link, and every session was signed out.\n\nIf this was not you, tell your administrator at once.")
	return nil
}

// pause is the default Options.Pause.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// notify sends a security notice in the background: a slow mail server
// must not slow a login, and timing must not tell whether mail was sent.
func (s *Service) notify(to, subject, body string) {
	if s.opt.Mailer == nil {
		s.opt.Logger.Warn("no mailer configured; notice not sent", "subject", subject)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.opt.Mailer.Send(ctx, mail.Message{To: to, Subject: subject, Body: body}); err != nil {
			s.opt.Logger.Error("send notice", "subject", subject, "err", err)
			return
		}
		// The address is personal data: only the subject is logged.
		s.opt.Logger.Info("mail sent", "subject", subject)
	}()
}
