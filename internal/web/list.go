package web

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	bulwark "github.com/bulwarkhq/bulwark"
)

// listResponse is the shape of every list: items, and the cursor of the
// next page, empty on the last one.
type listResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func listOf[T any](items []T, next string) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Items: items, NextCursor: next}
}

// maxCursor bounds the opaque cursor a client sends back.
const maxCursor = 512

// query parses the query string strictly: a malformed one is an error
// rather than silently dropped pairs.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, bulwark.Errorf(bulwark.EInvalid, "malformed query string")
	}
	for k, vs := range q {
		if !cleanText(k) {
			return nil, bulwark.Errorf(bulwark.EInvalid, "query parameter names must be UTF-8 without control characters")
		}
		for _, v := range vs {
			if !cleanText(v) {
				return nil, bulwark.FieldError(truncate(k, 64), "must be UTF-8 without control characters")
			}
		}
	}
	return q, nil
}

// cleanText reports whether s is UTF-8 without control characters. Ids,
// names, cursors and filter values never hold any; a NUL or a broken
// byte sequence is refused here rather than sent to a database that may
// choke on it.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// noQuery rejects query parameters on a list that does not page.
func noQuery(r *http.Request) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	for k := range q {
		if k != "limit" && k != "cursor" {
			return bulwark.FieldError(truncate(k, 64), "unknown query parameter")
		}
	}
	// limit and cursor are accepted, and checked, so that every list takes
	// the same parameters; these lists are short and come in one page.
	_, err = listOptions(q)
	return err
}

// listOptions reads limit and cursor, removing them from q.
func listOptions(q url.Values) (bulwark.ListOptions, error) {
	var opt bulwark.ListOptions
	if vs, ok := q["limit"]; ok {
		if len(vs) != 1 {
			return opt, bulwark.FieldError("limit", "give it once")
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > bulwark.MaxPageSize {
			return opt, bulwark.FieldError("limit", "must be a number from 1 to "+strconv.Itoa(bulwark.MaxPageSize))
		}
		opt.Limit = n
	}
	if vs, ok := q["cursor"]; ok {
		if len(vs) != 1 || len(vs[0]) > maxCursor {
			return opt, bulwark.FieldError("cursor", "must be a single cursor from a previous page")
		}
		opt.Cursor = vs[0]
	}
	delete(q, "limit")
	delete(q, "cursor")
	return opt, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// created answers 201 with the new object and where it lives.
func created(w http.ResponseWriter, status int, loc string, v any) {
	w.Header().Set("Location", loc)
	encode(w, status, v)
}

// location joins a collection URL and an id, escaping the id.
func location(base string, id string) string {
	return base + "/" + url.PathEscape(id)
}
