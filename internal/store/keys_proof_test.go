package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// The proofs of DATA-3 and DATA-4 (issue 3, "What must prove it"), each on
// SQLite and PostgreSQL.

// seedSensitive writes records whose sensitive values are unique tokens,
// through every write path (create, update, a filter), and returns the
// tokens, plus a public canary that must be visible to the scan.
func seedSensitive(t *testing.T, f *storetest.Fixture, ctx context.Context, n int) (secrets []string, canary string) {
	t.Helper()
	must[*bulwark.Collection](t)(f.CreateCollection(ctx, people))
	canary = unique("public-canary")
	for i := 0; i < n; i++ {
		name, email, ssn := unique("personal-name"), unique("personal")+"@example.com", unique("secret-ssn")
		salary := float64(900000000 + i*7919) // a number is data too
		note := unique("confidential-note")
		r := must[*bulwark.Record](t)(f.CreateRecord(ctx, "people", map[string]any{
			"name": name, "email": email, "ssn": ssn, "salary": salary, "notes": map[string]any{"text": note}, "title": canary,
		}))
		secrets = append(secrets, name, email, ssn, note, fmt.Sprint(int64(salary)))
		if i%2 == 0 {
			newName := unique("personal-renamed")
			must[*bulwark.Record](t)(f.UpdateRecord(ctx, "people", r.ID, map[string]any{"name": newName}, 0))
			secrets = append(secrets, newName)
		}
		recs, _, err := f.ListRecords(ctx, "people", bulwark.ListOptions{Filters: map[string]string{"ssn": ssn}})
		if err != nil || len(recs) != 1 {
			t.Fatalf("filter on a sealed lookup field: %d, %v", len(recs), err)
		}
	}
	return secrets, canary
}

// dumpPostgres reads every table of the test database as the owner role:
// the global tables with no tenant set, each tenant table once per tenant
// (row-level security is forced on the owner too).
func dumpPostgres(t *testing.T, f *storetest.Fixture) []byte {
	t.Helper()
	db, err := sql.Open("pgx", f.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables, tenants []string
	rows, err := db.Query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tables = append(tables, s)
	}
	rows.Close()
	rows, _ = db.Query("SELECT id FROM tenants")
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tenants = append(tenants, s)
	}
	rows.Close()
	var out bytes.Buffer
	for _, tenant := range append([]string{""}, tenants...) {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		tx.Exec("SELECT set_config('app.tenant_id', $1, true)", tenant)
		for _, table := range tables {
			rows, err := tx.Query("SELECT x::text FROM " + table + " x")
			if err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			for rows.Next() {
				var s string
				rows.Scan(&s)
				out.WriteString(s)
				out.WriteByte('\n')
			}
			rows.Close()
		}
		tx.Rollback()
	}
	if out.Len() == 0 {
		t.Fatal("the dump is empty")
	}
	return out.Bytes()
}

// rawFiles returns the SQLite database file, its WAL and its shared
// memory file, byte for byte.
func rawFiles(t *testing.T, f *storetest.Fixture) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, sfx := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(f.Path + sfx)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		out[filepath.Base(f.Path+sfx)] = b
	}
	return out
}

// TestNoPlaintextAtRest (DATA-3): values of confidential, personal and
// secret fields never reach the database in clear. The SQLite file, its
// WAL and shm are scanned byte for byte; on PostgreSQL every table is
// read as the owner role. A public value is found by the same scan, so
// the scan can see plaintext.
func TestNoPlaintextAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		secrets, canary := seedSensitive(t, f, a, 30)
		var blobs map[string][]byte
		if backend == "sqlite" {
			blobs = rawFiles(t, f)
			if len(blobs["bulwark.db-wal"]) == 0 {
				t.Fatal("no WAL to scan: the test would prove less than it says")
			}
		} else {
			blobs = map[string][]byte{"all tables": dumpPostgres(t, f)}
		}
		var all []byte
		for _, b := range blobs {
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte(canary)) {
			t.Fatal("the public canary is not found: the scan cannot see plaintext")
		}
		for _, s := range secrets {
			for name, b := range blobs {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds the sensitive value %q in clear", name, s)
				}
			}
		}
		if backend == "postgres" {
			return
		}
		// After a checkpoint the file itself is scanned again.
		db, _ := sql.Open("sqlite", "file:"+f.Path+"?_pragma=busy_timeout(10000)")
		db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		db.Close()
		b, _ := os.ReadFile(f.Path)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the checkpointed database file holds %q", s)
			}
		}
	})
}

// TestRotationCrashResume (security test 30): a rotation's re-seal that
// stops half-way (a crash between two batches: each batch is one
// transaction) leaves every row entirely under one key, old or new, and
// every record readable; running it again resumes and finishes, and only
// then is the old key disabled.
func TestRotationCrashResume(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		sys := storetest.System(context.Background())
		must[*bulwark.Collection](t)(f.CreateCollection(a, people))
		const n = 450 // more than two batches of 200
		want := map[string]string{}
		for i := 0; i < n; i++ {
			ssn := fmt.Sprintf("ssn-%04d", i)
			r := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": fmt.Sprintf("p%d", i), "ssn": ssn}))
			want[r.ID] = ssn
		}
		oldKey := readRaw(t, f, tenantOf(a), firstKey(want)).keyID

		p, err := f.RotateTenantKey(sys, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != n || p.Done != 0 {
			t.Fatalf("rotation progress = %+v", p)
		}
		// A write after the rotation uses the new key at once.
		fresh := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "fresh", "ssn": "ssn-fresh"}))
		want[fresh.ID] = "ssn-fresh"
		newKey := readRaw(t, f, tenantOf(a), fresh.ID).keyID
		if newKey == oldKey || newKey == 0 {
			t.Fatalf("a write after rotation is under key %d (old %d)", newKey, oldKey)
		}

		// The crash: the process dies after the first batch committed.
		ctx, cancel := context.WithCancel(sys)
		batches := 0
		err = f.Reseal(ctx, "acme", func(bulwark.ResealProgress) {
			batches++
			cancel()
		})
		wantCode(t, err, bulwark.EUnavailable)
		if batches != 1 {
			t.Fatalf("%d batches ran before the crash", batches)
		}
		counts := keyCensus(t, f, tenantOf(a), oldKey, newKey)
		if counts[oldKey] == 0 || counts[newKey] == 0 {
			t.Fatalf("after the crash: %v; want rows under both keys", counts)
		}
		checkAllOpen(t, f, a, want)
		ks := inventory(t, f, sys, "acme", "data")
		if ks.Status != "rotating" || len(ks.Keys) != 2 || ks.Reseal == nil || ks.Reseal.FinishedAt != nil || ks.Reseal.Done != 200 {
			t.Fatalf("inventory after the crash: %+v, reseal %+v", ks, ks.Reseal)
		}

		// The crashed process still holds the job's lease: another one
		// waits until it expires (a server's background worker would take
		// it over then too).
		err = f.Reseal(sys, "acme", nil)
		wantCode(t, err, bulwark.EConflict)
		f.Clock.Advance(time.Minute)
		// Resume: it picks up after the last committed batch.
		var progress []bulwark.ResealProgress
		if err := f.Reseal(sys, "acme", func(p bulwark.ResealProgress) { progress = append(progress, p) }); err != nil {
			t.Fatal(err)
		}
		last := progress[len(progress)-1]
		if progress[0].Done != 400 || last.Done != n+1 || last.FinishedAt == nil {
			t.Fatalf("resumed progress = %+v", progress)
		}
		counts = keyCensus(t, f, tenantOf(a), oldKey, newKey)
		if counts[oldKey] != 0 || counts[newKey] != n+1 {
			t.Fatalf("after the resume: %v", counts)
		}
		checkAllOpen(t, f, a, want)
		ks = inventory(t, f, sys, "acme", "data")
		st := map[uint32]string{}
		for _, k := range ks.Keys {
			st[k.ID] = k.Status
			if k.CreatedAt == nil {
				t.Errorf("key %d has no creation time", k.ID)
			}
		}
		if ks.Status != "active" || st[uint32(oldKey)] != keys.StatusDisabled || st[uint32(newKey)] != keys.StatusPrimary || ks.RotatedAt == nil {
			t.Fatalf("inventory after the re-seal: %+v (keys %v)", ks, st)
		}
		// A second run has nothing to do.
		if err := f.Reseal(sys, "acme", nil); err != nil {
			t.Fatal(err)
		}
		if n := countAudit(t, f, a, "keys.rotate", tenantOf(a)); n != 1 {
			t.Errorf("keys.rotate audit entries = %d", n)
		}
		if n := countAudit(t, f, a, "keys.reseal", tenantOf(a)); n != 1 {
			t.Errorf("keys.reseal audit entries = %d", n)
		}
	})
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// keyCensus counts rows by key id, and fails if any row mixes keys or
// names a key other than its values'.
func keyCensus(t *testing.T, f *storetest.Fixture, tenant string, known ...int64) map[int64]int {
	t.Helper()
	counts := map[int64]int{}
	raw(t, f, tenant, func(q querier) {
		rows, err := q.Query(ph(f, "SELECT id, sealed, key_id FROM records WHERE tenant_id = ?"), tenant)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, sealed string
			var keyID int64
			rows.Scan(&id, &sealed, &keyID)
			var m map[string]string
			if err := json.Unmarshal([]byte(sealed), &m); err != nil {
				t.Fatal(err)
			}
			for field, v := range m {
				ct, _ := base64.StdEncoding.DecodeString(v)
				if k, _ := keys.KeyIDOf(ct); int64(k) != keyID {
					t.Errorf("record %s: %s is under key %d, the row under %d", id, field, k, keyID)
				}
			}
			counts[keyID]++
		}
	})
	for k := range counts {
		ok := false
		for _, kk := range known {
			ok = ok || k == kk
		}
		if !ok {
			t.Errorf("rows under an unknown key %d", k)
		}
	}
	return counts
}

func checkAllOpen(t *testing.T, f *storetest.Fixture, ctx context.Context, want map[string]string) {
	t.Helper()
	seen := 0
	cursor := ""
	for {
		page, next, err := f.ListRecords(ctx, "people", bulwark.ListOptions{Limit: bulwark.MaxPageSize, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if want[r.ID] != r.Data["ssn"] {
				t.Fatalf("record %s opened to ssn %v, want %s", r.ID, r.Data["ssn"], want[r.ID])
			}
			seen++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != len(want) {
		t.Fatalf("%d records open, want %d", seen, len(want))
	}
}

func inventory(t *testing.T, f *storetest.Fixture, sys context.Context, slug, purpose string) *bulwark.TenantKeyset {
	t.Helper()
	ks, err := f.ListKeys(sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.TenantSlug == slug && k.Purpose == purpose {
			return k
		}
	}
	t.Fatalf("no %s keyset for %s in %+v", purpose, slug, ks)
	return nil
}

// TestKeyInventory: the list shows every tenant's two keysets, bound to the
// environment, without key material, also during a KMS outage; only
// operators and the command line may see it.
func TestKeyInventory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		a, _ := f.Tenant(t, "acme")
		f.Tenant(t, "globex")
		sys := storetest.System(context.Background())
		f.KMS.Down.Store(true)
		ks, err := f.ListKeys(sys)
		f.KMS.Down.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 4 {
			t.Fatalf("%d keysets, want 4", len(ks))
		}
		for _, k := range ks {
			want := map[string]string{"data": keys.AlgData, "index": keys.AlgIndex}[k.Purpose]
			if k.Algorithm != want || k.Env != storetest.TestEnv || k.Status != "active" || len(k.Keys) != 1 ||
				k.Keys[0].Status != keys.StatusPrimary || !strings.HasPrefix(k.KEK, "file://") || k.RotatedAt != nil {
				t.Errorf("keyset %+v", k)
			}
		}
		_, err = f.ListKeys(a)
		wantCode(t, err, bulwark.EForbidden)
		_, err = f.ListKeys(context.Background())
		wantCode(t, err, bulwark.EUnauthenticated)
		_, err = f.RotateTenantKey(a, "acme")
		wantCode(t, err, bulwark.EForbidden)
		wantCode(t, f.DeleteTenant(a, "acme"), bulwark.EForbidden)
		_, err = f.RotateTenantKey(sys, "nope")
		wantCode(t, err, bulwark.ENotFound)
	})
}

// TestKEKRotation: rotate-kek re-wraps every keyset under a new KEK
// version without touching data; an interrupted run resumes instead of
// making another version; after --retire a keyset wrapped by the old
// version (as in a backup made before) no longer opens.
func TestKEKRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		sys := storetest.System(context.Background())
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		want := map[string]string{}
		for _, ctx := range []context.Context{a, b} {
			must[*bulwark.Collection](t)(f.CreateCollection(ctx, people))
		}
		ra := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Ada", "ssn": "ssn-a"}))
		want[ra.ID] = "ssn-a"
		before := readRaw(t, f, tenantOf(a), ra.ID)
		oldWrapped := wrappedKeys(t, f, tenantOf(a))
		oldKEK := f.Keys.Keeper().KeyID()

		res, err := f.RotateKEK(sys, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Rotated || res.Rewrapped != 4 || res.Total != 4 || res.KEK == oldKEK {
			t.Fatalf("RotateKEK = %+v", res)
		}
		for _, k := range must[[]*bulwark.TenantKeyset](t)(f.ListKeys(sys)) {
			if k.KEK != res.KEK {
				t.Errorf("%s/%s is wrapped by %s, want %s", k.TenantSlug, k.Purpose, k.KEK, res.KEK)
			}
		}
		// The data did not change, and opens with a fresh cache.
		if after := readRaw(t, f, tenantOf(a), ra.ID); fmt.Sprint(after.sealed) != fmt.Sprint(before.sealed) {
			t.Fatal("rotating the KEK rewrote data")
		}
		f.Keys.Forget(tenantOf(a))
		checkAllOpen(t, f, a, want)

		// Interrupted: the KEK file has a new version (another run made
		// it) but no keyset is re-wrapped yet. The next run resumes.
		rot := f.KMS.Keeper.(keys.Rotator)
		if err := rot.RotateKEK(context.Background()); err != nil {
			t.Fatal(err)
		}
		res2, err := f.RotateKEK(sys, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res2.Rotated || res2.Rewrapped != 4 || !res2.Retired {
			t.Fatalf("resumed RotateKEK = %+v", res2)
		}
		// Retired: the keysets as they were before (a backup) do not open.
		_, err = f.Keys.Tenant(context.Background(), oldWrapped[keys.PurposeData], oldWrapped[keys.PurposeIndex])
		if !errors.Is(err, keys.ErrOpen) {
			t.Fatalf("a keyset wrapped by a retired KEK version: %v", err)
		}
		f.Keys.Forget(tenantOf(a))
		checkAllOpen(t, f, a, want)
		if n := countAudit(t, f, a, "keys.rewrap", tenantOf(a)); n != 2 {
			t.Errorf("keys.rewrap audit entries = %d, want 2", n)
		}
	})
}

func wrappedKeys(t *testing.T, f *storetest.Fixture, tenant string) map[keys.Purpose]keys.Wrapped {
	t.Helper()
	out := map[keys.Purpose]keys.Wrapped{}
	raw(t, f, tenant, func(q querier) {
		rows, err := q.Query(ph(f, "SELECT purpose, env, version, keyset FROM tenant_keys WHERE tenant_id = ?"), tenant)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			w := keys.Wrapped{Tenant: tenant}
			var p string
			rows.Scan(&p, &w.Env, &w.Version, &w.Keyset)
			w.Purpose = keys.Purpose(p)
			out[w.Purpose] = w
		}
	})
	if len(out) != 2 {
		t.Fatalf("tenant %s has %d keysets", tenant, len(out))
	}
	return out
}

// TestCryptoShred: deleting a tenant destroys its keysets first. Its
// ciphertext (kept aside, as in a stale copy) can no longer be opened, the
// keyset bytes are gone from the database (and, on SQLite, from the file
// and its WAL), and other tenants are untouched.
func TestCryptoShred(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		sys := storetest.System(context.Background())
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		secrets, _ := seedSensitive(t, f, a, 5)
		must[*bulwark.Collection](t)(f.CreateCollection(b, people))
		rb := must[*bulwark.Record](t)(f.CreateRecord(b, "people", map[string]any{"name": "Bea", "ssn": "ssn-b"}))
		ta := tenantOf(a)
		recs := must[[]*bulwark.Record](t)(func() ([]*bulwark.Record, error) {
			r, _, err := f.ListRecords(a, "people", bulwark.ListOptions{})
			return r, err
		}())
		kept := readRaw(t, f, ta, recs[0].ID) // ciphertext copied out
		wrapped := wrappedKeys(t, f, ta)      // the keysets, for the file scan

		if err := f.DeleteTenant(sys, "acme"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.DeleteTenant(sys, "acme"), bulwark.ENotFound)
		// The keysets are gone: nothing in the store can open the kept
		// ciphertext; the ring has dropped its cached keys too.
		raw(t, f, ta, func(q querier) {
			var n int
			q.QueryRow(ph(f, "SELECT count(*) FROM tenant_keys WHERE tenant_id = ?"), ta).Scan(&n)
			if n != 0 {
				t.Fatalf("%d keysets survive the deletion", n)
			}
			q.QueryRow(ph(f, "SELECT count(*) FROM records WHERE tenant_id = ?"), ta).Scan(&n)
			if n != 0 {
				t.Fatalf("%d records survive the deletion", n)
			}
		})
		destroyed := keys.Wrapped{Tenant: ta, Purpose: keys.PurposeData, Env: storetest.TestEnv, Version: 99}
		_, err := f.Keys.Tenant(context.Background(), destroyed, keys.Wrapped{Tenant: ta, Purpose: keys.PurposeIndex, Env: storetest.TestEnv, Version: 99})
		if !errors.Is(err, keys.ErrDestroyed) {
			t.Fatalf("opening destroyed keys: %v", err)
		}
		if len(kept.sealed) == 0 {
			t.Fatal("nothing was kept")
		}
		if backend == "sqlite" {
			// Neither the keysets nor any value is left in the file or WAL.
			for name, blob := range rawFiles(t, f) {
				for p, w := range wrapped {
					if bytes.Contains(blob, w.Keyset[len(w.Keyset)-48:]) {
						t.Errorf("%s still holds the %s keyset", name, p)
					}
				}
				for _, ct := range kept.sealed {
					if bytes.Contains(blob, []byte(ct)) {
						t.Errorf("%s still holds a ciphertext of the deleted tenant", name)
					}
				}
				for _, s := range secrets {
					if bytes.Contains(blob, []byte(s)) {
						t.Errorf("%s holds %q", name, s)
					}
				}
			}
		}
		// The other tenant is untouched.
		if got, err := f.GetRecord(b, "people", rb.ID); err != nil || got.Data["ssn"] != "ssn-b" {
			t.Fatalf("the other tenant: %v, %v", got, err)
		}
		if len(inventoryAll(t, f, sys)) != 2 {
			t.Fatal("the deleted tenant is still in the inventory")
		}
	})
}

func inventoryAll(t *testing.T, f *storetest.Fixture, sys context.Context) []*bulwark.TenantKeyset {
	t.Helper()
	return must[[]*bulwark.TenantKeyset](t)(f.ListKeys(sys))
}

// TestKMSUnavailable (security test 3, DESIGN "What fails how"): with the
// KMS down, a tenant whose keys are cached goes on until the cache TTL;
// another gets 503 (EUnavailable) for sealed data and never plaintext, but
// still reads and writes records without sealed values; new tenants and
// rotations fail with EUnavailable. When the KMS is back, all is well.
func TestKMSUnavailable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		sys := storetest.System(context.Background())
		a, _ := f.Tenant(t, "acme")
		b, _ := f.Tenant(t, "globex")
		plain := bulwark.Collection{Name: "plain", Fields: []bulwark.Field{{Name: "x", Type: bulwark.TypeText, Classification: bulwark.ClassPublic}}}
		for _, ctx := range []context.Context{a, b} {
			must[*bulwark.Collection](t)(f.CreateCollection(ctx, people))
			must[*bulwark.Collection](t)(f.CreateCollection(ctx, plain))
		}
		ra := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Ada", "ssn": "ssn-a"}))
		rb := must[*bulwark.Record](t)(f.CreateRecord(b, "people", map[string]any{"name": "Bea", "ssn": "ssn-b"}))
		f.Keys.Forget(tenantOf(b)) // B's cache entry expired; A's is fresh

		f.KMS.Down.Store(true)
		// A: served from the cache.
		if got, err := f.GetRecord(a, "people", ra.ID); err != nil || got.Data["ssn"] != "ssn-a" {
			t.Fatalf("cached tenant during the outage: %v, %v", got, err)
		}
		must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Ada 2", "ssn": "ssn-a2"}))
		// B: unavailable for sealed data, without a partial write.
		got, err := f.GetRecord(b, "people", rb.ID)
		wantCode(t, err, bulwark.EUnavailable)
		if got != nil || strings.Contains(err.Error(), "ssn-b") {
			t.Fatalf("an unavailable read returned %v / %v", got, err)
		}
		_, err = f.CreateRecord(b, "people", map[string]any{"name": "Bea 2"})
		wantCode(t, err, bulwark.EUnavailable)
		_, _, err = f.ListRecords(b, "people", bulwark.ListOptions{})
		wantCode(t, err, bulwark.EUnavailable)
		// ... but records without sealed values are still served.
		must[*bulwark.Record](t)(f.CreateRecord(b, "plain", map[string]any{"x": "y"}))
		if n, _, err := f.ListRecords(b, "plain", bulwark.ListOptions{}); err != nil || len(n) != 1 {
			t.Fatalf("plain records during the outage: %d, %v", len(n), err)
		}
		wantCode(t, f.DeleteRecord(b, "people", rb.ID, 0), "") // deleting opens nothing
		// New tenants and rotations fail.
		_, _, err = f.CreateTenant(sys, bulwark.NewTenant{Slug: "initech", Name: "Initech", AdminEmail: "o@initech.example"})
		wantCode(t, err, bulwark.EUnavailable)
		_, err = f.RotateTenantKey(sys, "acme")
		wantCode(t, err, bulwark.EUnavailable)
		_, err = f.RotateKEK(sys, false, nil)
		wantCode(t, err, bulwark.EUnavailable)
		// The cache TTL ends A's grace.
		f.Clock.Advance(keys.DefaultTTL)
		_, err = f.GetRecord(a, "people", ra.ID)
		wantCode(t, err, bulwark.EUnavailable)

		f.KMS.Down.Store(false)
		if got, err := f.GetRecord(a, "people", ra.ID); err != nil || got.Data["ssn"] != "ssn-a" {
			t.Fatalf("after the outage: %v, %v", got, err)
		}
		must[*bulwark.Record](t)(f.CreateRecord(b, "people", map[string]any{"name": "Bea 3"}))
		_, _, err = f.CreateTenant(sys, bulwark.NewTenant{Slug: "initech", Name: "Initech", AdminEmail: "o@initech.example"})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestEnvironmentBinding (DATA-4): the same database and the same KEK
// opened as another environment cannot open the data, and says why.
func TestEnvironmentBinding(t *testing.T) {
	f := storetest.NewFixture(t, "sqlite")
	a, _ := f.Tenant(t, "acme")
	must[*bulwark.Collection](t)(f.CreateCollection(a, people))
	r := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "Ada", "ssn": "ssn-a"}))
	f.Close()

	staging, err := keys.NewRing(f.KMS, keys.RingOptions{Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "sqlite://"+f.Path, store.Options{Now: f.Clock.Now, Keys: staging})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := bulwark.NewContext(context.Background(), bulwark.FromContext(a))
	_, err = db.GetRecord(ctx, "people", r.ID)
	wantCode(t, err, bulwark.EFailedPrecondition)
	if !errors.Is(err, keys.ErrEnvironment) || !strings.Contains(bulwark.ErrorMessage(err), `"test"`) || !strings.Contains(bulwark.ErrorMessage(err), `"staging"`) {
		t.Fatalf("the error does not say which environments: %v", err)
	}
	_, err = db.CreateRecord(ctx, "people", map[string]any{"name": "Eve"})
	wantCode(t, err, bulwark.EFailedPrecondition)
}

// TestRotationSeenByOtherProcess: a server and a CLI on one database each
// cache tenant keys. A rotation made by one is used by the other at its
// next transaction (the keyset versions are read with the collection),
// never a stale primary, and each reads what the other wrote.
func TestRotationSeenByOtherProcess(t *testing.T) {
	f := storetest.NewFixture(t, "sqlite")
	a, _ := f.Tenant(t, "acme")
	must[*bulwark.Collection](t)(f.CreateCollection(a, people))
	r1 := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "one", "ssn": "ssn-1"}))
	old := readRaw(t, f, tenantOf(a), r1.ID).keyID

	ring2, err := keys.NewRing(f.KMS.Keeper, keys.RingOptions{Env: storetest.TestEnv, Now: f.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.Open(context.Background(), "sqlite://"+f.Path, store.Options{Now: f.Clock.Now, Keys: ring2})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	sys := storetest.System(context.Background())
	if _, err := cli.RotateTenantKey(sys, "acme"); err != nil {
		t.Fatal(err)
	}
	// The first process still has the old keys cached; its next write
	// must use the new primary.
	r2 := must[*bulwark.Record](t)(f.CreateRecord(a, "people", map[string]any{"name": "two", "ssn": "ssn-2"}))
	now := readRaw(t, f, tenantOf(a), r2.ID).keyID
	if now == old {
		t.Fatalf("a write after another process's rotation used the old key %d", old)
	}
	if err := cli.Reseal(sys, "acme", nil); err != nil {
		t.Fatal(err)
	}
	ctx := bulwark.NewContext(context.Background(), bulwark.FromContext(a))
	for id, want := range map[string]string{r1.ID: "ssn-1", r2.ID: "ssn-2"} {
		for name, db := range map[string]*store.DB{"server": f.DB.DB, "cli": cli} {
			got, err := db.GetRecord(ctx, "people", id)
			if err != nil || got.Data["ssn"] != want {
				t.Fatalf("%s reads %s: %v, %v", name, id, got, err)
			}
		}
	}
}
