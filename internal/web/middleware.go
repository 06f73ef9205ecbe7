package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/headers"
)

// state is what inner layers tell the access log about a request: they
// fill it in as they learn it (request id, matched route, principal,
// error). One per request, in the context.
type state struct {
	id        string
	route     string
	perm      bulwark.Permission // the route's permission, if it needs one
	principal *bulwark.Principal
	err       error
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// observe writes one structured access-log line and the metrics for every
// request. It logs the route pattern, never the raw URL (query values may
// be personal: ?email=...), and never bodies or headers.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &state{route: routeUnmatched}
		rw := &recorder{ResponseWriter: w}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		a.metrics.observe(st.route, status, elapsed)
		if status == http.StatusForbidden {
			a.recordDenial(r, st)
		}

		attrs := []slog.Attr{
			slog.String("method", sanitizeMethod(r.Method)),
			slog.String("route", st.route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", st.id),
		}
		if p := st.principal; p != nil {
			attrs = append(attrs,
				slog.String("principal_kind", string(p.Kind)),
				slog.String("principal_id", p.ID))
			if p.TenantSlug != "" {
				attrs = append(attrs, slog.String("tenant", p.TenantSlug))
			}
		}
		level := slog.LevelInfo
		if st.err != nil {
			attrs = append(attrs, slog.String("error_code", string(bulwark.ErrorCode(st.err))))
			switch {
			case r.Context().Err() != nil:
				// The client went away (closed the connection, timed
				// out): nothing failed here, so no error-level line that
				// an alert would fire on.
				attrs = append(attrs, slog.Bool("client_gone", true))
			case status >= 500:
				// The cause, for operators; the client saw a generic message.
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", st.err.Error()))
			}
		}
		a.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// recordDenial writes a refused request to the audit log (ASVS V16.3.2):
// the route's gate and the services' own refusals (escalation, scoped
// grants) alike. A failure to record is logged; the answer was a refusal
// either way.
func (a *API) recordDenial(r *http.Request, st *state) {
	if a.deps.Audit == nil || st.principal == nil {
		return
	}
	ctx := bulwark.WithRequestInfo(context.WithoutCancel(r.Context()), bulwark.RequestInfo{
		ID: st.id, ClientIP: clientIP(r), UserAgent: r.UserAgent(),
	})
	ctx = bulwark.NewContext(ctx, st.principal)
	if err := a.deps.Audit.RecordDenial(ctx, bulwark.Denial{Action: st.route, Permission: st.perm}); err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "recording a denial in the audit log failed",
			slog.String("request_id", st.id), slog.String("error", err.Error()))
	}
}

// sanitizeMethod keeps arbitrary client-chosen method strings out of logs.
func sanitizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return m
	}
	return "OTHER"
}

// apiCSP is the API's Content-Security-Policy: it serves JSON only, so no
// document it returns may load or run anything, or be framed.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders are set before anything else runs, so every response
// carries them: errors, 404s and recovered panics included (DATA-2).
func securityHeaders(next http.Handler) http.Handler { return headers.Secure(apiCSP, next) }

// requestID gives every request a fresh random id. A client-sent
// X-Request-Id is ignored: the id ties log lines and audit entries
// together and must not be chosen by the caller.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		if st := stateFrom(r.Context()); st != nil {
			st.id = id
		}
		ctx := bulwark.WithRequestInfo(r.Context(), bulwark.RequestInfo{
			ID:        id,
			ClientIP:  clientIP(r),
			UserAgent: r.UserAgent(),
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// clientIP is the TCP peer. X-Forwarded-For is not trusted: any client can
// send it. A deployment behind a proxy must make the proxy's PROXY-protocol
// or a trusted-hop configuration explicit; until then the peer is the truth.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recoverPanics turns a panic into a generic 500. The panic value and stack
// go to the log only: they may hold internals.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", bulwark.RequestInfoFrom(r.Context()).ID),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rw.status != 0 {
				// Part of a response is out; cut the connection so the
				// client cannot take it for a whole one.
				panic(http.ErrAbortHandler)
			}
			writeError(rw, r, &bulwark.Error{Code: bulwark.EInternal, Message: "internal error", Err: fmt.Errorf("panic: %v", v)})
		}()
		next.ServeHTTP(rw, r)
	})
}

// authenticate resolves an Authorization: Bearer header to a Principal.
// Cookies are never read: the API is for machine clients and a cookie
// would make it reachable cross-site (CSRF). A header that is present but
// not a valid bearer token fails on every route, public ones included, so
// a client with a broken credential learns it at once.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, present := r.Header["Authorization"]
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearer(h)
		if !ok {
			writeError(w, r, errBadCredentials)
			return
		}
		p, err := a.deps.Auth.Authenticate(r.Context(), token)
		if err != nil {
			if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
				err = errBadCredentials
			}
			writeError(w, r, err)
			return
		}
		// The web layer only ever serves tenant users, tenant tokens and
		// operators; anything else (a system principal) fails closed.
		if p == nil || (p.Kind != bulwark.KindUser && p.Kind != bulwark.KindToken && p.Kind != bulwark.KindOperator) {
			writeError(w, r, errBadCredentials)
			return
		}
		if st := stateFrom(r.Context()); st != nil {
			st.principal = p
		}
		next.ServeHTTP(w, r.WithContext(bulwark.NewContext(r.Context(), p)))
	})
}

// bearer extracts the token of a single "Bearer <token>" header value.
func bearer(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
