package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// withConsole serves the browser console under /console on the same
// listener as the API. The two are separate muxes (the console has
// cookies and CSRF protection, the API bearer tokens only).
func withConsole(api http.Handler, a *auth.Service, db *store.DB, s *sso.Service, log *slog.Logger) http.Handler {
	d := console.Deps{Auth: a, Account: a, Sessions: db, Settings: db, Audit: db, Logger: log}
	if s != nil {
		d.EndSession = s.EndSession // SAML single logout from the console
		d.SSO = s
	}
	c := console.New(d).Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" {
			http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/console/") {
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
