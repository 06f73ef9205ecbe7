package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	bulwark "github.com/bulwarkhq/bulwark"
)

var wantHeaders = map[string]string{
	"Strict-Transport-Security":    "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":       "nosniff",
	"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "()",
	"Cache-Control":                "no-store",
}

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkHeaders(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for k, v := range wantHeaders {
		if got := w.Header().Get(k); got != v {
			t.Errorf("status %d: %s = %q, want %q", w.Code, k, got, v)
		}
	}
	if got := w.Header().Get("X-Request-Id"); !requestIDRE.MatchString(got) {
		t.Errorf("status %d: X-Request-Id = %q", w.Code, got)
	}
	for _, k := range []string{"Server", "X-Powered-By", "Set-Cookie"} {
		if v := w.Header().Get(k); v != "" {
			t.Errorf("status %d: %s = %q, want none", w.Code, k, v)
		}
	}
}

// TestSecurityHeadersOnEveryResponse covers every route (anonymous, and as
// an owner with failing services), and the error paths: 401, 403, 404,
// 405, 413, 415, 500 from an error and from a panic, 503.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	a := New(Deps{Users: usersFault{panic: "boom"}})
	cases := map[string]*http.Request{}
	for _, rt := range a.routes {
		cases["anonymous "+rt.pattern()] = request(rt.method, concrete(rt.path), "")
	}
	cases["404"] = request("GET", "/nope", "")
	cases["404 unclean"] = request("GET", "/api//v1/users", "")
	cases["405 TRACE"] = request("TRACE", "/api/v1/users", "")
	cases["413"] = request("POST", "/api/v1/auth/login", `{"tenant":"`+strings.Repeat("a", maxBody)+`"}`)
	cases["415"] = request("POST", "/api/v1/auth/login", "x", "Content-Type", "text/plain")
	for name, r := range cases {
		t.Run(name, func(t *testing.T) { checkHeaders(t, serve(a.Handler(), r)) })
	}

	t.Run("500 panic", func(t *testing.T) {
		w := serve(asPrincipal(a, ownerPrincipal()), request("GET", "/api/v1/users", ""))
		if w.Code != 500 {
			t.Fatalf("status %d", w.Code)
		}
		checkHeaders(t, w)
	})
	t.Run("403", func(t *testing.T) {
		w := serve(asPrincipal(a, operatorPrincipal()), request("GET", "/api/v1/users", ""))
		if w.Code != 403 {
			t.Fatalf("status %d", w.Code)
		}
		checkHeaders(t, w)
	})
	t.Run("500 error", func(t *testing.T) {
		b := New(Deps{Users: usersFault{err: errors.New("disk on fire")}})
		w := serve(asPrincipal(b, ownerPrincipal()), request("GET", "/api/v1/users/x1", ""))
		if w.Code != 500 {
			t.Fatalf("status %d", w.Code)
		}
		checkHeaders(t, w)
	})
	t.Run("503", func(t *testing.T) {
		b := New(Deps{Ready: func(context.Context) error { return errors.New("db down") }})
		w := serve(b.Handler(), request("GET", "/readyz", ""))
		if w.Code != 503 {
			t.Fatalf("status %d", w.Code)
		}
		checkHeaders(t, w)
	})
	t.Run("401 bad token", func(t *testing.T) {
		b := New(Deps{Auth: authDouble{err: bulwark.Errorf(bulwark.EUnauthenticated, "no")}})
		w := serve(b.Handler(), request("GET", "/healthz", "", "Authorization", "Bearer x"))
		if w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
		checkHeaders(t, w)
	})
}

func TestRequestIDsAreUnique(t *testing.T) {
	a := New(Deps{})
	seen := map[string]bool{}
	for range 100 {
		w := serve(a.Handler(), request("GET", "/healthz", "", "X-Request-Id", "chosen-by-client"))
		id := w.Header().Get("X-Request-Id")
		if id == "chosen-by-client" || seen[id] {
			t.Fatalf("request id %q reused or taken from the client", id)
		}
		seen[id] = true
	}
}

// TestRequestInfo: the client IP is the TCP peer; X-Forwarded-For, which
// any client can send, is ignored.
func TestRequestInfo(t *testing.T) {
	var got bulwark.RequestInfo
	h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = bulwark.RequestInfoFrom(r.Context())
	}))
	r := request("GET", "/", "", "X-Forwarded-For", "10.9.9.9", "X-Real-Ip", "10.8.8.8", "User-Agent", "probe/1")
	r.RemoteAddr = "192.0.2.7:5555"
	w := serve(h, r)
	if got.ClientIP != "192.0.2.7" || got.UserAgent != "probe/1" || got.ID != w.Header().Get("X-Request-Id") || got.ID == "" {
		t.Errorf("request info = %+v", got)
	}
}

// TestInvalidBearerOnEveryRoute: a bad credential is 401 everywhere, on
// public routes and unknown paths too.
func TestInvalidBearerOnEveryRoute(t *testing.T) {
	a := New(Deps{Auth: authDouble{err: bulwark.Errorf(bulwark.EUnauthenticated, "no such session")}})
	targets := [][2]string{{"GET", "/nope"}}
	for _, rt := range a.routes {
		targets = append(targets, [2]string{rt.method, concrete(rt.path)})
	}
	for _, tg := range targets {
		t.Run(tg[0]+" "+tg[1], func(t *testing.T) {
			w := serve(a.Handler(), request(tg[0], tg[1], `{}`, "Authorization", "Bearer not-a-token"))
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", w.Code)
			}
			if errCode(t, w) != bulwark.EUnauthenticated || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("code or WWW-Authenticate wrong: %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestAuthorizationHeaderForms: only "Bearer <token>" is a credential. The
// double accepts any token, so a 401 here comes from the parser.
func TestAuthorizationHeaderForms(t *testing.T) {
	a := New(Deps{Auth: authDouble{p: ownerPrincipal()}})
	tests := []struct {
		name   string
		values []string
		want   int
	}{
		{"bearer", []string{"Bearer abc"}, 200},
		{"scheme is case-insensitive", []string{"bearer abc"}, 200},
		{"basic", []string{"Basic YWRhOnB3"}, 401},
		{"no token", []string{"Bearer"}, 401},
		{"empty token", []string{"Bearer "}, 401},
		{"two tokens", []string{"Bearer a b"}, 401},
		{"no space", []string{"Bearerabc"}, 401},
		{"empty header", []string{""}, 401},
		{"two headers", []string{"Bearer a", "Bearer b"}, 401},
		{"huge token", []string{"Bearer " + strings.Repeat("a", 600)}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("GET", "/api/v1/auth/me", "")
			r.Header["Authorization"] = tt.values
			w := serve(a.Handler(), r)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// TestCookieIsNotACredential: the API never reads cookies (no CSRF surface).
func TestCookieIsNotACredential(t *testing.T) {
	a := New(Deps{Auth: authDouble{p: ownerPrincipal()}})
	r := request("GET", "/api/v1/auth/me", "", "Cookie", "session=abc; bulwark_session=abc")
	if w := serve(a.Handler(), r); w.Code != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", w.Code)
	}
}

func TestAuthenticateFaults(t *testing.T) {
	tests := []struct {
		name   string
		auth   authDouble
		status int
		code   bulwark.Code
	}{
		{"store down", authDouble{err: &bulwark.Error{Code: bulwark.EUnavailable, Message: "db 10.1.2.3 refused", Err: errors.New("dial tcp 10.1.2.3")}}, 503, bulwark.EUnavailable},
		{"plain error", authDouble{err: errors.New("sql: secret_table broken")}, 500, bulwark.EInternal},
		{"nil principal", authDouble{}, 401, bulwark.EUnauthenticated},
		{"system principal", authDouble{p: &bulwark.Principal{Kind: bulwark.KindSystem, ID: "cli"}}, 401, bulwark.EUnauthenticated},
		{"unknown kind", authDouble{p: &bulwark.Principal{Kind: "admin", ID: "x"}}, 401, bulwark.EUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Deps{Auth: tt.auth})
			w := serve(a.Handler(), request("GET", "/api/v1/auth/me", "", "Authorization", "Bearer x"))
			if w.Code != tt.status || errCode(t, w) != tt.code {
				t.Errorf("status %d body %s", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "10.1.2.3") || strings.Contains(w.Body.String(), "secret_table") {
				t.Errorf("body leaks the cause: %s", w.Body)
			}
		})
	}
}

// TestInternalErrorsAreGeneric: the client sees a generic message; the
// cause is in the log, with the request id.
func TestInternalErrorsAreGeneric(t *testing.T) {
	tests := []struct {
		name   string
		users  usersFault
		status int
		code   bulwark.Code
		cause  string
	}{
		{"plain error", usersFault{err: fmt.Errorf("get user: %w", errors.New("pq: relation secret_table"))}, 500, bulwark.EInternal, "secret_table"},
		{"internal with message", usersFault{err: &bulwark.Error{Code: bulwark.EInternal, Message: "key k-123 unwrap failed"}}, 500, bulwark.EInternal, "k-123"},
		{"unavailable", usersFault{err: &bulwark.Error{Code: bulwark.EUnavailable, Message: "kms at 10.0.0.9 down"}}, 503, bulwark.EUnavailable, "10.0.0.9"},
		{"unknown code", usersFault{err: &bulwark.Error{Code: "weird", Message: "weird detail-77"}}, 500, bulwark.EInternal, "detail-77"},
		{"panic", usersFault{panic: "secret panic value 42"}, 500, bulwark.EInternal, "secret panic value 42"},
		{"panic with error", usersFault{panic: errors.New("nil map in secret_func")}, 500, bulwark.EInternal, "secret_func"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := New(Deps{Users: tt.users, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			path := "/api/v1/users"
			if tt.users.panic == nil {
				path = "/api/v1/users/x1"
			}
			w := serve(asPrincipal(a, ownerPrincipal()), request("GET", path, ""))
			if w.Code != tt.status || errCode(t, w) != tt.code {
				t.Fatalf("status %d body %s", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), tt.cause) {
				t.Errorf("body leaks the cause: %s", w.Body)
			}
			if !strings.Contains(logs.String(), tt.cause) {
				t.Errorf("log lacks the cause %q: %s", tt.cause, logs.String())
			}
			if !strings.Contains(logs.String(), w.Header().Get("X-Request-Id")) {
				t.Errorf("log lacks the request id")
			}
		})
	}
}

// TestErrorStatusTable: every code has its status, and 4xx errors show
// their message and fields.
func TestErrorStatusTable(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{bulwark.FieldError("name", "too long"), 400},
		{bulwark.Errorf(bulwark.EUnauthenticated, "x"), 401},
		{bulwark.Errorf(bulwark.EForbidden, "x"), 403},
		{bulwark.NotFound("user"), 404},
		{bulwark.Errorf(bulwark.EConflict, "x"), 409},
		{bulwark.Errorf(bulwark.EGone, "x"), 410},
		{bulwark.Errorf(bulwark.EFailedPrecondition, "x"), 412},
		{bulwark.Errorf(bulwark.ETooLarge, "x"), 413},
		{bulwark.Errorf(bulwark.ERateLimited, "x"), 429},
		{bulwark.Errorf(bulwark.EReauthRequired, "x"), 403},
		{bulwark.Errorf(bulwark.EInternal, "x"), 500},
		{bulwark.Errorf(bulwark.EUnavailable, "x"), 503},
		{errMediaType, 415},
		{errMethodNotAllowed, 405},
		{fmt.Errorf("wrapped: %w", bulwark.NotFound("record")), 404},
		{errors.New("plain"), 500},
	}
	codes := map[bulwark.Code]bool{}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		writeError(w, request("GET", "/", ""), tt.err)
		if w.Code != tt.status {
			t.Errorf("%v: status %d, want %d", tt.err, w.Code, tt.status)
		}
		var e errorEnvelope
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		codes[e.Error.Code] = true
		if tt.status < 500 && e.Error.Message != bulwark.ErrorMessage(tt.err) {
			t.Errorf("%v: message not shown", tt.err)
		}
		if tt.status == 400 && e.Error.Fields["name"] == "" {
			t.Errorf("%v: fields not shown", tt.err)
		}
	}
	for _, code := range bulwark.Codes() {
		if !codes[code] {
			t.Errorf("code %s not covered", code)
		}
	}
}

func TestReadyz(t *testing.T) {
	a := New(Deps{Ready: func(context.Context) error { return errors.New("dial 10.0.0.1: refused") }})
	w := serve(a.Handler(), request("GET", "/readyz", ""))
	if w.Code != 503 || errCode(t, w) != bulwark.EUnavailable || strings.Contains(w.Body.String(), "10.0.0.1") {
		t.Errorf("status %d body %s", w.Code, w.Body)
	}
	b := New(Deps{Ready: func(context.Context) error { return nil }})
	if w := serve(b.Handler(), request("GET", "/readyz", "")); w.Code != 200 || strings.Contains(w.Body.String(), "warnings") {
		t.Errorf("ready: status %d body %s", w.Code, w.Body)
	}
	// A degradation (the audit replica behind) is a warning, not a 503.
	c := New(Deps{Ready: func(context.Context) error { return nil }, Warnings: func() []string { return []string{"audit replica is 9s behind"} }})
	w = serve(c.Handler(), request("GET", "/readyz", ""))
	var body statusBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 || body.Status != "degraded" || len(body.Warnings) != 1 {
		t.Errorf("degraded: status %d body %s", w.Code, w.Body)
	}
}

func TestOpenAPIServed(t *testing.T) {
	w := serve(New(Deps{}).Handler(), request("GET", "/api/v1/openapi.yaml", ""))
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "openapi: 3.1") || w.Header().Get("Content-Type") != "application/yaml" {
		t.Errorf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestAccessLog: one JSON line per request with the route pattern, never
// the raw URL, query values, tokens or bodies.
func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	a := New(Deps{
		Auth:   authDouble{p: ownerPrincipal()},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	r := request("GET", "/api/v1/auth/me?email=ada%40example.com&q=private-value", "", "Authorization", "Bearer tok-SECRET-123")
	w := serve(a.Handler(), r)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log is not one JSON line: %q", logs.String())
	}
	want := map[string]any{
		"msg":            "request",
		"method":         "GET",
		"route":          "GET /api/v1/auth/me",
		"status":         float64(200),
		"request_id":     w.Header().Get("X-Request-Id"),
		"tenant":         "acme",
		"principal_kind": "user",
		"principal_id":   "u1",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Error("log lacks duration_ms")
	}
	// (Not just "ada": a random hex request id may contain it.)
	for _, secret := range []string{"ada%40", "ada@", "example.com", "private-value", "tok-SECRET-123", "/api/v1/auth/me?"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q: %s", secret, logs.String())
		}
	}

	// A request body is never logged, even on failure.
	logs.Reset()
	serve(a.Handler(), request("POST", "/api/v1/auth/login", `{"tenant":"acme","email":"ada@example.com","password":"hunter2hunter2","x":1}`))
	for _, secret := range []string{"ada@", "example.com", "hunter2"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q: %s", secret, logs.String())
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(Deps{Registry: reg})
	serve(a.Handler(), request("GET", "/healthz", ""))
	serve(a.Handler(), request("GET", "/healthz", ""))
	serve(a.Handler(), request("GET", "/no/such/path/4711", ""))
	serve(a.Handler(), request("GET", "/api/v1/users/secret-id-99", ""))
	// A second API on the same registry shares the collectors.
	New(Deps{Registry: reg})

	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bulwark_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[labels(m)] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"GET /healthz 200":           2,
		"unmatched 404":              1,
		"GET /api/v1/users/{id} 401": 1,
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("requests_total{%s} = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}

	w := serve(MetricsHandler(reg), request("GET", "/metrics", ""))
	body := w.Body.String()
	if !strings.Contains(body, "bulwark_http_request_duration_seconds_bucket") || strings.Contains(body, "4711") || strings.Contains(body, "secret-id-99") {
		t.Errorf("metrics output wrong:\n%s", body)
	}
}

func labels(m *dto.Metric) string {
	var route, status string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "route":
			route = l.GetValue()
		case "status":
			status = l.GetValue()
		}
	}
	return route + " " + status
}

// TestClientGoneIsNotAnError: a request whose client went away is logged
// at info level with client_gone, not as a server error.
func TestClientGoneIsNotAnError(t *testing.T) {
	var logs bytes.Buffer
	a := New(Deps{
		Ready:  func(ctx context.Context) error { return ctx.Err() },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	serve(a.Handler(), request("GET", "/readyz", "").WithContext(ctx))
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log: %q", logs.String())
	}
	if line["level"] != "INFO" || line["client_gone"] != true || line["error"] != nil {
		t.Errorf("log line = %v", line)
	}
}
