package store

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// The row layout's JSON must be byte for byte what json.Marshal writes:
// rows written before and after it, and by either path, read alike.
func TestRowJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "ada@example.com", `quo"te`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline",
		"\x00nul", "\x7fdel", "é ünïcode", "bad \xff utf-8", "line\u2028sep", "AAEC+/==", "emoji 🙂"}
	values := []any{nil, true, false, 0.0, -1.5, 1e21, 1e-7, 123456789.0, math.MaxFloat64, json.Number("12.50"),
		[]any{"a", 1.0}, map[string]any{"k": "v", "n": nil}}
	for _, s := range strs {
		values = append(values, s)
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSONValue(nil, v)
		if err != nil || string(got) != string(want) {
			t.Errorf("appendJSONValue(%#v) = %s, %v; want %s", v, got, err, want)
		}
	}
	m := map[string]any{}
	ms := map[string]string{}
	for i, s := range strs {
		m[s] = values[i%len(values)]
		ms[s] = strs[(i+3)%len(strs)]
	}
	for _, tc := range []map[string]any{{}, {"only": "one"}, m} {
		want, _ := json.Marshal(tc)
		got, err := marshalValues(tc)
		if err != nil || got != string(want) {
			t.Errorf("marshalValues = %s, %v; want %s", got, err, want)
		}
	}
	for _, tc := range []map[string]string{nil, {}, {"email": "AAEC"}, ms} {
		want, _ := json.Marshal(tc)
		if tc == nil {
			want = []byte("{}") // layout always writes an object
		}
		if got := marshalStrings(tc); got != string(want) {
			t.Errorf("marshalStrings = %s; want %s", got, want)
		}
	}
	if _, err := marshalValues(map[string]any{"nan": math.NaN()}); err == nil {
		t.Error("marshalValues accepted NaN, which json.Marshal refuses")
	}
}

func TestAuditJSONMatchesEncodingJSON(t *testing.T) {
	for _, p := range []clientPair{{}, {"192.0.2.1", "curl/8.5"}, {"::1", "Mozilla/5.0 <\"x\"> \x00 é \xff"}} {
		want, _ := json.Marshal(p)
		if got := p.marshal(); string(got) != string(want) {
			t.Errorf("clientPair.marshal = %s; want %s", got, want)
		}
	}
	db := &DB{dialect: sqliteDialect{}}
	for _, fields := range [][]string{nil, {}, {"a"}, {"title", `we"ird`, "<x>"}} {
		want, _ := json.Marshal(fields)
		if got := db.auditValues(&audit.Entry{Fields: fields})[8]; got != string(want) {
			t.Errorf("fields column = %v; want %s", got, want)
		}
	}
}
