package bulwark

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

var testCollection = &Collection{Name: "people", Fields: []Field{
	{Name: "name", Type: TypeText, Classification: ClassPersonal, Required: true},
	{Name: "age", Type: TypeNumber, Classification: ClassPersonal},
	{Name: "vip", Type: TypeBool, Classification: ClassInternal},
	{Name: "born", Type: TypeDatetime, Classification: ClassPersonal},
	{Name: "email", Type: TypeEmail, Classification: ClassPersonal, Unique: true},
	{Name: "extra", Type: TypeJSON, Classification: ClassInternal},
}}

func TestValidateData(t *testing.T) {
	good, err := testCollection.ValidateData(map[string]any{
		"name": "Ada", "age": json.Number("36"), "vip": true, "born": "1815-12-10T00:00:00+01:00",
		"email": " Ada@Example.COM ", "extra": map[string]any{"a": 1.0},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if good["age"] != 36.0 || good["born"] != "1815-12-09T23:00:00Z" || good["email"] != "ada@example.com" {
		t.Fatalf("normalised = %v", good)
	}
	bad := []map[string]any{
		{},
		{"name": nil},
		{"name": 1.0},
		{"name": "x", "age": "36"},
		{"name": "x", "age": json.Number("1e999")},
		{"name": "x", "vip": "true"},
		{"name": "x", "born": "1815-12-10"},
		{"name": "x", "email": "Ada <ada@example.com>"},
		{"name": "x", "nope": 1.0},
		{"name": strings.Repeat("x", MaxTextLen+1)},
		{"name": "bad \xff utf8"},
	}
	for _, in := range bad {
		_, err := testCollection.ValidateData(in, false)
		if ErrorCode(err) != EInvalid || len(ErrorFields(err)) == 0 {
			t.Errorf("ValidateData(%.60v) = %v, want invalid naming a field", in, err)
		}
	}
	// A patch may leave out required fields, but may not clear them.
	if _, err := testCollection.ValidateData(map[string]any{"age": 1.0}, true); err != nil {
		t.Error(err)
	}
	if _, err := testCollection.ValidateData(map[string]any{"name": nil}, true); ErrorCode(err) != EInvalid {
		t.Error("a patch cleared a required field")
	}
}

func TestETag(t *testing.T) {
	r := &Record{Version: 7}
	if v, ok := ParseETag(r.ETag()); !ok || v != 7 {
		t.Fatalf("ParseETag(%s) = %d, %v", r.ETag(), v, ok)
	}
	if v, ok := ParseETag(`W/"3"`); !ok || v != 3 {
		t.Fatal("weak etag")
	}
	for _, bad := range []string{"", "7", `"x"`, `"0"`, `"-1"`, `"`} {
		if _, ok := ParseETag(bad); ok {
			t.Errorf("ParseETag(%q) accepted", bad)
		}
	}
}

func TestParseFilterValue(t *testing.T) {
	f, _ := testCollection.Field("age")
	if v, err := ParseFilterValue(f, "36"); err != nil || v != 36.0 {
		t.Fatalf("number filter = %v, %v", v, err)
	}
	if _, err := ParseFilterValue(f, "x"); ErrorCode(err) != EInvalid {
		t.Fatal("bad number filter accepted")
	}
	j, _ := testCollection.Field("extra")
	if _, err := ParseFilterValue(j, "{}"); ErrorCode(err) != EInvalid {
		t.Fatal("json filter accepted")
	}
}

// FuzzValidateData feeds arbitrary JSON objects to record validation: it
// must never panic, and must either accept or return an invalid error.
func FuzzValidateData(f *testing.F) {
	f.Add([]byte(`{"name":"Ada","age":36,"vip":true}`), false)
	f.Add([]byte(`{"born":"2026-01-01T00:00:00Z","email":"a@b.c"}`), true)
	f.Add([]byte(`{"extra":[1,{"a":null}],"name":null}`), true)
	f.Fuzz(func(t *testing.T, body []byte, partial bool) {
		var in map[string]any
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.UseNumber()
		if d.Decode(&in) != nil {
			return
		}
		out, err := testCollection.ValidateData(in, partial)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error code %s", ErrorCode(err))
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("validated data does not marshal: %v", err)
		}
	})
}

func FuzzCollectionValidate(f *testing.F) {
	f.Add([]byte(`{"name":"notes","fields":[{"name":"a","type":"text","classification":"public"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Collection
		if json.Unmarshal(body, &c) != nil {
			return
		}
		if err := c.Validate(); err != nil && ErrorCode(err) != EInvalid {
			t.Fatalf("error code %s", ErrorCode(err))
		}
	})
}

// nestJSON returns a json value of arrays nested depth deep around x.
func nestJSON(depth int, x any) any {
	for range depth {
		x = []any{x}
	}
	return x
}

// TestValidateDataJSONReadsBack: a json value is refused (invalid, naming
// the field) unless a read can decode it again: a number float64 cannot
// hold, anywhere in the value, would be stored and then fail every read
// of the record, every list page holding it and the re-seal job.
func TestValidateDataJSONReadsBack(t *testing.T) {
	bad := map[string]any{
		"top level":       json.Number("1e400"),
		"negative":        json.Number("-1e400"),
		"in an object":    map[string]any{"meta": json.Number("1e400")},
		"in an array":     map[string]any{"x": []any{1.0, json.Number("1e400")}},
		"deep in a value": nestJSON(10, map[string]any{"y": json.Number("2e308")}),
		"in a Go type":    map[string]any{"x": []json.Number{"1e400"}},
	}
	for name, v := range bad {
		_, err := testCollection.ValidateData(map[string]any{"name": "x", "extra": v}, false)
		if ErrorCode(err) != EInvalid || ErrorFields(err)["extra"] == "" {
			t.Errorf("%s: ValidateData = %v, want invalid naming extra", name, err)
		}
	}
	good := map[string]any{
		"largest float": json.Number("1.7976931348623157e308"),
		"underflow":     map[string]any{"tiny": json.Number("1e-400")},
		"big integer":   []any{json.Number("123456789012345678901234567890")},
		"a Go type":     map[string]any{"x": []int{1, 2}},
	}
	for name, v := range good {
		out, err := testCollection.ValidateData(map[string]any{"name": "x", "extra": v}, false)
		if err != nil {
			t.Errorf("%s: ValidateData = %v", name, err)
			continue
		}
		// What is stored decodes again, as a read decodes it.
		b, err := json.Marshal(out)
		var back map[string]any
		if err == nil {
			err = json.Unmarshal(b, &back)
		}
		if err != nil {
			t.Errorf("%s: the validated value does not read back: %v", name, err)
		}
	}
}

// TestValidateDataJSONDepth: arrays and objects nest at most MaxJSONDepth
// deep in a json value; deeper is invalid, naming the field (SQLite's
// JSON functions refuse documents nested past 1000, which failed every
// filtered list of the collection).
func TestValidateDataJSONDepth(t *testing.T) {
	for name, v := range map[string]any{
		"arrays":           nestJSON(MaxJSONDepth+1, 1.0),
		"objects":          nestJSON(MaxJSONDepth, map[string]any{"a": map[string]any{}}),
		"beyond SQLite's":  nestJSON(1001, nil),
		"in a Go type":     nestJSON(MaxJSONDepth, []int{1}),
		"in a later value": []any{1.0, nestJSON(MaxJSONDepth, []any{})},
	} {
		_, err := testCollection.ValidateData(map[string]any{"name": "x", "extra": v}, false)
		if ErrorCode(err) != EInvalid || ErrorFields(err)["extra"] == "" {
			t.Errorf("%s: ValidateData = %v, want invalid naming extra", name, err)
		}
	}
	for name, v := range map[string]any{
		"arrays":  nestJSON(MaxJSONDepth, 1.0),
		"objects": nestJSON(MaxJSONDepth-1, map[string]any{"a": 1.0}),
		"empty":   nestJSON(MaxJSONDepth-1, []any{}),
	} {
		if _, err := testCollection.ValidateData(map[string]any{"name": "x", "extra": v}, false); err != nil {
			t.Errorf("%s: ValidateData = %v", name, err)
		}
	}
}

// TestValidateDataNegativeZero: -0 is stored as 0, so that its unique key
// is 0's and a unique number field cannot hold 0 twice.
func TestValidateDataNegativeZero(t *testing.T) {
	f, _ := testCollection.Field("age")
	for _, in := range []any{json.Number("-0"), json.Number("-0.0"), json.Number("-0e5"), math.Copysign(0, -1)} {
		out, err := testCollection.ValidateData(map[string]any{"name": "x", "age": in}, false)
		if err != nil {
			t.Fatalf("ValidateData(%v) = %v", in, err)
		}
		if n, _ := out["age"].(float64); n != 0 || math.Signbit(n) {
			t.Errorf("ValidateData(%v) stores %v", in, out["age"])
		}
		if got, want := UniqueKey(out["age"]), UniqueKey(0.0); got != want {
			t.Errorf("UniqueKey of %v = %s, want %s", in, got, want)
		}
	}
	if v, err := ParseFilterValue(f, "-0"); err != nil || v != 0.0 || math.Signbit(v.(float64)) {
		t.Errorf("filter -0 = %v, %v", v, err)
	}
}
