// Package headers sets the security headers every Bulwark response
// carries (DATA-2, ASVS V3.4): the API and the console share one set, so it
// cannot drift apart between them.
package headers

import "net/http"

// Secure sets the headers before next runs, so errors, 404s and recovered
// panics carry them too. csp is the Content-Security-Policy of what next
// serves.
func Secure(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "()")
		// Responses hold tenant data and secrets shown once: no cache,
		// shared or private, may keep them.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
