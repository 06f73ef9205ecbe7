// Package storetest opens real stores for tests: a SQLite file in a temp
// directory, and a fresh PostgreSQL database with its own owner and
// application roles. Every store test runs on both.
package storetest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/keys/keystest"
	"github.com/bulwarkhq/bulwark/internal/pgadmin"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// DefaultPostgres is used when BULWARK_TEST_POSTGRES is not set.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// DB is an open, migrated store and how it was made.
type DB struct {
	*store.DB
	Backend string
	// AppURL and OwnerURL are the PostgreSQL connection strings of the
	// application and owner roles (empty on SQLite).
	AppURL, OwnerURL string
	AppRole          string
	// Path is the SQLite file (empty on PostgreSQL).
	Path string
	// Keys is the store's key ring. When the caller gives none, Open makes
	// one in environment TestEnv over KMS, a keeper on a temporary KEK file
	// that can be made to fail (an outage).
	Keys *keys.Ring
	KMS  *keystest.Faulty
}

// TestEnv is the environment name of the rings Open makes.
const TestEnv = "test"

// withKeys gives opt a ring on a fresh KEK file unless it has one.
func withKeys(t testing.TB, opt *store.Options) *keystest.Faulty {
	if opt.Keys != nil {
		return nil
	}
	ring, kms := keystest.Ring(t, TestEnv, opt.Now)
	opt.Keys = ring
	return kms
}

// Backends lists the backends every store test runs on.
var Backends = []string{"sqlite", "postgres"}

// Each runs fn once per backend, as a subtest.
func Each(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// Open returns a fresh, migrated store on backend.
func Open(t testing.TB, backend string, opt store.Options) *DB {
	t.Helper()
	switch backend {
	case "sqlite":
		return OpenSQLite(t, opt)
	case "postgres":
		return OpenPostgres(t, opt)
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

// OpenSQLite opens a fresh SQLite store in a temp directory.
func OpenSQLite(t testing.TB, opt store.Options) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	kms := withKeys(t, &opt)
	db, err := store.Open(context.Background(), "sqlite://"+path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &DB{DB: db, Backend: "sqlite", Path: path, Keys: opt.Keys, KMS: kms}
}

// PostgresURL returns the admin URL for tests, skipping (or failing when
// BULWARK_REQUIRE_POSTGRES=1) if no server answers.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("BULWARK_TEST_POSTGRES")
	if u == "" {
		u = DefaultPostgres
	}
	admin, err := sql.Open("pgx", u)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		admin.Close()
	}
	if err != nil {
		if os.Getenv("BULWARK_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (BULWARK_REQUIRE_POSTGRES=1) but %s does not answer: %v", u, err)
		}
		t.Skipf("skipping PostgreSQL tests: no server answers at %s (set BULWARK_TEST_POSTGRES, or BULWARK_REQUIRE_POSTGRES=1 to fail instead): %v", u, err)
	}
	return u
}

// OpenPostgres creates a database with an owner role and a plain
// application role, migrates it as the owner and opens it as the app.
func OpenPostgres(t testing.TB, opt store.Options) *DB {
	t.Helper()
	adminURL := PostgresURL(t)
	ctx := context.Background()
	scratch, err := pgadmin.Create(ctx, adminURL, "bulwark_test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(scratch.Drop)
	ownerURL, appURL, app := scratch.OwnerURL, scratch.AppURL, scratch.AppRole
	opt.OwnerURL = ownerURL
	kms := withKeys(t, &opt)
	db, err := store.Open(ctx, appURL, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &DB{DB: db, Backend: "postgres", AppURL: appURL, OwnerURL: ownerURL, AppRole: app, Keys: opt.Keys, KMS: kms}
}

// System returns ctx acting as the local command line.
func System(ctx context.Context) context.Context {
	return bulwark.NewContext(ctx, &bulwark.Principal{Kind: bulwark.KindSystem, ID: "test"})
}
