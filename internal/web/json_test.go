package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		body   string
		status int // 0: success
		field  string
	}{
		{"ok", "application/json", `{"tenant":"acme","email":"a@b.c","password":"p"}`, 0, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"tenant":"acme"}`, 0, ""},
		{"ok charset case", "Application/JSON; charset=UTF-8", `{"tenant":"acme"}`, 0, ""},
		{"ok whitespace around", "application/json", " \n{\"tenant\":\"acme\"}\n\t ", 0, ""},
		{"no content type", "", `{"tenant":"acme"}`, 415, ""},
		{"text/plain", "text/plain", `{"tenant":"acme"}`, 415, ""},
		{"form", "application/x-www-form-urlencoded", `tenant=acme`, 415, ""},
		{"json suffix", "application/problem+json", `{}`, 415, ""},
		{"other charset", "application/json; charset=latin1", `{}`, 415, ""},
		{"extra param", "application/json; boundary=x", `{}`, 415, ""},
		{"malformed content type", "application/json; =", `{}`, 415, ""},
		{"empty body", "application/json", ``, 400, ""},
		{"blank body", "application/json", "  \n ", 400, ""},
		{"null", "application/json", `null`, 400, ""},
		{"array", "application/json", `[{"tenant":"acme"}]`, 400, ""},
		{"string", "application/json", `"acme"`, 400, ""},
		{"unknown field", "application/json", `{"tenant":"acme","tenant_id":"t2"}`, 400, "tenant_id"},
		{"wrong type", "application/json", `{"tenant":7}`, 400, "tenant"},
		{"trailing object", "application/json", `{"tenant":"a"}{"tenant":"b"}`, 400, ""},
		{"trailing garbage", "application/json", `{"tenant":"a"} x`, 400, ""},
		{"trailing comma", "application/json", `{"tenant":"a",}`, 400, ""},
		{"truncated", "application/json", `{"tenant":"a"`, 400, ""},
		{"malformed", "application/json", `{tenant:"a"}`, 400, ""},
		{"too large", "application/json", `{"tenant":"` + strings.Repeat("a", maxBody) + `"}`, 413, ""},
		{"invalid utf-8", "application/json", "{\"tenant\":\"acme\",\"email\":\"\xff\"}", 400, ""},
		{"NUL in value", "application/json", `{"tenant":"acme","email":"a\u0000b"}`, 400, ""},
		{"NUL in key", "application/json", `{"tenant":"acme","\u0000":1}`, 400, ""},
		{"escaped backslash is no NUL", "application/json", `{"tenant":"acme","email":"a\\u0000b"}`, 0, ""},
		{"too large trailing", "application/json", `{"tenant":"a"}` + strings.Repeat(" ", maxBody), 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			w := httptest.NewRecorder()
			v, err := decode[loginRequest](w, r)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if v.Tenant != "acme" {
					t.Errorf("decoded %+v", v)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", v)
			}
			writeError(w, r, err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d (%v)", w.Code, tt.status, err)
			}
			if tt.field != "" && bulwark.ErrorFields(err)[tt.field] == "" {
				t.Errorf("fields = %v, want %s named", bulwark.ErrorFields(err), tt.field)
			}
		})
	}
}

func TestDecodeObjectKeepsNumbers(t *testing.T) {
	r := request("POST", "/", `{"n":12345678901234567890,"f":1.5,"s":"x","o":{"k":[1,null,true]},"z":null}`)
	m, err := decodeObject(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("n = %#v, want the exact json.Number", m["n"])
	}
	if _, ok := m["z"]; !ok || m["z"] != nil {
		t.Errorf("z = %#v, want present and nil (PATCH removes)", m["z"])
	}
}

// TestMassAssignment: fields a client may not set are unknown fields, not
// silently ignored or, worse, honoured.
func TestMassAssignment(t *testing.T) {
	a := New(Deps{})
	h := asPrincipal(a, ownerPrincipal())
	tests := []struct{ method, target, body, field string }{
		{"POST", "/api/v1/users", `{"email":"a@b.co","tenant_id":"t2"}`, "tenant_id"},
		{"POST", "/api/v1/users", `{"email":"a@b.co","status":"active"}`, "status"},
		{"POST", "/api/v1/users", `{"email":"a@b.co","id":"u9"}`, "id"},
		{"PATCH", "/api/v1/users/x1", `{"email":"b@b.co"}`, "email"},
		{"POST", "/api/v1/roles", `{"name":"r","permissions":["users.read"],"built_in":true}`, "built_in"},
		{"POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer"},"created_by":"u9"}`, "created_by"},
		{"POST", "/api/v1/tokens", `{"name":"t","grant":{"role":"viewer","permissions":["tenant.own"]}}`, "permissions"},
		{"POST", "/api/v1/collections", `{"name":"c","fields":[],"id":"x"}`, "id"},
		{"POST", "/api/v1/collections", `{"name":"c","fields":[],"created_at":"2020-01-01T00:00:00Z"}`, "created_at"},
		{"POST", "/api/v1/operator/tenants", `{"slug":"s","name":"n","admin_email":"a@b.co","id":"t1"}`, "id"},
		{"POST", "/api/v1/auth/login", `{"tenant":"a","email":"a@b.co","password":"p","tenant_id":"t1"}`, "tenant_id"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target+" "+tt.field, func(t *testing.T) {
			hh := h
			if strings.Contains(tt.target, "/operator/") {
				hh = asPrincipal(a, operatorPrincipal())
			}
			w := serve(hh, request(tt.method, tt.target, tt.body))
			if w.Code != http.StatusBadRequest || errCode(t, w) != bulwark.EInvalid {
				t.Fatalf("status %d body %s", w.Code, w.Body)
			}
			var e errorEnvelope
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if e.Error.Fields[tt.field] == "" {
				t.Errorf("fields = %v, want %s", e.Error.Fields, tt.field)
			}
		})
	}
}

// TestBodyChecksOnEveryWriteRoute: every route that takes a body refuses
// a wrong Content-Type, a non-object and an oversized body before any
// service is called (the services here are nil: reaching one would panic
// into a 500).
func TestBodyChecksOnEveryWriteRoute(t *testing.T) {
	// bodyless are the write routes that take no request body.
	bodyless := map[string]bool{
		"POST /api/v1/auth/logout":               true,
		"POST /api/v1/auth/mfa/totp":             true,
		"POST /api/v1/auth/mfa/recovery-codes":   true,
		"POST /api/v1/auth/mfa/passkey/register": true,
		"POST /api/v1/auth/mfa/passkey/login":    true,
		// SAML HTTP-POST binding: form bodies, not JSON (sso_test.go).
		"POST /sso/{tenant}/saml/{provider}/acs": true,
		"POST /sso/{tenant}/saml/{provider}/slo": true,
	}
	a := New(Deps{})
	for _, rt := range a.routes {
		if rt.method != "POST" && rt.method != "PATCH" && rt.method != "PUT" || bodyless[rt.pattern()] {
			continue
		}
		p := ownerPrincipal()
		if strings.Contains(rt.path, "/operator/") {
			p = operatorPrincipal()
		}
		h := asPrincipal(a, p)
		for _, c := range []struct {
			name, ct, body string
			status         int
		}{
			{"no content type", "", `{}`, 415},
			{"text", "text/plain", `{}`, 415},
			{"empty", "application/json", ``, 400},
			{"array", "application/json", `[]`, 400},
			{"null", "application/json", `null`, 400},
			{"trailing", "application/json", `{}{}`, 400},
			{"too large", "application/json", `{"a":"` + strings.Repeat("x", maxBody) + `"}`, 413},
		} {
			t.Run(rt.pattern()+" "+c.name, func(t *testing.T) {
				r := httptest.NewRequest(rt.method, concrete(rt.path), strings.NewReader(c.body))
				if c.ct != "" {
					r.Header.Set("Content-Type", c.ct)
				}
				w := serve(h, r)
				if w.Code == http.StatusInternalServerError {
					t.Fatalf("the request reached the (nil) service before its body was checked; if the route takes no body, list it in bodyless")
				}
				if w.Code != c.status {
					t.Errorf("status = %d, want %d: %s", w.Code, c.status, w.Body)
				}
			})
		}
	}
}

func TestIfMatch(t *testing.T) {
	tests := []struct {
		values []string
		want   int64
		ok     bool
	}{
		{nil, 0, true},
		{[]string{`"3"`}, 3, true},
		{[]string{`W/"3"`}, 3, true},
		{[]string{`*`}, 0, true},
		{[]string{`3`}, 0, false},
		{[]string{`"0"`}, 0, false},
		{[]string{`"-1"`}, 0, false},
		{[]string{`"abc"`}, 0, false},
		{[]string{`"1", "2"`}, 0, false},
		{[]string{`"1"`, `"2"`}, 0, false},
		{[]string{``}, 0, false},
	}
	for _, tt := range tests {
		r := request("PATCH", "/", "")
		if tt.values != nil {
			r.Header["If-Match"] = tt.values
		}
		v, err := ifMatch(r)
		if (err == nil) != tt.ok || v != tt.want {
			t.Errorf("If-Match %q: %d, %v", tt.values, v, err)
		}
		if err != nil && bulwark.ErrorCode(err) != bulwark.EInvalid {
			t.Errorf("If-Match %q: code %s", tt.values, bulwark.ErrorCode(err))
		}
	}
}

func TestListQuery(t *testing.T) {
	tests := []struct {
		q     string
		limit int
		ok    bool
	}{
		{"", 0, true},
		{"limit=10&cursor=abc", 10, true},
		{"limit=200", 200, true},
		{"limit=0", 0, false},
		{"limit=201", 0, false},
		{"limit=-1", 0, false},
		{"limit=x", 0, false},
		{"limit=1&limit=2", 0, false},
		{"cursor=a&cursor=b", 0, false},
		{"cursor=" + strings.Repeat("a", 513), 0, false},
	}
	for _, tt := range tests {
		r := request("GET", "/?"+tt.q, "")
		q, err := query(r)
		if err != nil {
			t.Fatal(err)
		}
		opt, err := listOptions(q)
		if (err == nil) != tt.ok || opt.Limit != tt.limit {
			t.Errorf("%q: %+v, %v", tt.q, opt, err)
		}
	}
	for _, q := range []string{"a=%zz", "a=%FF", "a=x%00", "%00=1", "a=%0A", "cursor=%C3%28"} {
		if _, err := query(request("GET", "/?"+q, "")); bulwark.ErrorCode(err) != bulwark.EInvalid {
			t.Errorf("query %q: err = %v, want invalid", q, err)
		}
	}
}
