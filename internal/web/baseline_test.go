package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The bench's bare baseline must pass through the API's own HTTP stack,
// or full/bare would price that stack as a control: its answers carry the
// security headers and a request id, and a bad body is refused by the
// same strict reader before anything is written.
func TestBaselineUsesTheAPIStack(t *testing.T) {
	var rows []string
	h := Baseline(func(_ context.Context, data []byte) (string, time.Time, error) {
		rows = append(rows, string(data))
		return "r1", time.Unix(1700000000, 0).UTC(), nil
	})
	post := func(contentType, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, BaselinePath, strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := post("application/json", `{"title":"a","count":1}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d, want 201", w.Code)
	}
	checkHeaders(t, w)
	if w.Header().Get("Location") != BaselinePath+"/r1" || w.Header().Get("ETag") == "" {
		t.Errorf("Location %q, ETag %q: want the record create's answer", w.Header().Get("Location"), w.Header().Get("ETag"))
	}
	if len(rows) != 1 || rows[0] != `{"count":1,"title":"a"}` {
		t.Fatalf("rows %q", rows)
	}

	for _, tc := range []struct {
		contentType, body string
		want              int
	}{
		{"text/plain", `{"a":1}`, http.StatusUnsupportedMediaType},
		{"application/json", `[1]`, http.StatusBadRequest},
		{"application/json", `{"a":"\u0000"}`, http.StatusBadRequest},
		{"application/json", `{"a":1}{}`, http.StatusBadRequest},
	} {
		w := post(tc.contentType, tc.body)
		if w.Code != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.contentType, tc.body, w.Code, tc.want)
		}
		checkHeaders(t, w)
	}
	if len(rows) != 1 {
		t.Errorf("a refused body was written: %q", rows)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, BaselinePath, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: status %d, want 405", BaselinePath, w.Code)
	}
}
