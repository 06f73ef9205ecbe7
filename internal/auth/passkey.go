package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Passkeys (WebAuthn, AUTH-3): phishing-resistant second factors bound to
// the relying party ID and origin. User verification is required at
// registration and at every login; a sign-count regression (a possibly
// cloned authenticator) refuses the login and tells the user.

// webAuthnConfig derives the relying party from BaseURL unless given.
// WebAuthn does not accept an IP address as RP ID, so a loopback base URL
// maps to "localhost": browse https://localhost:PORT to use passkeys on a
// development install.
func webAuthnConfig(opt Options) (*webauthn.WebAuthn, error) {
	rpID, origins := opt.RPID, opt.RPOrigins
	if rpID == "" || len(origins) == 0 {
		u, err := url.Parse(opt.BaseURL)
		if err != nil {
			return nil, err
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			host = "localhost"
		}
		if rpID == "" {
			rpID = host
		}
		if len(origins) == 0 {
			o := u.Scheme + "://" + host
			if u.Port() != "" {
				o += ":" + u.Port()
			}
			origins = []string{o}
		}
	}
	return webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Bulwark", RPOrigins: origins})
}

// passkeyUser adapts a tenant user or an operator to go-webauthn. The
// user handle is the account id: opaque, no personal data.
type passkeyUser struct {
	p     *bulwark.Principal
	keys  []store.Passkey
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte          { return []byte(u.p.ID) }
func (u *passkeyUser) WebAuthnName() string        { return u.label() + ":" + u.p.ID }
func (u *passkeyUser) WebAuthnDisplayName() string { return u.label() }

func (u *passkeyUser) label() string {
	if u.p.Kind == bulwark.KindOperator {
		return "operator"
	}
	return u.p.TenantSlug
}
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) passkeyUser(ctx context.Context) (*passkeyUser, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || (p.Kind != bulwark.KindUser && p.Kind != bulwark.KindOperator) || p.SessionID == "" {
		return nil, bulwark.Errorf(bulwark.EForbidden, "only a login session can use passkeys")
	}
	if s.wa == nil {
		return nil, bulwark.Errorf(bulwark.EUnavailable, "passkeys are not configured on this server")
	}
	keys, err := s.db.Passkeys(ctx)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{p: p, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(k.Credential), &c); err != nil {
			continue
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// Passkeys lists the session user's passkeys.
func (s *Service) Passkeys(ctx context.Context) ([]bulwark.PasskeyInfo, error) {
	keys, err := s.db.Passkeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bulwark.PasskeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, bulwark.PasskeyInfo{ID: k.ID, Name: k.Name})
	}
	return out, nil
}

// BeginPasskeyRegistration returns the options for
// navigator.credentials.create. Adding a factor to an account that has
// one needs a recent login.
func (s *Service) BeginPasskeyRegistration(ctx context.Context) (json.RawMessage, error) {
	u, err := s.passkeyUser(ctx)
	if err != nil {
		return nil, err
	}
	if u.p.Stage == bulwark.StageMFA {
		return nil, bulwark.Errorf(bulwark.EForbidden, "complete the second factor first")
	}
	if u.p.Stage == "" {
		if err := u.p.RequireRecentAuth(s.opt.Now()); err != nil {
			return nil, err
		}
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, err
	}
	return s.keepCeremony(ctx, "register", session, creation)
}

func (s *Service) keepCeremony(ctx context.Context, kind string, session *webauthn.SessionData, options any) (json.RawMessage, error) {
	sd, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	if err := s.db.SetChallenge(ctx, kind+":"+string(sd)); err != nil {
		return nil, err
	}
	return json.Marshal(options)
}

func (s *Service) takeCeremony(ctx context.Context, kind string) (*webauthn.SessionData, error) {
	raw, err := s.db.TakeChallenge(ctx)
	if err != nil {
		return nil, err
	}
	data, ok := strings.CutPrefix(raw, kind+":")
	if !ok {
		return nil, bulwark.Errorf(bulwark.EFailedPrecondition, "no passkey ceremony of this kind is pending; start again")
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(data), &sd); err != nil {
		return nil, err
	}
	return &sd, nil
}

var errPasskey = bulwark.Errorf(bulwark.EUnauthenticated, "the passkey could not be verified")

// FinishPasskeyRegistration verifies the authenticator's response and
// stores the passkey. Other sessions end; the caller gets a new one.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, name string, response []byte) (*bulwark.Session, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "passkey"
	}
	if utf8.RuneCountInString(name) > 64 {
		return nil, bulwark.FieldError("name", "must be at most 64 characters")
	}
	u, err := s.passkeyUser(ctx)
	if err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, "register")
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, &bulwark.Error{Code: bulwark.EInvalid, Message: "the passkey response is malformed", Err: err}
	}
	cred, err := s.wa.CreateCredential(u, *sd, parsed)
	if err != nil {
		return nil, &bulwark.Error{Code: errPasskey.Code, Message: errPasskey.Message, Err: err}
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	// Stored, other sessions ended and audited in one transaction.
	sess, err := s.db.AddPasskey(ctx, store.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: name, Credential: string(raw)})
	if err != nil {
		return nil, err
	}
	s.notifyAccount(ctx, "A passkey was added to your Bulwark account",
		"A passkey was just added as a second factor to your account, and your other sessions were signed out.\n\nIf this was not you, tell your administrator at once.")
	return sess, nil
}

// BeginPasskeyLogin returns the options for navigator.credentials.get,
// for a session that owes its second factor (or wants to step up).
func (s *Service) BeginPasskeyLogin(ctx context.Context) (json.RawMessage, error) {
	if err := s.addrs.Allow(ctx, s.opt.Now()); err != nil {
		return nil, err
	}
	u, err := s.passkeyUser(ctx)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, bulwark.Errorf(bulwark.EFailedPrecondition, "no passkey is registered")
	}
	assertion, session, err := s.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	return s.keepCeremony(ctx, "login", session, assertion)
}

// FinishPasskeyLogin verifies an assertion. For a StageMFA session it
// completes the login; for a complete one it is a step-up.
func (s *Service) FinishPasskeyLogin(ctx context.Context, response []byte) (*bulwark.Session, error) {
	u, err := s.passkeyUser(ctx)
	if err != nil {
		return nil, err
	}
	key := store.FailureKey("totp", u.p.TenantID, u.p.ID)
	if err := s.db.Attempt(ctx, key); err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, "login")
	if err != nil {
		return nil, err
	}
	action := "auth.reauth"
	if u.p.Stage == bulwark.StageMFA {
		action = "auth.mfa"
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, s.factorFailed(ctx, action, &bulwark.Error{Code: bulwark.EInvalid, Message: "the passkey response is malformed", Err: err})
	}
	cred, err := s.wa.ValidateLogin(u, *sd, parsed)
	if err != nil {
		return nil, s.factorFailed(ctx, action, &bulwark.Error{Code: errPasskey.Code, Message: errPasskey.Message, Err: err})
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	if cred.Authenticator.CloneWarning {
		// The signature counter went backwards: two copies of this
		// authenticator may exist. Refuse, and tell the owner.
		s.notifyAccount(ctx, "A passkey on your Bulwark account may have been copied",
			"A sign-in with one of your passkeys was refused because its signature counter went backwards, which can mean the passkey was copied.\n\nRemove that passkey and tell your administrator.")
		s.opt.Logger.Warn("passkey clone warning; login refused", "tenant", u.p.TenantSlug, "user", u.p.ID)
		return nil, s.factorFailed(ctx, action, bulwark.Errorf(bulwark.EUnauthenticated, "this passkey may have been copied and cannot be used; use another factor and remove it"))
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	if err := s.db.UpdatePasskey(ctx, store.Passkey{ID: id, Credential: string(raw)}); err != nil {
		return nil, err
	}
	if err := s.db.ClearFailures(ctx, key); err != nil {
		return nil, err
	}
	if u.p.Stage == bulwark.StageMFA {
		return s.db.CompleteMFA(ctx)
	}
	return s.db.Reauthenticate(ctx)
}

// RemovePasskey deletes one of the session user's passkeys (step-up).
func (s *Service) RemovePasskey(ctx context.Context, id string) (*bulwark.Session, error) {
	// Deleted, other sessions ended and audited in one transaction.
	sess, err := s.db.RemovePasskey(ctx, id)
	if err != nil {
		return nil, err
	}
	s.notifyAccount(ctx, "A passkey was removed from your Bulwark account",
		"A passkey was just removed from your account, and your other sessions were signed out.\n\nIf this was not you, tell your administrator at once.")
	return sess, nil
}
