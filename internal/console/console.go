// Package console is Bulwark's server-rendered browser console: sign-in,
// second factors (authenticator app, passkeys), enrolment, password change
// and reset. It is a separate mux from the API (STYLE.md: the console has
// cookies, the API has none), mounted under /console on the same HTTPS
// listener.
//
// Browser security: the session lives in a __Host- cookie (Secure,
// HttpOnly, SameSite=Lax, Path=/), state-changing requests pass
// http.CrossOriginProtection (Sec-Fetch-Site / Origin), and the Content
// Security Policy allows scripts only from this origin: the one script,
// console.js, is embedded; no page has inline script or style.
package console

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/pquerna/otp"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/headers"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.js
var consoleJS []byte

// CookieName is the session cookie. The __Host- prefix makes the browser
// refuse it unless it is Secure, has Path=/ and no Domain: no subdomain
// can set or overwrite it.
const CookieName = "__Host-bulwark"

// Deps are the services the console calls.
type Deps struct {
	Auth     bulwark.AuthService
	Account  bulwark.AccountService
	Sessions bulwark.SessionService  // the sessions page
	Settings bulwark.SettingsService // the tenant settings page (admins)
	// EndSession, if set, logs out through logout and returns the
	// identity provider's single-logout URL when the session came from a
	// SAML login (sso.Service.EndSession); nil logs out locally only.
	EndSession func(ctx context.Context, logout func(context.Context) error) (*sso.LogoutAnswer, error)
	// SSO, if set, serves the single sign-on page (sso.go).
	SSO *sso.Service
	// Audit, if set, records every refusal (EForbidden) a page answers
	// with, as the API's middleware does (authz.deny, ASVS V16.3.2).
	Audit  bulwark.AuditService
	Logger *slog.Logger
}

// Console serves the browser pages.
type Console struct {
	d    Deps
	tmpl *template.Template
	h    http.Handler
}

// New builds the console.
func New(d Deps) *Console {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{d: d, tmpl: template.Must(template.ParseFS(templateFS, "templates/*.html"))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/login", c.page("login"))
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.logout)
	mux.HandleFunc("GET /console/mfa", c.needStage(bulwark.StageMFA, c.page("mfa")))
	mux.HandleFunc("POST /console/mfa", c.needStage(bulwark.StageMFA, c.verifyMFA))
	mux.HandleFunc("GET /console/enrol", c.enrolPage)
	mux.HandleFunc("POST /console/enrol", c.confirmTOTP)
	mux.HandleFunc("GET /console/password", c.page("password"))
	mux.HandleFunc("POST /console/password", c.changePassword)
	mux.HandleFunc("GET /console/forgot", c.page("forgot"))
	mux.HandleFunc("POST /console/forgot", c.forgot)
	mux.HandleFunc("GET /console/reset", c.page("reset"))
	mux.HandleFunc("POST /console/reset", c.reset)
	mux.HandleFunc("POST /console/passkey/register", c.json(func(r *http.Request) (any, error) { return c.d.Account.BeginPasskeyRegistration(r.Context()) }))
	mux.HandleFunc("POST /console/passkey/register/finish", c.passkeyFinish(true))
	mux.HandleFunc("POST /console/passkey/login", c.json(func(r *http.Request) (any, error) { return c.d.Account.BeginPasskeyLogin(r.Context()) }))
	mux.HandleFunc("POST /console/passkey/login/finish", c.passkeyFinish(false))
	mux.HandleFunc("GET /console/sessions", c.complete(c.sessions))
	mux.HandleFunc("POST /console/sessions/revoke", c.complete(c.revokeSession))
	mux.HandleFunc("GET /console/settings", c.complete(c.settings))
	mux.HandleFunc("POST /console/settings", c.complete(c.saveSettings))
	c.ssoRoutes(mux)
	mux.HandleFunc("GET /console/static/console.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(consoleJS)
	})
	// CSRF: a cross-site POST (Sec-Fetch-Site: cross-site, or a foreign
	// Origin) is refused before any handler runs.
	csrf := http.NewCrossOriginProtection()
	c.h = headers.Secure(csp, limitBody(c.authenticate(csrf.Handler(mux))))
	return c
}

// maxBody bounds a console request's body, as the API's (internal/web):
// forms are small, and a SAML response posted to the ACS stays well
// under it. Without it a form's parser buffers up to 42 MiB of a
// multipart body in memory, before any authentication.
const maxBody = 1 << 20

// limitBody answers 413 to a body declared larger than maxBody and cuts
// an undeclared one there (a form then reads as cut short and is refused).
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// Handler serves /console/...; mount it on the HTTPS listener.
func (c *Console) Handler() http.Handler { return c.h }

// csp lets pages load only their own script, style and images: no inline
// script, no form posting elsewhere, no framing.
const csp = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// authenticate turns the session cookie into a Principal, and records the
// client address for per-address limits.
func (c *Console) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ctx := bulwark.WithRequestInfo(r.Context(), bulwark.RequestInfo{ClientIP: host, UserAgent: r.UserAgent()})
		if ck, err := r.Cookie(CookieName); err == nil && ck.Value != "" {
			if p, err := c.d.Auth.Authenticate(ctx, ck.Value); err == nil && p.Kind == bulwark.KindUser {
				ctx = bulwark.NewContext(ctx, p)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// setSession sets the session cookie. It has no Expires: it ends with the
// browser, and the server enforces the idle and absolute timeouts itself.
func setSession(w http.ResponseWriter, s *bulwark.Session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.Token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// next sends the browser to the page the session's stage calls for.
func next(w http.ResponseWriter, r *http.Request, stage string) {
	to := "/console/"
	switch stage {
	case bulwark.StageMFA:
		to = "/console/mfa"
	case bulwark.StageEnrol:
		to = "/console/enrol"
	case bulwark.StagePassword:
		to = "/console/password"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type view struct {
	Sessions []*bulwark.SessionInfo
	Settings *bulwark.AuthSettings
	Warnings []string
	Title    string
	Error    string
	Notice   string
	P        *bulwark.Principal
	QR       template.URL
	Secret   string
	Codes    []string
	Stage    string
	Passkeys bool
}

func (c *Console) render(w http.ResponseWriter, name string, v view, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.tmpl.ExecuteTemplate(w, name+".html", v); err != nil {
		c.d.Logger.Error("render console page", "page", name, "err", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, name string, v view, err error) {
	var status int
	status, v.Error = c.failure(r, name, err)
	c.render(w, name, v, status)
}

// failure is the status and the message a console page shows for err:
// the API's status for its code, and for a server-side failure a generic
// message, its cause logged. A refusal is recorded (recordDenial).
func (c *Console) failure(r *http.Request, page string, err error) (int, string) {
	c.recordDenial(r, err)
	status, ok := bulwark.ErrorCode(err).HTTPStatus()
	if !ok || status >= http.StatusInternalServerError {
		c.d.Logger.Error("console", "page", page, "err", err)
		if !ok {
			status = http.StatusInternalServerError
		}
		return status, "something went wrong; try again"
	}
	return status, bulwark.ErrorMessage(err)
}

// recordDenial writes a refusal (EForbidden) of the signed-in principal
// to the audit log in its own transaction, as the API's middleware does:
// the action is the console route. A failure to record is logged; the
// answer is a refusal either way.
func (c *Console) recordDenial(r *http.Request, err error) {
	if c.d.Audit == nil || bulwark.ErrorCode(err) != bulwark.EForbidden {
		return
	}
	p := bulwark.FromContext(r.Context())
	if p == nil {
		return
	}
	action := r.Pattern
	if action == "" {
		action = r.Method + " " + r.URL.Path
	}
	ctx := context.WithoutCancel(r.Context())
	if aerr := c.d.Audit.RecordDenial(ctx, bulwark.Denial{Action: action}); aerr != nil {
		c.d.Logger.Error("recording a denial in the audit log failed", "route", action, "err", aerr)
	}
}

func (c *Console) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.render(w, name, view{P: bulwark.FromContext(r.Context())}, http.StatusOK)
	}
}

func (c *Console) needStage(stage string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := bulwark.FromContext(r.Context())
		if p == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		if p.Stage != stage {
			next(w, r, p.Stage)
			return
		}
		h(w, r)
	}
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	p := bulwark.FromContext(r.Context())
	if p == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	if p.Stage != "" {
		next(w, r, p.Stage)
		return
	}
	c.render(w, "home", view{P: p}, http.StatusOK)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	s, err := c.d.Auth.Login(r.Context(), bulwark.Credentials{Tenant: r.PostFormValue("tenant"), Email: r.PostFormValue("email"), Password: r.PostFormValue("password")})
	if err != nil {
		c.fail(w, r, "login", view{}, err)
		return
	}
	setSession(w, s)
	next(w, r, s.Next)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	var idp *sso.LogoutAnswer
	if bulwark.FromContext(r.Context()) != nil {
		if c.d.EndSession != nil {
			idp, _ = c.d.EndSession(r.Context(), c.d.Auth.Logout)
		} else {
			c.d.Auth.Logout(r.Context())
		}
	}
	clearSession(w)
	if idp != nil {
		c.idpLogout(w, r, idp)
		return
	}
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

func (c *Console) verifyMFA(w http.ResponseWriter, r *http.Request) {
	var s *bulwark.Session
	var err error
	if rc := r.PostFormValue("recovery_code"); rc != "" {
		s, err = c.d.Account.UseRecoveryCode(r.Context(), rc)
	} else {
		s, err = c.d.Account.VerifyTOTP(r.Context(), r.PostFormValue("code"))
	}
	if err != nil {
		c.fail(w, r, "mfa", view{P: bulwark.FromContext(r.Context())}, err)
		return
	}
	setSession(w, s)
	next(w, r, s.Next)
}

func (c *Console) enrolPage(w http.ResponseWriter, r *http.Request) {
	p := bulwark.FromContext(r.Context())
	if p == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	// Showing the page begins an enrolment, replacing a pending secret:
	// a navigation from another site must not (the app the user just
	// scanned would stop matching). Browsers say where it came from.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	v := view{P: p, Stage: p.Stage}
	en, err := c.d.Account.BeginTOTP(r.Context())
	if bulwark.ErrorCode(err) == bulwark.EConflict {
		// An app is enrolled already: offer passkeys only.
		c.render(w, "enrol", v, http.StatusOK)
		return
	}
	if err != nil {
		c.fail(w, r, "enrol", v, err)
		return
	}
	v.Secret = en.Secret
	if key, err := otp.NewKeyFromURL(en.URL); err == nil {
		if img, err := key.Image(200, 200); err == nil {
			if png, err := encodePNG(img); err == nil {
				v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
			}
		}
	}
	c.render(w, "enrol", v, http.StatusOK)
}

func (c *Console) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	p := bulwark.FromContext(r.Context())
	if p == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	s, codes, err := c.d.Account.ConfirmTOTP(r.Context(), r.PostFormValue("code"))
	if err != nil {
		c.fail(w, r, "enrol", view{P: p, Stage: p.Stage, Error: ""}, err)
		return
	}
	setSession(w, s)
	c.render(w, "codes", view{P: p, Codes: codes, Stage: s.Next}, http.StatusOK)
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request) {
	p := bulwark.FromContext(r.Context())
	if p == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	s, err := c.d.Account.ChangePassword(r.Context(), r.PostFormValue("current_password"), r.PostFormValue("new_password"))
	if err != nil {
		c.fail(w, r, "password", view{P: p}, err)
		return
	}
	setSession(w, s)
	next(w, r, s.Next)
}

func (c *Console) forgot(w http.ResponseWriter, r *http.Request) {
	if err := c.d.Account.RequestPasswordReset(r.Context(), r.PostFormValue("tenant"), r.PostFormValue("email")); err != nil {
		c.fail(w, r, "forgot", view{}, err)
		return
	}
	c.render(w, "forgot", view{Notice: "If the account exists, a reset link is on its way. It works once, for 30 minutes."}, http.StatusOK)
}

func (c *Console) reset(w http.ResponseWriter, r *http.Request) {
	if err := c.d.Account.ResetPassword(r.Context(), r.PostFormValue("token"), r.PostFormValue("password")); err != nil {
		c.fail(w, r, "reset", view{}, err)
		return
	}
	clearSession(w)
	c.render(w, "login", view{Notice: "Your password was changed. Sign in with it now."}, http.StatusOK)
}

// json answers a passkey ceremony step with JSON, for console.js.
func (c *Console) json(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if bulwark.FromContext(r.Context()) == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
			return
		}
		v, err := fn(r)
		if err != nil {
			c.recordDenial(r, err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": bulwark.ErrorMessage(err), "code": string(bulwark.ErrorCode(err))})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (c *Console) passkeyFinish(register bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if bulwark.FromContext(r.Context()) == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the request is too large"})
			return
		}
		var s *bulwark.Session
		if register {
			s, err = c.d.Account.FinishPasskeyRegistration(r.Context(), "passkey", body)
		} else {
			s, err = c.d.Account.FinishPasskeyLogin(r.Context(), body)
		}
		if err != nil {
			c.recordDenial(r, err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": bulwark.ErrorMessage(err), "code": string(bulwark.ErrorCode(err))})
			return
		}
		setSession(w, s)
		to := "/console/"
		switch s.Next {
		case bulwark.StagePassword:
			to = "/console/password"
		case bulwark.StageEnrol:
			to = "/console/enrol"
		}
		writeJSON(w, http.StatusOK, map[string]string{"next": to})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// complete serves h only to a complete session.
func (c *Console) complete(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := bulwark.FromContext(r.Context())
		if p == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		if p.Stage != "" {
			next(w, r, p.Stage)
			return
		}
		h(w, r)
	}
}

func (c *Console) sessions(w http.ResponseWriter, r *http.Request) {
	v := view{P: bulwark.FromContext(r.Context())}
	list, err := c.d.Sessions.ListSessions(r.Context())
	if err != nil {
		c.fail(w, r, "sessions", v, err)
		return
	}
	v.Sessions = list
	c.render(w, "sessions", v, http.StatusOK)
}

func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request) {
	if err := c.d.Sessions.RevokeSession(r.Context(), r.PostFormValue("id")); err != nil {
		c.fail(w, r, "sessions", view{P: bulwark.FromContext(r.Context())}, err)
		return
	}
	http.Redirect(w, r, "/console/sessions", http.StatusSeeOther)
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request) {
	v := view{P: bulwark.FromContext(r.Context())}
	s, err := c.d.Settings.AuthSettings(r.Context())
	if err != nil {
		c.fail(w, r, "settings", v, err)
		return
	}
	v.Settings, v.Warnings = s, s.PasswordPolicy.Warnings()
	c.render(w, "settings", v, http.StatusOK)
}

func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request) {
	v := view{P: bulwark.FromContext(r.Context())}
	num := func(name string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
		return n
	}
	var words []string
	for _, w := range strings.Split(r.PostFormValue("blocked_words"), ",") {
		if w = strings.TrimSpace(w); w != "" {
			words = append(words, w)
		}
	}
	in := bulwark.AuthSettings{
		MFA:                    bulwark.MFAMode(r.PostFormValue("mfa")),
		SessionIdleMinutes:     num("session_idle_minutes"),
		SessionAbsoluteMinutes: num("session_absolute_minutes"),
		PasswordPolicy: bulwark.PasswordPolicy{
			MinLength: num("min_length"), History: num("history"), BlockedWords: words, MaxAgeDays: num("max_age_days"),
			RequireLower: r.PostFormValue("require_lower") != "", RequireUpper: r.PostFormValue("require_upper") != "",
			RequireDigit: r.PostFormValue("require_digit") != "", RequireSymbol: r.PostFormValue("require_symbol") != "",
		},
	}
	v.Settings = &in
	s, err := c.d.Settings.SetAuthSettings(r.Context(), in)
	if err != nil {
		c.fail(w, r, "settings", v, err)
		return
	}
	v.Settings, v.Warnings, v.Notice = s, s.PasswordPolicy.Warnings(), "Saved."
	c.render(w, "settings", v, http.StatusOK)
}
