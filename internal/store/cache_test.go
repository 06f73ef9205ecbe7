package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestAuthCacheRevocation: a cached principal never outlives a change to
// what it is made of. Each case caches a principal, makes the change and
// authenticates again at once.
func TestAuthCacheRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		f := storetest.NewFixture(t, backend)
		waitCacheOn(t, f.DB.DB)
		ctx := context.Background()
		owner, _ := f.Tenant(t, "acme")
		if _, err := f.CreateCollection(owner, notes); err != nil {
			t.Fatal(err)
		}
		// cache authenticates until the principal is cached: on PostgreSQL
		// the notifications of the test's own writes arrive a little later
		// and invalidate again.
		cache := func(bearer string) *bulwark.Principal {
			t.Helper()
			for range 200 {
				p, err := f.Auth.Authenticate(ctx, bearer)
				if err != nil {
					t.Fatal(err)
				}
				if cached, _ := f.AuthCached(bearer); cached {
					return p
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatal("the principal was not cached: this test would prove nothing")
			return nil
		}
		refused := func(bearer string) {
			t.Helper()
			_, err := f.Auth.Authenticate(ctx, bearer)
			wantCode(t, err, bulwark.EUnauthenticated)
		}

		// A record write keeps the cache; the principal stays valid.
		tok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "ci", Grant: bulwark.Grant{Role: bulwark.RoleEditor}})
		if err != nil {
			t.Fatal(err)
		}
		p := cache(tok.Secret)
		if _, err := f.CreateRecord(bulwark.NewContext(ctx, p), "notes", map[string]any{"title": "x"}); err != nil {
			t.Fatal(err)
		}
		if cached, _ := f.AuthCached(tok.Secret); !cached && backend == "sqlite" {
			t.Fatal("a record write dropped the cache")
		}
		// Token revocation.
		if err := f.RevokeToken(owner, tok.ID); err != nil {
			t.Fatal(err)
		}
		refused(tok.Secret)

		// A changed role applies at the next request.
		uctx, ubearer := f.User(t, owner, "ann@acme.example", bulwark.Grant{Role: bulwark.RoleEditor})
		uid := bulwark.FromContext(uctx).ID
		if p := cache(ubearer); !p.Can(bulwark.PermRecordsWrite, "notes") {
			t.Fatal("editor cannot write")
		}
		viewer := []bulwark.Grant{{Role: bulwark.RoleViewer}}
		if _, err := f.UpdateUser(owner, uid, bulwark.UserUpdate{Grants: &viewer}); err != nil {
			t.Fatal(err)
		}
		p, err = f.Auth.Authenticate(ctx, ubearer)
		if err != nil || p.Can(bulwark.PermRecordsWrite, "notes") {
			t.Fatalf("after the downgrade: %+v, %v", p, err)
		}
		// Disabling the user.
		cache(ubearer)
		disabled := bulwark.StatusDisabled
		if _, err := f.UpdateUser(owner, uid, bulwark.UserUpdate{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
		refused(ubearer)

		// Logout, and a session revoked by its owner elsewhere.
		_, bbearer := f.User(t, owner, "bob@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		bctx := cache(bbearer)
		if err := f.Logout(bulwark.NewContext(ctx, bctx)); err != nil {
			t.Fatal(err)
		}
		refused(bbearer)

		// Time: the idle timeout ends a cached session too.
		_, cbearer := f.User(t, owner, "cy@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		cache(cbearer)
		f.Clock.Advance(31 * time.Minute)
		refused(cbearer)
	})
}

// TestAuthCacheAcrossNodes: two nodes on one PostgreSQL database; a token
// cached on one and revoked through the other is refused by the first
// once the notification arrives, which the test waits for (bounded).
func TestAuthCacheAcrossNodes(t *testing.T) {
	f := storetest.NewFixture(t, "postgres")
	clock := f.Clock
	node2, err := store.Open(context.Background(), f.AppURL, store.Options{Now: clock.Now, Keys: f.Keys})
	if err != nil {
		t.Fatal(err)
	}
	defer node2.Close()
	waitCacheOn(t, f.DB.DB)
	waitCacheOn(t, node2)
	ctx := context.Background()
	owner, _ := f.Tenant(t, "acme")
	tok, err := f.CreateToken(owner, bulwark.NewAPIToken{Name: "ci", Grant: bulwark.Grant{Role: bulwark.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	// Authenticate on node 2 until it caches the token (notifications of
	// the writes above may still be arriving and invalidate first).
	for i := 0; ; i++ {
		if _, err := node2.Authenticate(ctx, tok.Secret); err != nil {
			t.Fatal(err)
		}
		if cached, _ := node2.AuthCached(tok.Secret); cached {
			break
		}
		if i == 200 {
			t.Fatal("node 2 did not cache the token")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.RevokeToken(owner, tok.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := node2.Authenticate(ctx, tok.Secret)
		if bulwark.ErrorCode(err) == bulwark.EUnauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 still accepts the token revoked on node 1: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCacheOn waits until db's principal cache is on (PostgreSQL: its
// listener is connected), so that tests exercise it.
func waitCacheOn(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, on := db.AuthCached("x"); on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the principal cache did not turn on")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPreparedWriteRefusesStaleScope: a record create prepared with a
// collection schema that changed before it reached the writer is not
// written that way. Here a field became personal: the value must be sealed,
// not stored in clear as the stale schema says.
func TestPreparedWriteRefusesStaleScope(t *testing.T) {
	f := storetest.NewFixture(t, "sqlite")
	owner, _ := f.Tenant(t, "acme")
	old, err := f.CreateCollection(owner, notes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.UpdateCollection(owner, "notes", bulwark.CollectionUpdate{
		Classifications: map[string]bulwark.Classification{"score": bulwark.ClassPersonal},
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.CacheStaleScope(owner, old); err != nil {
		t.Fatal(err)
	}
	r, err := f.CreateRecord(owner, "notes", map[string]any{"title": "t", "score": 42})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+f.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var data, sealed string
	if err := raw.QueryRow("SELECT data, sealed FROM records WHERE id = ?", r.ID).Scan(&data, &sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, "score") || !strings.Contains(sealed, "score") {
		t.Fatalf("a personal value was written with the stale schema: data %s, sealed %s", data, sealed)
	}
	// The same for an update.
	if err := f.CacheStaleScope(owner, old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.UpdateRecord(owner, "notes", r.ID, map[string]any{"score": 7}, 1); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow("SELECT data, sealed FROM records WHERE id = ?", r.ID).Scan(&data, &sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, "score") || !strings.Contains(sealed, "score") {
		t.Fatalf("an update wrote a personal value with the stale schema: data %s, sealed %s", data, sealed)
	}
}

// TestAuthCacheListenerLoss: when a PostgreSQL node's invalidation
// listener loses its connection, the node stops using its cache (it could
// miss a revocation) until a new listener proves it receives again.
func TestAuthCacheListenerLoss(t *testing.T) {
	f := storetest.NewFixture(t, "postgres")
	waitCacheOn(t, f.DB.DB)
	admin, err := sql.Open("pgx", storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE usename = $1 AND query LIKE 'LISTEN%'`, f.AppRole).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners, want 1 (%v)", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, on := f.AuthCached("x"); !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache stayed on without its listener")
		}
		time.Sleep(time.Millisecond)
	}
	waitCacheOn(t, f.DB.DB) // a new listener, proven by its probe
}
