package web

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// Browser single sign-on (AUTH-4, AUTH-5). These routes are public: the
// tenant and provider come from the path, the proof of identity from the
// IdP's signed answer. A successful login sets the same session cookie a
// console password login sets and sends the browser on to the console.
//
// Cross-origin: the ACS and the SLO endpoint receive the IdP's cross-site
// POST by design (SAML HTTP-POST binding), so they take no cross-origin
// check; what protects them is the signature, the InResponseTo bound to
// the browser's binding cookie, and the replay cache. Nothing else here
// accepts a POST.

// sessionCookie is the console's session cookie (console.CookieName).
const sessionCookie = "__Host-bulwark"

// bindingCookie ties a login to the browser that began it. SameSite=None
// because the SAML response arrives as a cross-site POST; __Host- keeps
// it on this exact origin.
const bindingCookie = "__Host-bulwark-sso"

// maxACSBody bounds the posted form (the response is checked again).
const maxACSBody = sso.MaxResponseBytes*4/3 + 16<<10

func noSSO(s *sso.Service) error {
	if s == nil {
		return bulwark.NotFound("identity provider")
	}
	return nil
}

func handleSSOStart(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		loc, binding, err := s.Start(r.Context(), r.PathValue("tenant"), r.PathValue("provider"), r.URL.Query().Get("return_to"))
		if err != nil {
			return err
		}
		setBinding(w, binding)
		http.Redirect(w, r, loc, http.StatusSeeOther)
		return nil
	})
}

// handleSSOStartTenant is the console's "sign in with single sign-on":
// the organisation's slug in the query, its provider chosen by Bulwark.
func handleSSOStartTenant(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		loc, binding, err := s.StartTenant(r.Context(), strings.TrimSpace(r.URL.Query().Get("tenant")), r.URL.Query().Get("return_to"))
		if err != nil {
			return err
		}
		setBinding(w, binding)
		// Not a redirect: the console's form-action 'self' would stop a
		// form submission redirected to the IdP. A page that navigates
		// by itself (meta refresh, no script) starts a new navigation.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		u := html.EscapeString(loc)
		fmt.Fprintf(w, `<!doctype html><meta http-equiv="refresh" content="0;url=%s"><title>Single sign-on</title><p><a href="%s">Continue to your organisation's sign-in</a></p>`, u, u)
		return nil
	})
}

func setBinding(w http.ResponseWriter, binding string) {
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: binding, Path: "/", MaxAge: int(sso.RequestTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
}

func bindingOf(r *http.Request) string {
	if c, err := r.Cookie(bindingCookie); err == nil {
		return c.Value
	}
	return ""
}

// loggedIn sets the session cookie, drops the binding cookie and sends
// the browser to what the session still owes, or to returnTo.
func loggedIn(w http.ResponseWriter, r *http.Request, sess *bulwark.Session, returnTo string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.Token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	to := sso.LocalPath(returnTo)
	if to == "/" {
		to = "/console/"
	}
	switch sess.Next {
	case bulwark.StageMFA:
		to = "/console/mfa"
	case bulwark.StageEnrol:
		to = "/console/enrol"
	case bulwark.StagePassword:
		to = "/console/password"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func handleOIDCCallback(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		sess, to, err := s.OIDCCallback(r.Context(), r.PathValue("tenant"), r.PathValue("provider"), r.URL.Query(), bindingOf(r))
		if err != nil {
			return err
		}
		loggedIn(w, r, sess, to)
		return nil
	})
}

func handleSAMLACS(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxACSBody)
		if err := r.ParseForm(); err != nil {
			return bulwark.Errorf(bulwark.EInvalid, "the SAML response could not be read")
		}
		sess, to, err := s.ACS(r.Context(), r.PathValue("tenant"), r.PathValue("provider"), r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState"), bindingOf(r))
		if err != nil {
			return err
		}
		loggedIn(w, r, sess, to)
		return nil
	})
}

func handleSAMLMetadata(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		b, err := s.Metadata(r.Context(), r.PathValue("tenant"), r.PathValue("provider"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(b)
		return nil
	})
}

// handleSAMLSLO is the single-logout endpoint: GET for the HTTP-Redirect
// binding, POST for HTTP-POST. An IdP's LogoutRequest is answered with
// its signed LogoutResponse (a redirect, or a form the browser posts to
// the IdP); an IdP's LogoutResponse to Bulwark's request ends at the
// console's login page.
func handleSAMLSLO(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		in := sso.SLOInput{RawQuery: r.URL.RawQuery}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxACSBody)
			if err := r.ParseForm(); err != nil {
				return bulwark.Errorf(bulwark.EInvalid, "the SAML message could not be read")
			}
			in = sso.SLOInput{Post: true, Form: r.PostForm}
		}
		ans, to, err := s.SLO(r.Context(), r.PathValue("tenant"), r.PathValue("provider"), in)
		if err != nil {
			return err
		}
		switch {
		case to != "":
			http.Redirect(w, r, sso.LocalPath(to), http.StatusSeeOther)
		case ans == nil:
			w.WriteHeader(http.StatusNoContent)
		case ans.Redirect != "":
			http.Redirect(w, r, ans.Redirect, http.StatusSeeOther)
		default:
			// HTTP-POST binding without script (the CSP allows none): the
			// user presses the button.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, ans.FormHTML())
		}
		return nil
	})
}

// handleLogoutSSO is the API logout: it ends the caller's session and,
// when the session came from a SAML login whose IdP offers single
// logout, answers 200 with the signed LogoutRequest to send the browser
// on with: logout_url (HTTP-Redirect) or logout_form (HTTP-POST: action,
// field, value); otherwise 204 as before.
func handleLogoutSSO(auth bulwark.AuthService, s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if s == nil {
			handleLogout(auth).ServeHTTP(w, r)
			return nil
		}
		ans, err := s.EndSession(r.Context(), auth.Logout)
		switch {
		case err != nil:
			return err
		case ans == nil:
			w.WriteHeader(http.StatusNoContent)
		case ans.Redirect != "":
			encode(w, http.StatusOK, map[string]any{"logout_url": ans.Redirect})
		default:
			encode(w, http.StatusOK, map[string]any{"logout_form": map[string]string{"action": ans.PostURL, "field": ans.PostField, "value": ans.PostValue}})
		}
		return nil
	})
}

// Tenant admin configuration (settings.manage).

func handleListSSOProviders(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		ps, err := s.B.ListSSOProviders(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, map[string]any{"providers": ps})
		return nil
	})
}

// providerView adds the values a tenant admin copies into their IdP.
type providerView struct {
	*sso.Provider
	RedirectURI string `json:"redirect_uri,omitempty"`
	EntityID    string `json:"sp_entity_id,omitempty"`
	ACSURL      string `json:"sp_acs_url,omitempty"`
	MetadataURL string `json:"sp_metadata_url,omitempty"`
	SLOURL      string `json:"sp_slo_url,omitempty"`
	// The SP certificates (PEM): the active one, and the next (before a
	// rollover) or previous (after it) one, if any.
	Certificate     string `json:"sp_certificate,omitempty"`
	NextCertificate string `json:"sp_next_certificate,omitempty"`
	StartURL        string `json:"login_url"`
}

func viewOf(s *sso.Service, r *http.Request, p *sso.Provider) providerView {
	slug := bulwark.FromContext(r.Context()).TenantSlug
	v := providerView{Provider: p, StartURL: s.BaseURL + "/sso/" + slug + "/" + p.ID + "/start"}
	if p.Kind == sso.KindOIDC {
		v.RedirectURI = s.RedirectURI(slug, p.ID)
	} else {
		u := s.URLs(slug, p.ID)
		v.EntityID, v.ACSURL, v.MetadataURL, v.SLOURL = u.EntityID, u.ACS, u.EntityID, u.SLO
		if p.SPKey != nil {
			v.Certificate = p.SPKey.CertPEM()
		}
		if p.SPNextKey != nil {
			v.NextCertificate = p.SPNextKey.CertPEM()
		}
	}
	return v
}

func handleCreateSSOProvider(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[sso.Provider](w, r)
		if err != nil {
			return err
		}
		if err := noSSO(s); err != nil {
			return err
		}
		p, err := s.CreateProvider(r.Context(), in)
		if err != nil {
			return err
		}
		encode(w, http.StatusCreated, viewOf(s, r, p))
		return nil
	})
}

func handleGetSSOProvider(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		p, err := s.B.GetSSOProvider(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, viewOf(s, r, p))
		return nil
	})
}

func handleUpdateSSOProvider(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[sso.Provider](w, r)
		if err != nil {
			return err
		}
		if err := noSSO(s); err != nil {
			return err
		}
		p, err := s.UpdateProvider(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, viewOf(s, r, p))
		return nil
	})
}

func handleDeleteSSOProvider(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		if err := s.B.DeleteSSOProvider(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleGetSSOSettings(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noSSO(s); err != nil {
			return err
		}
		set, err := s.B.GetSSOSettings(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, set)
		return nil
	})
}

func handlePutSSOSettings(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[sso.Settings](w, r)
		if err != nil {
			return err
		}
		if err := noSSO(s); err != nil {
			return err
		}
		set, err := s.B.SetSSOSettings(r.Context(), in)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, set)
		return nil
	})
}

// handleRolloverSPKey prepares, activates or retires a SAML provider's
// next SP key.
func handleRolloverSPKey(s *sso.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[struct {
			Action string `json:"action"`
		}](w, r)
		if err != nil {
			return err
		}
		if err := noSSO(s); err != nil {
			return err
		}
		p, err := s.B.RolloverSPKey(r.Context(), r.PathValue("id"), in.Action)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, viewOf(s, r, p))
		return nil
	})
}
