package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

func TestCollections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		c, err := f.CreateCollection(owner, notes)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.CreateCollection(owner, notes)
		wantCode(t, err, bulwark.EConflict)
		for _, bad := range []bulwark.Collection{
			{Name: "Bad-Name", Fields: notes.Fields},
			{Name: "empty"},
			{Name: "noclass", Fields: []bulwark.Field{{Name: "a", Type: bulwark.TypeText}}},
			{Name: "badtype", Fields: []bulwark.Field{{Name: "a", Type: "blob", Classification: bulwark.ClassPublic}}},
			{Name: "reserved", Fields: []bulwark.Field{{Name: "id", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}}},
			{Name: "dup", Fields: []bulwark.Field{{Name: "a", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}, {Name: "a", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}}},
		} {
			_, err := f.CreateCollection(owner, bad)
			wantCode(t, err, bulwark.EInvalid)
		}
		// Live changes: add a field, reclassify one.
		r, err := f.CreateRecord(owner, "notes", map[string]any{"title": "before"})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := f.UpdateCollection(owner, "notes", bulwark.CollectionUpdate{
			AddFields:       []bulwark.Field{{Name: "phone", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal, Unique: true}},
			Classifications: map[string]bulwark.Classification{"title": bulwark.ClassConfidential},
		})
		if err != nil {
			t.Fatal(err)
		}
		if fl, _ := c2.Field("title"); fl.Classification != bulwark.ClassConfidential || len(c2.Fields) != len(c.Fields)+1 {
			t.Fatalf("updated collection = %+v", c2)
		}
		if _, err := f.UpdateRecord(owner, "notes", r.ID, map[string]any{"phone": "+1 555"}, 0); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []bulwark.CollectionUpdate{
			{},
			{Classifications: map[string]bulwark.Classification{"nope": bulwark.ClassPublic}},
			{Classifications: map[string]bulwark.Classification{"title": "top-secret"}},
			{AddFields: []bulwark.Field{{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}}},
		} {
			_, err := f.UpdateCollection(owner, "notes", bad)
			wantCode(t, err, bulwark.EInvalid)
		}
		_, err = f.UpdateCollection(owner, "nope", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{"title": bulwark.ClassPublic}})
		wantCode(t, err, bulwark.ENotFound)
		if got, err := f.GetCollection(owner, "notes"); err != nil || len(got.Fields) != len(c2.Fields) {
			t.Fatalf("GetCollection = %+v, %v", got, err)
		}
		list, err := f.ListCollections(owner)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListCollections = %d, %v", len(list), err)
		}
		// Deleting a collection deletes its records.
		if err := f.DeleteCollection(owner, "notes"); err != nil {
			t.Fatal(err)
		}
		_, err = f.GetRecord(owner, "notes", r.ID)
		wantCode(t, err, bulwark.ENotFound)
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		recs, _, err := f.ListRecords(owner, "notes", bulwark.ListOptions{})
		if err != nil || len(recs) != 0 {
			t.Fatalf("a recreated collection has %d records, %v", len(recs), err)
		}
	})
}

func TestRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		r, err := f.CreateRecord(owner, "notes", map[string]any{
			"title": "one", "owner_email": "Ada@Example.com", "score": 3.5, "done": true,
			"due": "2026-01-02T15:04:05+01:00", "meta": map[string]any{"k": []any{1.0, "x"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != 1 || r.Data["owner_email"] != "ada@example.com" || r.Data["due"] != "2026-01-02T14:04:05Z" {
			t.Fatalf("created record = %+v", r)
		}
		got, err := f.GetRecord(owner, "notes", r.ID)
		if err != nil || got.Data["score"] != 3.5 || got.Data["done"] != true || got.Version != 1 {
			t.Fatalf("GetRecord = %+v, %v", got, err)
		}

		// Bad input is refused and changes nothing.
		for _, bad := range []map[string]any{
			{},
			{"title": 5},
			{"title": "x", "unknown": 1},
			{"title": "x", "score": "high"},
			{"title": "x", "done": "yes"},
			{"title": "x", "due": "tomorrow"},
			{"title": "x", "owner_email": "not-an-email"},
			{"title": nil},
		} {
			_, err := f.CreateRecord(owner, "notes", bad)
			wantCode(t, err, bulwark.EInvalid)
		}
		_, err = f.CreateRecord(owner, "notes", map[string]any{"title": "dup", "owner_email": "ada@example.com"})
		wantCode(t, err, bulwark.EConflict)
		_, err = f.CreateRecord(owner, "nope", map[string]any{"title": "x"})
		wantCode(t, err, bulwark.ENotFound)
		all, _, _ := f.ListRecords(owner, "notes", bulwark.ListOptions{})
		if len(all) != 1 {
			t.Fatalf("bad input left %d records, want 1", len(all))
		}

		// Conditional update.
		up, err := f.UpdateRecord(owner, "notes", r.ID, map[string]any{"title": "uno", "score": nil}, 1)
		if err != nil || up.Version != 2 || up.Data["title"] != "uno" || up.Data["score"] != nil {
			t.Fatalf("UpdateRecord = %+v, %v", up, err)
		}
		_, err = f.UpdateRecord(owner, "notes", r.ID, map[string]any{"title": "stale"}, 1)
		wantCode(t, err, bulwark.EFailedPrecondition)
		_, err = f.UpdateRecord(owner, "notes", r.ID, map[string]any{"title": nil}, 0)
		wantCode(t, err, bulwark.EInvalid)
		_, err = f.UpdateRecord(owner, "notes", r.ID, map[string]any{}, 0)
		wantCode(t, err, bulwark.EInvalid)
		if got, _ := f.GetRecord(owner, "notes", r.ID); got.Version != 2 || got.Data["title"] != "uno" {
			t.Fatalf("refused updates changed the record: %+v", got)
		}
		// A unique value moves with updates.
		r2, err := f.CreateRecord(owner, "notes", map[string]any{"title": "two", "owner_email": "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.UpdateRecord(owner, "notes", r2.ID, map[string]any{"owner_email": "ada@example.com"}, 0)
		wantCode(t, err, bulwark.EConflict)
		if _, err := f.UpdateRecord(owner, "notes", r.ID, map[string]any{"owner_email": "carol@example.com"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.UpdateRecord(owner, "notes", r2.ID, map[string]any{"owner_email": "ada@example.com"}, 0); err != nil {
			t.Fatalf("a freed unique value is still taken: %v", err)
		}

		// Filters and pagination.
		for i := 0; i < 5; i++ {
			if _, err := f.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprintf("n%d", i), "score": float64(i % 2), "done": i%2 == 0}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			filter map[string]string
			want   int
		}{
			{map[string]string{"score": "1"}, 2},
			{map[string]string{"score": "1.0"}, 2},
			{map[string]string{"done": "true"}, 4},
			{map[string]string{"done": "false"}, 2},
			{map[string]string{"title": "n3"}, 1},
			{map[string]string{"owner_email": "ADA@example.com"}, 1},
			{map[string]string{"score": "0", "done": "true"}, 3},
			{map[string]string{"title": "n3' OR '1'='1"}, 0},
		} {
			recs, _, err := f.ListRecords(owner, "notes", bulwark.ListOptions{Filters: c.filter})
			if err != nil || len(recs) != c.want {
				t.Errorf("filter %v: %d records, %v; want %d", c.filter, len(recs), err, c.want)
			}
		}
		for _, bad := range []map[string]string{{"meta": "x"}, {"nope": "x"}, {"score": "high"}, {"done": "maybe"}} {
			_, _, err = f.ListRecords(owner, "notes", bulwark.ListOptions{Filters: bad})
			wantCode(t, err, bulwark.EInvalid)
		}
		var seen []string
		cursor := ""
		for {
			page, next, err := f.ListRecords(owner, "notes", bulwark.ListOptions{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				seen = append(seen, p.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 7 {
			t.Fatalf("paging saw %d records, want 7", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] <= seen[i-1] {
				t.Fatal("paging is not in id order")
			}
		}

		// Conditional delete.
		wantCode(t, f.DeleteRecord(owner, "notes", r.ID, 1), bulwark.EFailedPrecondition)
		if err := f.DeleteRecord(owner, "notes", r.ID, 3); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.DeleteRecord(owner, "notes", r.ID, 0), bulwark.ENotFound)
		if n := countAudit(t, f, owner, "record.update", "notes/"+r.ID); n != 2 {
			t.Fatalf("audit entries for updates = %d, want 2", n)
		}
	})
}

func TestCollectionScopedGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		owner, _ := f.Tenant(t, "acme")
		secrets := bulwark.Collection{Name: "secrets", Fields: []bulwark.Field{{Name: "v", Type: bulwark.TypeText, Classification: bulwark.ClassSecret}}}
		for _, c := range []bulwark.Collection{notes, secrets} {
			if _, err := f.CreateCollection(owner, c); err != nil {
				t.Fatal(err)
			}
		}
		s, err := f.CreateRecord(owner, "secrets", map[string]any{"v": "hidden"})
		if err != nil {
			t.Fatal(err)
		}
		// Need-to-know: an editor of notes only.
		ed, _ := f.User(t, owner, "ed@acme.example", bulwark.Grant{Role: bulwark.RoleEditor, Collection: "notes"})
		if _, err := f.CreateRecord(ed, "notes", map[string]any{"title": "ok"}); err != nil {
			t.Fatal(err)
		}
		_, err = f.GetRecord(ed, "secrets", s.ID)
		wantCode(t, err, bulwark.EForbidden)
		_, err = f.CreateRecord(ed, "secrets", map[string]any{"v": "x"})
		wantCode(t, err, bulwark.EForbidden)
		_, _, err = f.ListRecords(ed, "secrets", bulwark.ListOptions{})
		wantCode(t, err, bulwark.EForbidden)
		list, err := f.ListCollections(ed)
		if err != nil || len(list) != 1 || list[0].Name != "notes" {
			t.Fatalf("scoped ListCollections = %v, %v", list, err)
		}
		_, err = f.CreateCollection(ed, bulwark.Collection{Name: "mine", Fields: notes.Fields})
		wantCode(t, err, bulwark.EForbidden)
		// A scoped grant cannot carry tenant-wide permissions.
		_, _, err = f.InviteUser(owner, bulwark.NewUser{Email: "x@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleAuditor, Collection: "notes"}}})
		wantCode(t, err, bulwark.EInvalid)
		_, _, err = f.InviteUser(owner, bulwark.NewUser{Email: "x@acme.example", Grants: []bulwark.Grant{{Role: bulwark.RoleViewer, Collection: "nope"}}})
		wantCode(t, err, bulwark.EInvalid)
		// Deleting the collection removes the grant with it.
		if err := f.DeleteCollection(owner, "notes"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		edID := bulwark.FromContext(ed).ID
		u, err := f.GetUser(owner, edID)
		if err != nil || len(u.Grants) != 0 {
			t.Fatalf("grant survived its collection: %+v, %v", u, err)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		for _, ctx := range []context.Context{a, b} {
			if _, err := f.CreateCollection(ctx, notes); err != nil {
				t.Fatal(err)
			}
		}
		ra, _ := f.CreateRecord(a, "notes", map[string]any{"title": "acme's", "owner_email": "x@example.com"})
		// The same unique value in another tenant is no conflict.
		if _, err := f.CreateRecord(b, "notes", map[string]any{"title": "globex's", "owner_email": "x@example.com"}); err != nil {
			t.Fatal(err)
		}
		uA, _, _ := f.ListUsers(a, bulwark.ListOptions{})
		tokA, _ := f.CreateToken(a, bulwark.NewAPIToken{Name: "t", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})

		// B, with every right in B, sees none of A.
		_, err := f.GetRecord(b, "notes", ra.ID)
		wantCode(t, err, bulwark.ENotFound)
		_, err = f.UpdateRecord(b, "notes", ra.ID, map[string]any{"title": "pwned"}, 0)
		wantCode(t, err, bulwark.ENotFound)
		wantCode(t, f.DeleteRecord(b, "notes", ra.ID, 0), bulwark.ENotFound)
		_, err = f.GetUser(b, uA[0].ID)
		wantCode(t, err, bulwark.ENotFound)
		wantCode(t, f.DeleteUser(b, uA[0].ID), bulwark.ENotFound)
		wantCode(t, f.RevokeToken(b, tokA.ID), bulwark.ENotFound)
		recs, _, _ := f.ListRecords(b, "notes", bulwark.ListOptions{})
		if len(recs) != 1 || recs[0].Data["title"] != "globex's" {
			t.Fatalf("B lists %+v", recs)
		}
		if got, _ := f.GetRecord(a, "notes", ra.ID); got.Data["title"] != "acme's" {
			t.Fatalf("A's record changed: %+v", got)
		}
	})
}
