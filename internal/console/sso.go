package console

import (
	"html/template"
	"io"
	"net/http"
	"strings"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// The single sign-on page (AUTH-4, AUTH-5): a tenant admin lists the
// tenant's identity providers with the values to copy into each IdP, adds
// an OpenID Connect provider, imports SAML metadata (pasted XML or a URL,
// fetched through the SSRF guard), switches IdP-initiated login and signed
// AuthnRequests per SAML provider, and the tenant's SSO-only mode. Every
// change goes through the same store calls as the API, so settings.manage
// (to see the page), tenant.own (to change a provider), the no-escalation
// check on roles and the audit apply unchanged. Server
// rendered, no inline script (the console's CSP).

// ssoRow is one provider with the values an admin copies into the IdP.
type ssoRow struct {
	*sso.Provider
	EntityID, ACS, SLO, Metadata, RedirectURI string
	Certificate, NextCertificate              string
	Mappings                                  string // "value = role" lines
}

type ssoView struct {
	P         *bulwark.Principal
	Error     string
	Notice    string
	Done      string // which change was saved (an element id, for tests and assistive tech)
	Providers []ssoRow
	Settings  *sso.Settings
}

// ssoTemplates is the page's own template set (its view differs from the
// other pages').
var ssoTemplates = template.Must(template.ParseFS(templateFS, "templates/base.html", "templates/sso.html"))

// ssoRoutes adds the page; without an SSO service it answers 404.
func (c *Console) ssoRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/sso", c.complete(c.withSSO(c.ssoPage)))
	mux.HandleFunc("POST /console/sso/oidc", c.complete(c.withSSO(c.ssoAddOIDC)))
	mux.HandleFunc("POST /console/sso/saml", c.complete(c.withSSO(c.ssoAddSAML)))
	mux.HandleFunc("POST /console/sso/provider", c.complete(c.withSSO(c.ssoToggle)))
	mux.HandleFunc("POST /console/sso/settings", c.complete(c.withSSO(c.ssoSettings)))
	mux.HandleFunc("POST /console/sso/mapping", c.complete(c.withSSO(c.ssoMapping)))
	mux.HandleFunc("POST /console/sso/keys", c.complete(c.withSSO(c.ssoKeys)))
}

func (c *Console) withSSO(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.d.SSO == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}
}

// ssoRender shows the page with the current providers and settings; a
// failure to read them (no settings.manage) is the page's error.
func (c *Console) ssoRender(w http.ResponseWriter, r *http.Request, v ssoView, err error) {
	v.P = bulwark.FromContext(r.Context())
	status := http.StatusOK
	if err != nil {
		status, v.Error = c.failure(r, "sso", err)
	}
	s := c.d.SSO
	if ps, lerr := s.B.ListSSOProviders(r.Context()); lerr == nil {
		for _, p := range ps {
			row := ssoRow{Provider: p}
			var lines []string
			for _, m := range p.RoleMappings {
				lines = append(lines, m.Value+" = "+m.Role)
			}
			row.Mappings = strings.Join(lines, "\n")
			if p.Kind == sso.KindSAML {
				u := s.URLs(v.P.TenantSlug, p.ID)
				row.EntityID, row.ACS, row.SLO, row.Metadata = u.EntityID, u.ACS, u.SLO, u.EntityID
				if p.SPKey != nil {
					row.Certificate = p.SPKey.CertPEM()
				}
				if p.SPNextKey != nil {
					row.NextCertificate = p.SPNextKey.CertPEM()
				}
			} else {
				row.RedirectURI = s.RedirectURI(v.P.TenantSlug, p.ID)
			}
			v.Providers = append(v.Providers, row)
		}
		v.Settings, _ = s.B.GetSSOSettings(r.Context())
	} else if err == nil {
		status, v.Error = c.failure(r, "sso", lerr)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := ssoTemplates.ExecuteTemplate(w, "sso.html", v); err != nil {
		c.d.Logger.Error("render console page", "page", "sso", "err", err)
	}
}

func (c *Console) ssoPage(w http.ResponseWriter, r *http.Request) {
	c.ssoRender(w, r, ssoView{}, nil)
}

// list splits a form field of values separated by commas or white space.
func list(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (c *Console) ssoAddOIDC(w http.ResponseWriter, r *http.Request) {
	f := r.PostFormValue
	p := sso.Provider{Kind: sso.KindOIDC, Name: strings.TrimSpace(f("name")), Issuer: strings.TrimSpace(f("issuer")),
		ClientID: strings.TrimSpace(f("client_id")), ClientSecret: f("client_secret"), AllowedDomains: list(f("allowed_domains")),
		HostedDomain: strings.TrimSpace(f("hosted_domain")), JIT: f("jit") != "", DefaultRole: strings.TrimSpace(f("default_role"))}
	if _, err := c.d.SSO.CreateProvider(r.Context(), p); err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Provider added.", Done: "provider-added"}, nil)
}

func (c *Console) ssoAddSAML(w http.ResponseWriter, r *http.Request) {
	f := r.PostFormValue
	p := sso.Provider{Kind: sso.KindSAML, Name: strings.TrimSpace(f("name")), IdPMetadata: strings.TrimSpace(f("metadata")),
		MetadataURL: strings.TrimSpace(f("metadata_url")), JIT: f("jit") != "", DefaultRole: strings.TrimSpace(f("default_role")),
		IdPInitiated: f("idp_initiated") != "", SignRequests: f("sign_requests") != ""}
	if p.IdPMetadata != "" && p.MetadataURL != "" {
		c.ssoRender(w, r, ssoView{}, bulwark.FieldError("metadata", "paste the XML or give its URL, not both"))
		return
	}
	if _, err := c.d.SSO.CreateProvider(r.Context(), p); err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Provider added.", Done: "provider-added"}, nil)
}

// ssoToggle sets a SAML provider's IdP-initiated and signed-request
// switches, keeping the rest of its configuration.
func (c *Console) ssoToggle(w http.ResponseWriter, r *http.Request) {
	p, err := c.d.SSO.B.GetSSOProvider(r.Context(), r.PostFormValue("id"))
	if err == nil && p.Kind != sso.KindSAML {
		err = bulwark.FieldError("id", "only SAML providers have these switches")
	}
	if err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	p.IdPInitiated, p.SignRequests = r.PostFormValue("idp_initiated") != "", r.PostFormValue("sign_requests") != ""
	if _, err := c.d.SSO.UpdateProvider(r.Context(), p.ID, *p); err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Saved.", Done: "provider-saved"}, nil)
}

// ssoSettings switches SSO-only, keeping the fallback owners.
func (c *Console) ssoSettings(w http.ResponseWriter, r *http.Request) {
	s, err := c.d.SSO.B.GetSSOSettings(r.Context())
	if err == nil {
		s.SSOOnly = r.PostFormValue("sso_only") != ""
		_, err = c.d.SSO.B.SetSSOSettings(r.Context(), *s)
	}
	if err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Saved.", Done: "settings-saved"}, nil)
}

// idpLogout sends the browser on to the IdP after a console logout (SAML
// single logout). Not a redirect: form-action 'self' would stop this
// form post's redirect to another origin; a page that navigates by itself
// (HTTP-Redirect binding) starts a new navigation. For the HTTP-POST
// binding, the page's own CSP lets its one form post to the IdP's origin.
func (c *Console) idpLogout(w http.ResponseWriter, r *http.Request, a *sso.LogoutAnswer) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if a.Redirect != "" {
		u := template.HTMLEscapeString(a.Redirect)
		io.WriteString(w, `<!doctype html><meta http-equiv="refresh" content="0;url=`+u+`"><title>Signing out</title><p><a href="`+u+`">Continue to your organisation's sign-out</a></p>`)
		return
	}
	origin := a.PostOrigin()
	if origin == "" {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1))
	io.WriteString(w, a.FormHTML())
}

// parseMappings reads "value = role" lines (the last "=" splits, so a
// group value may hold one).
func parseMappings(text string) ([]sso.RoleMapping, error) {
	var out []sso.RoleMapping
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		i := strings.LastIndex(line, "=")
		if i < 0 {
			return nil, bulwark.FieldError("role_mappings", "write one mapping per line as: group value = role")
		}
		out = append(out, sso.RoleMapping{Value: strings.TrimSpace(line[:i]), Role: strings.TrimSpace(line[i+1:])})
	}
	return out, nil
}

// ssoMapping sets a provider's group attribute and role mappings,
// keeping the rest of its configuration; the store checks every role
// against the tenant and the admin's own permissions.
func (c *Console) ssoMapping(w http.ResponseWriter, r *http.Request) {
	p, err := c.d.SSO.B.GetSSOProvider(r.Context(), r.PostFormValue("id"))
	if err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	ms, err := parseMappings(r.PostFormValue("mappings"))
	if err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	p.GroupAttribute, p.RoleMappings = strings.TrimSpace(r.PostFormValue("group_attribute")), ms
	if _, err := c.d.SSO.UpdateProvider(r.Context(), p.ID, *p); err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Saved.", Done: "mapping-saved"}, nil)
}

// ssoKeys prepares, activates or retires a SAML provider's next SP key.
func (c *Console) ssoKeys(w http.ResponseWriter, r *http.Request) {
	action := r.PostFormValue("action")
	if _, err := c.d.SSO.B.RolloverSPKey(r.Context(), r.PostFormValue("id"), action); err != nil {
		c.ssoRender(w, r, ssoView{}, err)
		return
	}
	c.ssoRender(w, r, ssoView{Notice: "Key " + map[string]string{"prepare": "prepared", "activate": "activated", "retire": "retired"}[action] + ".", Done: "key-" + action}, nil)
}
