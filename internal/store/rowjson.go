package store

import (
	"encoding/json"
	"maps"
	"slices"
)

// A record write lays its row out as JSON: the clear values, the sealed
// ones and the blind index tags, each an object of field names. These
// write exactly what json.Marshal writes for those maps (rowjson_test.go
// compares them), without its reflection over map keys, which was most
// of layout's time.

// marshalValues is json.Marshal(m) for a record's values.
func marshalValues(m map[string]any) (string, error) {
	b := make([]byte, 0, 32*len(m)+2)
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, k), ':')
		var err error
		if b, err = appendJSONValue(b, m[k]); err != nil {
			return "", err
		}
	}
	return string(append(b, '}')), nil
}

// marshalStrings is json.Marshal(m) for a map of strings.
func marshalStrings(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b := make([]byte, 0, 96*len(m)+2)
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(appendJSONString(b, k), ':'), m[k])
	}
	return string(append(b, '}'))
}

// appendJSONValue appends json.Marshal(v).
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return appendJSONString(b, x), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case nil:
		return append(b, "null"...), nil
	}
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// appendJSONString appends json.Marshal(s): a string of printable ASCII
// that needs no escape (encoding/json also escapes <, > and &) is copied
// between quotes, any other is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string cannot fail
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
