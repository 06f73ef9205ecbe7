package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// people has a field of every class; the sensitive ones are sealed.
var people = bulwark.Collection{Name: "people", Fields: []bulwark.Field{
	{Name: "name", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal, Required: true},
	{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal, Unique: true},
	{Name: "ssn", Type: bulwark.TypeText, Classification: bulwark.ClassSecret, Lookup: true},
	{Name: "salary", Type: bulwark.TypeNumber, Classification: bulwark.ClassConfidential},
	{Name: "notes", Type: bulwark.TypeJSON, Classification: bulwark.ClassConfidential},
	{Name: "vip", Type: bulwark.TypeBool, Classification: bulwark.ClassSecret},
	{Name: "team", Type: bulwark.TypeText, Classification: bulwark.ClassInternal},
	{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassPublic},
}}

// unique returns a value no test data can contain by chance.
func unique(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// querier is what raw access offers.
type querier interface {
	Exec(q string, args ...any) (sql.Result, error)
	QueryRow(q string, args ...any) *sql.Row
	Query(q string, args ...any) (*sql.Rows, error)
}

// raw runs fn outside the application: on the SQLite file itself, or on
// PostgreSQL as the tables' owner with tenantID set for row-level
// security ("" for none). Queries use $n placeholders on PostgreSQL.
func raw(t *testing.T, f *storetest.Fixture, tenantID string, fn func(q querier)) {
	t.Helper()
	var db *sql.DB
	var err error
	if f.Backend == "sqlite" {
		db, err = sql.Open("sqlite", "file:"+f.Path+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", f.OwnerURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if f.Backend == "postgres" && tenantID != "" {
		if _, err := tx.Exec("SELECT set_config('app.tenant_id', $1, true)", tenantID); err != nil {
			t.Fatal(err)
		}
	}
	fn(tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// ph returns the backend's placeholders for raw queries: ? or $n.
func ph(f *storetest.Fixture, q string) string {
	if f.Backend == "sqlite" {
		return q
	}
	n := 0
	var b strings.Builder
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

type rawRow struct {
	data   map[string]any
	sealed map[string]string
	keyID  int64
}

func readRaw(t *testing.T, f *storetest.Fixture, tenantID, recordID string) rawRow {
	t.Helper()
	var r rawRow
	raw(t, f, tenantID, func(q querier) {
		var data, sealed string
		if err := q.QueryRow(ph(f, "SELECT data, sealed, key_id FROM records WHERE tenant_id = ? AND id = ?"), tenantID, recordID).Scan(&data, &sealed, &r.keyID); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(data), &r.data)
		json.Unmarshal([]byte(sealed), &r.sealed)
	})
	return r
}

func tenantOf(ctx context.Context) string { return bulwark.FromContext(ctx).TenantID }

func TestSealedRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		for _, ctx := range []context.Context{a, b} {
			must[*bulwark.Collection](t)(f.CreateCollection(ctx, people))
		}
		in := map[string]any{"name": "Ada Lovelace", "email": "Ada@Example.com", "ssn": "078-05-1120", "salary": 125000.5,
			"notes": map[string]any{"k": []any{1.0, "x"}}, "vip": true, "team": "eng", "title": "Countess"}
		r := must[*bulwark.Record](t)(f.CreateRecord(a, "people", in))
		got := must[*bulwark.Record](t)(f.GetRecord(a, "people", r.ID))
		want := map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "ssn": "078-05-1120", "salary": 125000.5,
			"notes": map[string]any{"k": []any{1.0, "x"}}, "vip": true, "team": "eng", "title": "Countess"}
		if fmt.Sprint(got.Data) != fmt.Sprint(want) {
			t.Fatalf("GetRecord = %v, want %v", got.Data, want)
		}
		// On disk: sensitive values only in sealed, under the primary key.
		row := readRaw(t, f, tenantOf(a), r.ID)
		if fmt.Sprint(row.data) != fmt.Sprint(map[string]any{"team": "eng", "title": "Countess"}) {
			t.Fatalf("records.data = %v", row.data)
		}
		if len(row.sealed) != 6 || row.keyID == 0 {
			t.Fatalf("records.sealed has %d values, key %d", len(row.sealed), row.keyID)
		}
		for name, v := range row.sealed {
			ct, _ := base64.StdEncoding.DecodeString(v)
			if id, _ := keys.KeyIDOf(ct); int64(id) != row.keyID {
				t.Errorf("%s is sealed under key %d, the row says %d", name, id, row.keyID)
			}
		}

		// Unique and lookup fields work through blind indexes.
		_, err := f.CreateRecord(a, "people", map[string]any{"name": "Impostor", "email": "ada@example.com"})
		wantCode(t, err, bulwark.EConflict)
		if bulwark.ErrorFields(err)["email"] == "" {
			t.Fatalf("the conflict does not name the field: %v", err)
		}
		must[*bulwark.Record](t)(f.CreateRecord(b, "people", map[string]any{"name": "Other tenant", "email": "ada@example.com", "ssn": "078-05-1120"}))
		r2 := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Bob", "email": "bob@example.com", "ssn": "078-05-1120", "salary": 1.0}))
		must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Carol", "ssn": "111-11-1111"}))
		for _, c := range []struct {
			filter map[string]string
			want   int
		}{
			{map[string]string{"email": "ada@example.com"}, 1},
			{map[string]string{"email": "nobody@example.com"}, 0},
			{map[string]string{"ssn": "078-05-1120"}, 2},
			{map[string]string{"ssn": "111-11-1111"}, 1},
			{map[string]string{"ssn": "078-05-1120", "team": "eng"}, 1},
			{map[string]string{"ssn": "078-05-1120", "email": "bob@example.com"}, 1},
		} {
			recs, _, err := f.ListRecords(a, "people", bulwark.ListOptions{Filters: c.filter})
			if err != nil || len(recs) != c.want {
				t.Errorf("filter %v: %d records, %v; want %d", c.filter, len(recs), err, c.want)
			}
		}
		// A sealed field without a blind index cannot be filtered.
		for _, field := range []string{"name", "salary", "vip"} {
			_, _, err := f.ListRecords(a, "people", bulwark.ListOptions{Filters: map[string]string{field: "x"}})
			wantCode(t, err, bulwark.EInvalid)
		}
		// Updates re-seal the row; the unique value moves.
		up := must[*bulwark.Record](t)(f.UpdateRecord(a, "people", r2.ID, map[string]any{"email": "robert@example.com", "salary": nil}, 0))
		if up.Data["email"] != "robert@example.com" || up.Data["salary"] != nil || up.Data["ssn"] != "078-05-1120" {
			t.Fatalf("UpdateRecord = %v", up.Data)
		}
		must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Bob again", "email": "bob@example.com"}))
		recs, _, _ := f.ListRecords(a, "people", bulwark.ListOptions{Filters: map[string]string{"email": "robert@example.com"}})
		if len(recs) != 1 || recs[0].ID != r2.ID {
			t.Fatalf("filter after update: %v", recs)
		}
		if err := f.DeleteRecord(a, "people", r2.ID, 0); err != nil {
			t.Fatal(err)
		}
		recs, _, _ = f.ListRecords(a, "people", bulwark.ListOptions{Filters: map[string]string{"email": "robert@example.com"}})
		if len(recs) != 0 {
			t.Fatalf("a deleted record is still found by its blind index")
		}
		// Paging over sealed records.
		all, _, err := f.ListRecords(a, "people", bulwark.ListOptions{Limit: 2})
		if err != nil || len(all) != 2 || all[0].Data["name"] != "Ada Lovelace" {
			t.Fatalf("ListRecords = %v, %v", all, err)
		}
	})
}

// TestSealedTamper (security test 21): a sealed value copied to another
// record, field or tenant, or with a flipped bit, fails to open with an
// error, and never returns the other value.
func TestSealedTamper(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		for _, ctx := range []context.Context{a, b} {
			must[*bulwark.Collection](t)(f.CreateCollection(ctx, people))
		}
		r1 := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Ada", "ssn": "ssn-ada"}))
		r2 := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Bob", "ssn": "ssn-bob"}))
		rb := must[*bulwark.Record](t)(f.CreateRecord(b, "people", map[string]any{"name": "Eve", "ssn": "ssn-eve"}))
		setSealed := func(tenant, id string, sealed map[string]string) {
			t.Helper()
			j, _ := json.Marshal(sealed)
			raw(t, f, tenant, func(q querier) {
				if _, err := q.Exec(ph(f, "UPDATE records SET sealed = ? WHERE tenant_id = ? AND id = ?"), string(j), tenant, id); err != nil {
					t.Fatal(err)
				}
			})
		}
		check := func(name string, ctx context.Context, id string) {
			t.Helper()
			got, err := f.GetRecord(ctx, "people", id)
			if err == nil {
				t.Fatalf("%s: the record opened: %v", name, got.Data)
			}
			wantCode(t, err, bulwark.EInternal)
			if !errors.Is(err, keys.ErrOpen) && !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("%s: %v", name, err)
			}
			if strings.Contains(err.Error(), "ssn-") {
				t.Fatalf("%s: the error shows a value: %v", name, err)
			}
			// Listing fails too rather than return the record.
			if recs, _, err := f.ListRecords(ctx, "people", bulwark.ListOptions{}); err == nil {
				t.Fatalf("%s: ListRecords returned %d records", name, len(recs))
			}
		}
		ta, tb := tenantOf(a), tenantOf(b)
		orig1 := readRaw(t, f, ta, r1.ID).sealed
		orig2 := readRaw(t, f, ta, r2.ID).sealed

		// Another record's ciphertext.
		setSealed(ta, r1.ID, map[string]string{"name": orig1["name"], "ssn": orig2["ssn"]})
		check("swapped between records", a, r1.ID)
		// Another field's ciphertext.
		setSealed(ta, r1.ID, map[string]string{"name": orig1["ssn"], "ssn": orig1["name"]})
		check("swapped between fields", a, r1.ID)
		// A flipped bit.
		ct, _ := base64.StdEncoding.DecodeString(orig1["ssn"])
		ct[len(ct)-3] ^= 0x10
		setSealed(ta, r1.ID, map[string]string{"name": orig1["name"], "ssn": base64.StdEncoding.EncodeToString(ct)})
		check("flipped bit", a, r1.ID)
		// Not base64.
		setSealed(ta, r1.ID, map[string]string{"name": orig1["name"], "ssn": "%%%"})
		check("damaged encoding", a, r1.ID)
		// Tenant A's ciphertext in tenant B's row.
		origB := readRaw(t, f, tb, rb.ID).sealed
		setSealed(tb, rb.ID, map[string]string{"name": origB["name"], "ssn": orig1["ssn"]})
		check("swapped between tenants", b, rb.ID)
		// Restored, everything opens again.
		setSealed(ta, r1.ID, orig1)
		setSealed(tb, rb.ID, origB)
		if got, err := f.GetRecord(a, "people", r1.ID); err != nil || got.Data["ssn"] != "ssn-ada" {
			t.Fatalf("restored record: %v, %v", got, err)
		}
	})
}

// TestUndecodableValueStaysOutOfErrors: a stored value that no longer
// decodes (a number float64 cannot hold, from before validation refused
// it) fails reads with internal, and the error, which the request log
// records, never quotes the value: not for a sealed (personal) value on
// any path that opens it (a read, a list, a write, lowering its class,
// the re-seal job), nor for a clear one.
func TestUndecodableValueStaysOutOfErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		sys := storetest.System(context.Background())
		must[*bulwark.Collection](t)(f.CreateCollection(a, bulwark.Collection{Name: "things", Fields: []bulwark.Field{
			{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassPublic},
			{Name: "meta", Type: bulwark.TypeJSON, Classification: bulwark.ClassPublic},
			{Name: "smeta", Type: bulwark.TypeJSON, Classification: bulwark.ClassPersonal},
		}}))
		const marker = "31415926"
		hidden := func(name string, err error) {
			t.Helper()
			wantCode(t, err, bulwark.EInternal)
			if strings.Contains(err.Error(), marker) {
				t.Errorf("%s: the error quotes the value: %v", name, err)
			}
		}
		r := must[*bulwark.Record](t)(f.CreateRecord(a, "things", map[string]any{"title": "a", "smeta": map[string]any{"x": 1.0}}))
		if err := f.SealPlaintext(a, "things", r.ID, "smeta", []byte(`{"x":[`+marker+`e400]}`)); err != nil {
			t.Fatal(err)
		}
		_, err := f.GetRecord(a, "things", r.ID)
		hidden("get", err)
		_, _, err = f.ListRecords(a, "things", bulwark.ListOptions{})
		hidden("list", err)
		_, err = f.UpdateRecord(a, "things", r.ID, map[string]any{"title": "b"}, 0)
		hidden("update", err)
		_, err = f.UpdateCollection(a, "things", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{"smeta": bulwark.ClassPublic}})
		hidden("lowering its class", err)
		must[*bulwark.Collection](t)(f.UpdateCollection(a, "things", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{"title": bulwark.ClassPersonal}}))
		hidden("the re-seal job", f.Reseal(sys, "acme", nil))

		// A clear value.
		c := must[*bulwark.Record](t)(f.CreateRecord(a, "things", map[string]any{"meta": 1.0}))
		raw(t, f, tenantOf(a), func(q querier) {
			if _, err := q.Exec(ph(f, "UPDATE records SET data = ? WHERE tenant_id = ? AND id = ?"), `{"meta":`+marker+`e400}`, tenantOf(a), c.ID); err != nil {
				t.Fatal(err)
			}
		})
		_, err = f.GetRecord(a, "things", c.ID)
		hidden("get clear", err)
	})
}

// TestReclassifyRoundTripKeepsUnique: raising a unique field turns its
// unique keys into blind index tags at once, before the re-seal job has
// sealed the values; lowering it again rebuilds every record's key from
// its value, so the field never takes a value twice, whether the job had
// reached a record or not (records written sealed meanwhile included).
func TestReclassifyRoundTripKeepsUnique(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		sys := storetest.System(context.Background())
		must[*bulwark.Collection](t)(f.CreateCollection(a, bulwark.Collection{Name: "contacts", Fields: []bulwark.Field{
			{Name: "name", Type: bulwark.TypeText, Classification: bulwark.ClassPublic},
			{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPublic, Unique: true},
			{Name: "seat", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic, Unique: true},
		}}))
		setClass := func(c bulwark.Classification) {
			t.Helper()
			must[*bulwark.Collection](t)(f.UpdateCollection(a, "contacts", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{"email": c, "seat": c}}))
		}
		taken := func(when string, data map[string]any) {
			t.Helper()
			_, err := f.CreateRecord(a, "contacts", data)
			if bulwark.ErrorCode(err) != bulwark.EConflict {
				t.Fatalf("%s: a duplicate %v: %v, want conflict", when, data, err)
			}
		}
		ada := must[*bulwark.Record](t)(f.CreateRecord(a, "contacts", map[string]any{"name": "A", "email": "ada@example.com", "seat": 1}))
		bob := must[*bulwark.Record](t)(f.CreateRecord(a, "contacts", map[string]any{"name": "B", "email": "bob@example.com", "seat": 2}))

		// Up and down before the job runs.
		setClass(bulwark.ClassPersonal)
		must[*bulwark.Record](t)(f.CreateRecord(a, "contacts", map[string]any{"name": "C", "email": "cy@example.com", "seat": 3}))
		setClass(bulwark.ClassPublic)
		taken("round trip", map[string]any{"name": "X", "email": "ada@example.com"})
		taken("round trip", map[string]any{"name": "X", "seat": 2})
		taken("round trip, written sealed", map[string]any{"name": "X", "email": "cy@example.com"})
		_, err := f.UpdateRecord(a, "contacts", bob.ID, map[string]any{"email": "ada@example.com"}, 0)
		wantCode(t, err, bulwark.EConflict)
		raw(t, f, tenantOf(a), func(q querier) {
			var n int
			if err := q.QueryRow(ph(f, "SELECT count(*) FROM record_uniques WHERE tenant_id = ? AND value_key LIKE 't:%'"), tenantOf(a)).Scan(&n); err != nil || n != 0 {
				t.Errorf("blind index tags left as unique keys of public fields: %d, %v", n, err)
			}
		})

		// Up, the job seals part of the records (ada's: a write seals its
		// whole row), down.
		setClass(bulwark.ClassSecret)
		must[*bulwark.Record](t)(f.UpdateRecord(a, "contacts", ada.ID, map[string]any{"name": "A2"}, 0))
		setClass(bulwark.ClassInternal)
		taken("part sealed", map[string]any{"name": "X", "email": "ada@example.com"})
		taken("part sealed", map[string]any{"name": "X", "email": "bob@example.com", "seat": 9})
		taken("part sealed", map[string]any{"name": "X", "seat": 1})

		// Up, the whole job, down.
		setClass(bulwark.ClassConfidential)
		if err := f.Reseal(sys, "acme", nil); err != nil {
			t.Fatal(err)
		}
		setClass(bulwark.ClassPublic)
		taken("after the job", map[string]any{"name": "X", "email": "bob@example.com"})
		taken("after the job", map[string]any{"name": "X", "seat": 3})
		// Free values are still free, and every record reads back.
		must[*bulwark.Record](t)(f.CreateRecord(a, "contacts", map[string]any{"name": "D", "email": "dee@example.com", "seat": 4}))
		recs, _, err := f.ListRecords(a, "contacts", bulwark.ListOptions{Filters: map[string]string{"email": "ada@example.com"}})
		if err != nil || len(recs) != 1 || recs[0].ID != ada.ID {
			t.Fatalf("filter after the round trips: %v, %v", recs, err)
		}
	})
}

// TestReclassify: a field that becomes sensitive is sealed by the re-seal
// job (filters and unique checks work throughout); one that stops being
// sensitive is unsealed at once.
func TestReclassify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		sys := storetest.System(context.Background())
		must[*bulwark.Collection](t)(f.CreateCollection(a, notes))
		ids := map[string]string{}
		for _, e := range []string{"ada@example.com", "bob@example.com"} {
			// owner_email starts personal; title starts internal.
			r := must[*bulwark.Record](t)(f.CreateRecord(a, "notes", map[string]any{"title": "title of " + e, "owner_email": e}))
			ids[e] = r.ID
		}
		// Down: owner_email becomes public, stored in clear now.
		must[*bulwark.Collection](t)(f.UpdateCollection(a, "notes", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{"owner_email": bulwark.ClassPublic}}))
		row := readRaw(t, f, tenantOf(a), ids["ada@example.com"])
		if row.data["owner_email"] != "ada@example.com" || len(row.sealed) != 0 {
			t.Fatalf("after declassifying: %+v", row)
		}
		_, err := f.CreateRecord(a, "notes", map[string]any{"title": "x", "owner_email": "ada@example.com"})
		wantCode(t, err, bulwark.EConflict)
		// Up: both fields become sensitive. Values stay readable and
		// filterable before the job has run, and unique checks hold.
		must[*bulwark.Collection](t)(f.UpdateCollection(a, "notes", bulwark.CollectionUpdate{Classifications: map[string]bulwark.Classification{
			"owner_email": bulwark.ClassPersonal, "title": bulwark.ClassConfidential}}))
		if row := readRaw(t, f, tenantOf(a), ids["ada@example.com"]); row.data["title"] == nil {
			t.Fatal("the values were sealed synchronously; this test wants the job")
		}
		_, err = f.CreateRecord(a, "notes", map[string]any{"title": "x", "owner_email": "ada@example.com"})
		wantCode(t, err, bulwark.EConflict)
		recs, _, err := f.ListRecords(a, "notes", bulwark.ListOptions{Filters: map[string]string{"owner_email": "bob@example.com"}})
		if err != nil || len(recs) != 1 {
			t.Fatalf("filter before the job: %d, %v", len(recs), err)
		}
		var last bulwark.ResealProgress
		if err := f.Reseal(sys, "acme", func(p bulwark.ResealProgress) { last = p }); err != nil {
			t.Fatal(err)
		}
		if last.FinishedAt == nil || last.Done != 2 {
			t.Fatalf("progress = %+v", last)
		}
		for e, id := range ids {
			row := readRaw(t, f, tenantOf(a), id)
			if len(row.data) != 0 || len(row.sealed) != 2 {
				t.Fatalf("%s after the job: %+v", e, row)
			}
			got := must[*bulwark.Record](t)(f.GetRecord(a, "notes", id))
			if got.Data["owner_email"] != e || got.Data["title"] != "title of "+e {
				t.Fatalf("after the job: %v", got.Data)
			}
		}
		recs, _, err = f.ListRecords(a, "notes", bulwark.ListOptions{Filters: map[string]string{"owner_email": "bob@example.com"}})
		if err != nil || len(recs) != 1 {
			t.Fatalf("filter after the job: %d, %v", len(recs), err)
		}
		_, err = f.CreateRecord(a, "notes", map[string]any{"title": "x", "owner_email": "bob@example.com"})
		wantCode(t, err, bulwark.EConflict)
		// The unique index holds tags, never the addresses.
		raw(t, f, tenantOf(a), func(q querier) {
			rows, err := q.Query(ph(f, "SELECT value_key FROM record_uniques WHERE tenant_id = ?"), tenantOf(a))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				rows.Scan(&k)
				if !strings.HasPrefix(k, "t:") {
					t.Errorf("record_uniques holds %q", k)
				}
			}
		})
	})
}
