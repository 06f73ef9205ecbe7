package web

import (
	"net/http"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestFilterNeedsOnlyRecordsRead: a role with records.read and nothing
// else lists records with equality filters; the schema is read inside the
// store, not through a collections.read call.
func TestFilterNeedsOnlyRecordsRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "notes",
			bulwark.Field{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal},
			bulwark.Field{Name: "score", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic})
		e.record(owner, "notes", map[string]any{"title": "a", "score": 1})
		e.record(owner, "notes", map[string]any{"title": "b", "score": 2})
		e.want(e.do("POST", "/api/v1/roles", owner, map[string]any{"name": "reader", "permissions": []string{"records.read"}}), http.StatusCreated)
		_, reader := e.user(owner, "acme", "r@acme.example", bulwark.Grant{Role: "reader", Collection: "notes"})

		r := e.want(e.do("GET", "/api/v1/collections/notes/records?score=2", reader, nil), http.StatusOK)
		page := decodeInto[struct {
			Items []bulwark.Record `json:"items"`
		}](t, r)
		if len(page.Items) != 1 || page.Items[0].Data["title"] != "b" {
			t.Fatalf("filtered list = %s", r.body)
		}
		e.want(e.do("GET", "/api/v1/collections/notes/records?score=high", reader, nil), http.StatusBadRequest, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/notes/records?nope=1", reader, nil), http.StatusBadRequest, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/notes/records?score=1&score=2", reader, nil), http.StatusBadRequest, bulwark.EInvalid)
	})
}
