// Package auth implements bulwark.AuthService: password logins, bearer
// authentication and account activation, on top of the store.
package auth

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/password"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Password length bounds (NIST SP 800-63B-4): at least 15 characters when a
// password alone can log in; at least 64 allowed; a cap checked before
// hashing so a huge password cannot make hashing a denial of service.
const (
	MinPasswordLen   = 15
	MaxPasswordBytes = 1024
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
}

// Service authenticates against a store.
type Service struct {
	db     *store.DB
	hasher *password.Hasher
	wait   time.Duration
}

var _ bulwark.AuthService = (*Service)(nil)

// New returns a Service.
func New(db *store.DB, opt Options) *Service {
	if opt.Params == (password.Params{}) {
		opt.Params = password.Default
	}
	if opt.HashWait <= 0 {
		opt.HashWait = 2 * time.Second
	}
	return &Service{db: db, hasher: password.NewHasher(opt.Params, opt.HashLimit), wait: opt.HashWait}
}

// normalize applies NFKC, so the same password typed on two keyboards
// hashes the same; it never truncates or changes case.
func normalize(pw string) string { return norm.NFKC.String(pw) }

// CheckPassword applies the password rules that hold for everyone. The
// per-tenant policy (blocklists, history, MFA-dependent minimums) builds on
// this.
func CheckPassword(pw string) error {
	if len(pw) > MaxPasswordBytes {
		return bulwark.FieldError("password", "must be at most 1024 bytes")
	}
	if !utf8.ValidString(pw) {
		return bulwark.FieldError("password", "must be valid UTF-8")
	}
	if utf8.RuneCountInString(normalize(pw)) < MinPasswordLen {
		return bulwark.FieldError("password", "must be at least 15 characters; a passphrase of a few words is easy to remember")
	}
	return nil
}

func (s *Service) verifier(ctx context.Context, pw string) store.Verifier {
	return func(stored string) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, s.wait)
		defer cancel()
		ok, needsRehash, err := s.hasher.Verify(ctx, stored, normalize(pw))
		if err != nil {
			return false, "", shed(err)
		}
		if !needsRehash {
			return ok, "", nil
		}
		h, err := s.hasher.Hash(ctx, normalize(pw))
		if err != nil {
			// The login still succeeds; the upgrade waits for next time.
			return ok, "", nil
		}
		return ok, h, nil
	}
}

func shed(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return &bulwark.Error{Code: bulwark.ERateLimited, Message: "too many logins at once; retry in a few seconds", Err: err}
	}
	return err
}

// Login implements bulwark.AuthService.
func (s *Service) Login(ctx context.Context, c bulwark.Credentials) (*bulwark.Session, error) {
	if len(c.Password) > MaxPasswordBytes {
		return nil, bulwark.Errorf(bulwark.EUnauthenticated, "the tenant, email or password is wrong")
	}
	return s.db.PasswordLogin(ctx, c, s.verifier(ctx, c.Password))
}

// OperatorLogin implements bulwark.AuthService.
func (s *Service) OperatorLogin(ctx context.Context, email, pw string) (*bulwark.Session, error) {
	if len(pw) > MaxPasswordBytes {
		return nil, bulwark.Errorf(bulwark.EUnauthenticated, "the tenant, email or password is wrong")
	}
	return s.db.OperatorPasswordLogin(ctx, email, s.verifier(ctx, pw))
}

// Authenticate implements bulwark.AuthService.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*bulwark.Principal, error) {
	return s.db.Authenticate(ctx, bearer)
}

// Activate implements bulwark.AuthService.
func (s *Service) Activate(ctx context.Context, token, pw string) error {
	if err := CheckPassword(pw); err != nil {
		return err
	}
	// Refuse a bad secret before spending a hash on it.
	if err := s.db.CheckActivation(ctx, token); err != nil {
		return err
	}
	ctx2, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	h, err := s.hasher.Hash(ctx2, normalize(pw))
	if err != nil {
		return shed(err)
	}
	return s.db.Activate(ctx, token, h)
}

// Logout implements bulwark.AuthService.
func (s *Service) Logout(ctx context.Context) error { return s.db.Logout(ctx) }
