package web

import (
	"net/http"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestE2EUniqueAfterReclassifyRoundTrip: a unique field raised to personal
// and lowered to public again before the re-seal job ran keeps refusing a
// value another record holds (409); the lowering left blind index tags as
// the keys of the records the job had not reached, and the duplicate was
// accepted (201).
func TestE2EUniqueAfterReclassifyRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		e.collection(owner, "contacts",
			bulwark.Field{Name: "name", Type: bulwark.TypeText, Classification: bulwark.ClassPublic},
			bulwark.Field{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPublic, Unique: true},
		)
		path := "/api/v1/collections/contacts/records"
		e.record(owner, "contacts", map[string]any{"name": "A", "email": "ada@example.com"})
		b := e.record(owner, "contacts", map[string]any{"name": "B", "email": "bob@example.com"})
		e.want(e.do("POST", path, owner, `{"name":"B","email":"ada@example.com"}`), http.StatusConflict, bulwark.EConflict)

		e.want(e.do("PATCH", "/api/v1/collections/contacts", owner, `{"classifications":{"email":"personal"}}`), http.StatusOK)
		e.want(e.do("PATCH", "/api/v1/collections/contacts", owner, `{"classifications":{"email":"public"}}`), http.StatusOK)

		before := snapshot(t, e, owner)
		e.want(e.do("POST", path, owner, `{"name":"C","email":"ada@example.com"}`), http.StatusConflict, bulwark.EConflict)
		e.want(e.do("POST", path, owner, `{"name":"C","email":"BOB@example.com"}`), http.StatusConflict, bulwark.EConflict)
		e.want(e.do("PATCH", path+"/"+b.ID, owner, `{"email":"ada@example.com"}`), http.StatusConflict, bulwark.EConflict)
		if after := snapshot(t, e, owner); after != before {
			t.Errorf("refused duplicates changed the tenant:\nbefore %s\nafter  %s", before, after)
		}
		l := decodeInto[struct{ Items []*bulwark.Record }](t, e.want(e.do("GET", path+"?email=ada@example.com", owner, nil), http.StatusOK))
		if len(l.Items) != 1 {
			t.Errorf("%d records hold ada@example.com, want 1", len(l.Items))
		}
	})
}
