package bulwark

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one row of a collection.
type Record struct {
	ID         string         `json:"id"`
	Collection string         `json:"collection"`
	Version    int64          `json:"version"`
	Data       map[string]any `json:"data"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Limits on record values.
const (
	MaxTextLen   = 64 << 10 // bytes in one text value
	MaxJSONValue = 64 << 10 // bytes in one json value
	// MaxJSONDepth bounds how deeply arrays and objects nest in one json
	// value ([[1]] is 2 deep). SQLite's JSON functions refuse a document
	// nested more than 1000 deep, and an equality filter on any field of
	// the collection runs them over the whole row: a deeper value would
	// be stored and then fail every filtered list of its collection.
	MaxJSONDepth = 64
)

// ValidateData checks input for a record of c and returns it normalised:
// numbers as float64, datetimes in UTC RFC 3339, emails lowercased. With
// partial (a PATCH), absent fields are left alone and null removes a value;
// otherwise every required field must be present.
func (c *Collection) ValidateData(in map[string]any, partial bool) (map[string]any, error) {
	out := make(map[string]any, len(in))
	fields := map[string]string{}
	for name, v := range in {
		f, ok := c.Field(name)
		if !ok {
			fields[name] = "unknown field"
			continue
		}
		if v == nil {
			if f.Required {
				fields[name] = "is required"
				continue
			}
			out[name] = nil
			continue
		}
		nv, reason := normalizeValue(f, v)
		if reason != "" {
			fields[name] = reason
			continue
		}
		out[name] = nv
	}
	if !partial {
		for _, f := range c.Fields {
			if _, ok := in[f.Name]; !ok && f.Required {
				fields[f.Name] = "is required"
			}
		}
	}
	if len(fields) > 0 {
		return nil, &Error{Code: EInvalid, Message: "the record does not match its collection's fields", Fields: fields}
	}
	return out, nil
}

// Merge applies a validated patch to data and checks required fields.
func (c *Collection) Merge(data, patch map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(data)+len(patch))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	for _, f := range c.Fields {
		if _, ok := out[f.Name]; !ok && f.Required {
			return nil, &Error{Code: EInvalid, Message: "the record does not match its collection's fields", Fields: map[string]string{f.Name: "is required"}}
		}
	}
	return out, nil
}

func normalizeValue(f Field, v any) (any, string) {
	switch f.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return nil, "must be a string"
		}
		if len(s) > MaxTextLen || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, "must be valid UTF-8 without NUL characters, at most 65536 bytes"
		}
		return s, ""
	case TypeNumber:
		n, ok := toFloat(v)
		if !ok {
			return nil, "must be a finite number"
		}
		return n, ""
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, "must be true or false"
		}
		return b, ""
	case TypeDatetime:
		s, ok := v.(string)
		if !ok {
			return nil, "must be an RFC 3339 date-time string"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z"
		}
		return t.UTC().Format(time.RFC3339Nano), ""
	case TypeEmail:
		s, ok := v.(string)
		if !ok {
			return nil, "must be an email address"
		}
		e, err := NormalizeEmail(f.Name, s)
		if err != nil {
			return nil, "must be a plain email address such as ada@example.com"
		}
		return e, ""
	case TypeJSON:
		b, err := json.Marshal(v)
		if err != nil || len(b) > MaxJSONValue {
			return nil, "must be a JSON value of at most 65536 bytes"
		}
		if reason := checkJSON(v); reason != "" {
			return nil, reason
		}
		return v, ""
	}
	return nil, "has an unknown type"
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if f == 0 {
		// -0 == 0, and a filter on 0 finds it, so it is stored as 0:
		// kept as -0, its unique key ("n:-0") would differ from 0's and
		// a unique number field could hold 0 twice.
		f = 0
	}
	return f, true
}

// checkJSON refuses a json value that would be stored but not read back:
// a number float64 cannot hold (1e400, anywhere in the value), which
// every read of the record, its list pages and the re-seal job would
// fail to decode, or nesting deeper than MaxJSONDepth.
func checkJSON(v any) string {
	const (
		deep  = "must not nest arrays and objects more than 64 deep"
		huge  = "must hold only numbers a 64-bit float can hold (about ±1.8e308)"
		other = "must be a JSON value"
	)
	var walk func(v any, depth int) string
	walk = func(v any, depth int) string {
		switch x := v.(type) {
		case nil, bool, string:
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return huge
			}
		case json.Number:
			if f, err := strconv.ParseFloat(string(x), 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return huge
			}
		case map[string]any:
			if depth++; depth > MaxJSONDepth {
				return deep
			}
			for _, e := range x {
				if r := walk(e, depth); r != "" {
					return r
				}
			}
		case []any:
			if depth++; depth > MaxJSONDepth {
				return deep
			}
			for _, e := range x {
				if r := walk(e, depth); r != "" {
					return r
				}
			}
		default:
			// Another Go type (from a caller of the Go API): judge what
			// it marshals to, decoded as a read decodes it.
			b, err := json.Marshal(x)
			if err != nil {
				return other
			}
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var dv any
			if d.Decode(&dv) != nil {
				return other
			}
			return walk(dv, depth)
		}
		return ""
	}
	return walk(v, 0)
}

// ParseFilterValue turns a query-string value into the normalised value a
// stored record holds for field f, for an equality filter.
func ParseFilterValue(f Field, raw string) (any, error) {
	var v any = raw
	switch f.Type {
	case TypeNumber:
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, FieldError(f.Name, "filter value must be a number")
		}
		v = n
	case TypeBool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, FieldError(f.Name, "filter value must be true or false")
		}
		v = b
	case TypeJSON:
		return nil, FieldError(f.Name, "json fields cannot be filtered")
	}
	nv, reason := normalizeValue(f, v)
	if reason != "" {
		return nil, FieldError(f.Name, "filter value "+reason)
	}
	return nv, nil
}

// UniqueKey is the canonical string of a value for unique constraints and
// equality lookups.
func UniqueKey(v any) string {
	switch x := v.(type) {
	case string:
		return "s:" + x
	case float64:
		if x == 0 {
			x = 0 // -0 has 0's key (validation stores it as 0 too)
		}
		return "n:" + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "b:" + strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return "j:" + strings.TrimSpace(string(b))
}

// ETag returns the entity tag of a record version.
func (r *Record) ETag() string { return `"` + strconv.FormatInt(r.Version, 10) + `"` }

// ParseETag reads a version from an If-Match value.
func ParseETag(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	return n, err == nil && n > 0
}

// ListOptions pages through a list.
type ListOptions struct {
	Limit  int
	Cursor string
	// Filters are equality filters: field name to the value as written in
	// a query string. The store reads each with ParseFilterValue against
	// the collection's schema, in the same transaction as the list, so the
	// caller needs no separate right to read the schema.
	Filters map[string]string
}

// Page limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)
