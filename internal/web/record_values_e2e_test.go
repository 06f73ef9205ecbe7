package web

import (
	"net/http"
	"strings"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// thingsFields has json fields on both sides of the sensitive line.
var thingsFields = []bulwark.Field{
	{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassPublic},
	{Name: "meta", Type: bulwark.TypeJSON, Classification: bulwark.ClassPublic},
	{Name: "smeta", Type: bulwark.TypeJSON, Classification: bulwark.ClassPersonal},
}

// TestE2EJSONNumberOutOfRange: a json value holding a number float64
// cannot hold, at the top or nested, clear or sealed, is refused with 400
// on create and update and changes nothing; it used to be stored, and
// then every read of the record, the collection's list, reclassifying
// the field and the re-seal job failed with 500.
func TestE2EJSONNumberOutOfRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "things", thingsFields...)
		r := e.record(owner, "things", map[string]any{"title": "a", "meta": map[string]any{"n": 1}, "smeta": []any{1.5e308}})
		path := "/api/v1/collections/things/records"
		before := snapshot(t, e, owner)
		for _, body := range []string{
			`{"title":"b","meta":1e400}`,
			`{"title":"b","meta":-1e400}`,
			`{"title":"b","meta":{"x":[1,2e308]}}`,
			`{"title":"b","smeta":{"x":[1e400]}}`,
			`{"title":"b","smeta":[[[{"y":1e999}]]]}`,
		} {
			e.want(e.do("POST", path, owner, body), http.StatusBadRequest, bulwark.EInvalid)
			e.want(e.do("PATCH", path+"/"+r.ID, owner, body), http.StatusBadRequest, bulwark.EInvalid)
		}
		if after := snapshot(t, e, owner); after != before {
			t.Errorf("refused values changed the tenant:\nbefore %s\nafter  %s", before, after)
		}
		e.want(e.do("GET", path+"/"+r.ID, owner, nil), http.StatusOK)
		e.want(e.do("GET", path, owner, nil), http.StatusOK)
		e.want(e.do("PATCH", "/api/v1/collections/things", owner, `{"classifications":{"smeta":"public","meta":"personal"}}`), http.StatusOK)
		if err := e.fx.Reseal(storetest.System(t.Context()), "acme", nil); err != nil {
			t.Fatalf("re-seal job: %v", err)
		}
		e.want(e.do("GET", path+"/"+r.ID, owner, nil), http.StatusOK)
	})
}

// TestE2EJSONTooDeep: a json value nesting arrays or objects deeper than
// bulwark.MaxJSONDepth is refused with 400 and changes nothing; a value
// 1001 deep used to be stored, and then every filtered list of the
// collection failed with 500 on SQLite (its JSON functions stop at 1000).
func TestE2EJSONTooDeep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "things", thingsFields...)
		path := "/api/v1/collections/things/records"
		nest := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
		r := e.record(owner, "things", map[string]any{"title": "ok"})
		e.want(e.do("POST", path, owner, `{"title":"deepest","meta":`+nest(bulwark.MaxJSONDepth)+`}`), http.StatusCreated)
		before := snapshot(t, e, owner)
		for _, depth := range []int{bulwark.MaxJSONDepth + 1, 1001} {
			for _, field := range []string{"meta", "smeta"} {
				body := `{"title":"deep","` + field + `":` + nest(depth) + `}`
				e.want(e.do("POST", path, owner, body), http.StatusBadRequest, bulwark.EInvalid)
				e.want(e.do("PATCH", path+"/"+r.ID, owner, body), http.StatusBadRequest, bulwark.EInvalid)
			}
			e.want(e.do("POST", path, owner, `{"meta":{"a":`+nest(depth-1)+`}}`), http.StatusBadRequest, bulwark.EInvalid)
		}
		if after := snapshot(t, e, owner); after != before {
			t.Errorf("refused values changed the tenant:\nbefore %s\nafter  %s", before, after)
		}
		e.want(e.do("GET", path+"?title=ok", owner, nil), http.StatusOK)
	})
}

// TestE2EUniqueNegativeZero: -0 is the same number as 0, so a unique
// number field, clear or sealed, refuses one beside the other (409), in
// either order; it used to take both, their unique keys differing.
func TestE2EUniqueNegativeZero(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "seats",
			bulwark.Field{Name: "n", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic, Unique: true},
			bulwark.Field{Name: "s", Type: bulwark.TypeNumber, Classification: bulwark.ClassPersonal, Unique: true},
		)
		path := "/api/v1/collections/seats/records"
		e.want(e.do("POST", path, owner, `{"n":0,"s":-0}`), http.StatusCreated)
		for _, body := range []string{`{"n":-0}`, `{"n":-0.0}`, `{"n":0}`, `{"s":0}`, `{"s":-0e3}`} {
			e.want(e.do("POST", path, owner, body), http.StatusConflict, bulwark.EConflict)
		}
		r := e.record(owner, "seats", map[string]any{"n": 1, "s": 1})
		e.want(e.do("PATCH", path+"/"+r.ID, owner, `{"n":-0}`), http.StatusConflict, bulwark.EConflict)
		e.want(e.do("PATCH", path+"/"+r.ID, owner, `{"s":0}`), http.StatusConflict, bulwark.EConflict)
		for _, q := range []string{"?n=0", "?n=-0", "?s=0", "?s=-0"} {
			l := decodeInto[struct{ Items []*bulwark.Record }](t, e.want(e.do("GET", path+q, owner, nil), http.StatusOK))
			if len(l.Items) != 1 {
				t.Errorf("%s finds %d records, want 1", q, len(l.Items))
			}
		}
	})
}
