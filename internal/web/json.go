package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	bulwark "github.com/bulwarkhq/bulwark"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// decode reads a JSON object of type T from the request body. It is strict
// on purpose: application/json only, at most 1 MiB, a single object with no
// unknown fields and nothing after it. Numbers stay json.Number so large
// integers are not silently rounded.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	b, err := readBody(w, r)
	if err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, jsonError(err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		var zero T
		return zero, bulwark.Errorf(bulwark.EInvalid, "request body must hold a single JSON object")
	}
	if err := checkStrings(b); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// checkStrings refuses NUL characters (\u0000) in any key or string of a
// JSON document. Valid JSON may carry them, but no name, email or text
// field needs one, PostgreSQL cannot store them and C-based consumers
// truncate at them: refusing them here makes every backend answer alike.
func checkStrings(b []byte) error {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return nil // fast path: a NUL can only arrive escaped
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return bulwark.Errorf(bulwark.EInvalid, "request body must not contain NUL characters")
		}
	}
}

// decodeObject reads a JSON object of arbitrary keys (a record's data).
// Field names are checked by the collection, not here.
func decodeObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	m, err := decode[map[string]any](w, r)
	if err != nil {
		return nil, err
	}
	if m == nil {
		// Unreachable after the '{' check in readBody; kept so no nil
		// map ever reaches a service.
		m = map[string]any{}
	}
	return m, nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, bulwark.Errorf(bulwark.ETooLarge, "request body is larger than 1 MiB")
		}
		return nil, bulwark.Errorf(bulwark.EInvalid, "could not read the request body")
	}
	// JSON is UTF-8 (RFC 8259); the decoder would silently replace bad
	// bytes, storing something other than what the client sent.
	if !utf8.Valid(b) {
		return nil, bulwark.Errorf(bulwark.EInvalid, "request body must be UTF-8")
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return nil, bulwark.Errorf(bulwark.EInvalid, "request body is empty: send a JSON object")
	}
	if t[0] != '{' {
		return nil, bulwark.Errorf(bulwark.EInvalid, "request body must be a JSON object")
	}
	return b, nil
}

func checkContentType(ct string) error {
	if ct == "" {
		return errMediaType
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errMediaType
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return errMediaType
		}
	}
	return nil
}

// jsonError turns a decoder error into a safe invalid-input error: the
// decoder's own text names Go types, so it is not shown.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return bulwark.FieldError(typeErr.Field, "has the wrong type")
		}
		return bulwark.Errorf(bulwark.EInvalid, "request body has the wrong shape")
	case errors.As(err, &syntaxErr):
		return bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		name := strings.Trim(strings.TrimPrefix(msg, unknown), `"`)
		if len(name) > 64 {
			name = name[:64]
		}
		return bulwark.FieldError(name, "unknown field")
	}
	return bulwark.Errorf(bulwark.EInvalid, "request body is not valid JSON")
}

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// The body is never HTML, and CSP forbids everything anyway, but
	// escaping <, > and & costs nothing.
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
