// Package store keeps Bulwark's data in SQLite (embedded, the default) or
// PostgreSQL (scale-out), with one code path for both.
//
// Tenant tables are reachable only through a tenantTx, made from the
// authenticated Principal in the context (see tenantTx); no method takes a
// tenant id from its caller. On PostgreSQL row-level security enforces the
// same boundary a second time.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

//go:embed migrations
var migrations embed.FS

// Options configures a DB.
type Options struct {
	// Now is the clock; each transaction reads it once. Default time.Now.
	Now func() time.Time
	// InviteTTL is how long an activation secret lives. Default 24h.
	InviteTTL time.Duration
	// SessionIdle and SessionAbsolute bound sessions. Defaults 30m and 12h.
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// OwnerURL is PostgreSQL only: the role that owns the tables and runs
	// the migrations. The application role (the main URL) must not own them.
	OwnerURL string
	Logger   *slog.Logger
	// Keys seals the values of sensitive fields with per-tenant keys
	// wrapped by the KEK, in its environment (DATA-3, DATA-4). Without it
	// the store opens, but creating tenants and reading or writing sealed
	// values fail with EFailedPrecondition.
	Keys *keys.Ring
	// Audit configures audit entries (sealing, strict mode).
	Audit AuditOptions
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InviteTTL <= 0 {
		o.InviteTTL = 24 * time.Hour
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 30 * time.Minute
	}
	if o.SessionAbsolute <= 0 {
		o.SessionAbsolute = 12 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DB is an open store. It implements the tenant and operator services of
// the root package.
type DB struct {
	opt     Options
	dialect dialect
	// write takes every read-write transaction; read serves read-only ones.
	// On SQLite write has one connection (SQLite has one writer) and read
	// several; on PostgreSQL both are the same pool.
	write, read *sql.DB
	dsn         string
	// batch group-commits write transactions on SQLite (see batch.go).
	batch *batcher
	// memo hands committed audit entries to the sequencer (SQLite;
	// audit_memo.go).
	memo *auditMemo
	// stmts caches prepared statements on SQLite (see stmts.go).
	stmts *stmtCache
	// cache keeps principals and collection scopes (see cache.go); on
	// PostgreSQL stopListen ends its invalidation listener.
	cache      *tenantCache
	stopListen context.CancelFunc
	listening  sync.WaitGroup
}

// Open opens the database at dbURL: sqlite:///abs/path.db (or
// sqlite://rel/path.db) or postgres://... It does not migrate.
func Open(ctx context.Context, dbURL string, opt Options) (*DB, error) {
	opt.setDefaults()
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	db := &DB{opt: opt, dsn: dbURL}
	switch u.Scheme {
	case "sqlite":
		err = db.openSQLite(u)
	case "postgres", "postgresql":
		err = db.openPostgres(ctx, dbURL)
	default:
		return nil, bulwark.Errorf(bulwark.EInvalid, "unsupported database URL scheme %q: use sqlite:///path/file.db or postgres://", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

// sqliteDSN opens the SQLite file at path with the store's settings.
// Pragmas in the DSN apply to every pooled connection. Every write goes
// through group commit (batch.go), which acknowledges a write only after
// it has fsynced the WAL holding its commit: so acknowledged writes
// survive power loss although the connection's own commits do not wait
// (synchronous=NORMAL, which keeps the file consistent). secure_delete
// overwrites deleted content with zeros, so a destroyed keyset
// (crypto-shredding) or a value re-sealed after its field became
// sensitive does not linger in free pages of the file.
func sqliteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)&_pragma=synchronous(normal)&_pragma=secure_delete(on)&_pragma=temp_store(memory)"
}

func (db *DB) openSQLite(u *url.URL) error {
	path := u.Host + u.Path
	if u.Host == "" {
		path = u.Path
	}
	if path == "" {
		return bulwark.Errorf(bulwark.EInvalid, "sqlite URL needs a file path, such as sqlite:///var/lib/bulwark/bulwark.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	// The file holds tenant data: readable by the service's user only.
	// SQLite gives its -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	// Immediate transactions take the write lock up front, so SQLite's
	// busy handler works (a deferred read->write upgrade fails with
	// SQLITE_BUSY at once).
	base := sqliteDSN(path)
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)&_pragma=cache_size(-16384)")
	if err != nil {
		w.Close()
		return err
	}
	// Keep every reader open: database/sql keeps two idle connections by
	// default and closes the others whenever they are idle, and a SQLite
	// connection opened again has an empty page cache and no prepared
	// statements. Each reader caches up to 16 MiB of pages (SQLite's
	// default is 2 MiB): with 10,000 tenants a get's B-tree pages did not
	// fit, and every miss is a pread.
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	r.SetConnMaxIdleTime(0)
	db.dialect, db.write, db.read = sqliteDialect{}, w, r
	db.stmts = newStmtCache()
	db.batch = newBatcher(db, path+"-wal")
	db.memo = &auditMemo{m: map[int64]*audit.Entry{}}
	// One process is the only writer: invalidation is local and complete.
	db.cache = newTenantCache(true)
	return nil
}

func (db *DB) openPostgres(ctx context.Context, dbURL string) error {
	p, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	p.SetMaxOpenConns(20)
	p.SetConnMaxIdleTime(5 * time.Minute)
	db.dialect, db.write, db.read = postgresDialect{}, p, p
	// Other nodes write too: the cache is on only while the listener is.
	db.cache = newTenantCache(false)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	db.stopListen = cancel
	db.listening.Add(1)
	go func() {
		defer db.listening.Done()
		db.listenAuthChanges(lctx, dbURL)
	}()
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.batch != nil {
		db.batch.close()
	}
	if db.stopListen != nil {
		db.stopListen()
		db.listening.Wait()
	}
	db.stmts.close()
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return &bulwark.Error{Code: bulwark.EUnavailable, Message: "the database is unavailable; try again", Err: err}
	}
	return nil
}

// Migrate brings the schema up to date. On PostgreSQL it runs as the owner
// role (Options.OwnerURL), grants the application role what it needs, and
// then checks that the application role cannot bypass row-level security.
func (db *DB) Migrate(ctx context.Context) error {
	sqlite := db.dialect.name() == "sqlite"
	var err error
	switch {
	case sqlite:
		err = runMigrations(ctx, db.write, goose.DialectSQLite3, "migrations/sqlite", db.opt.Logger)
	case db.opt.OwnerURL != "":
		err = db.migratePostgres(ctx)
	}
	if err == nil {
		err = db.CheckSchema(ctx)
	}
	if err != nil || sqlite {
		return err
	}
	return db.checkAppRole(ctx)
}

// CheckSchema fails with EFailedPrecondition unless the database's schema
// is the one this binary's migrations end at: behind it, the code would
// meet tables it does not know (an admin command run after an upgrade,
// before serve migrated the database); ahead of it, tables this binary
// does not know (a downgrade). Commands that do not migrate call it before
// touching anything.
func (db *DB) CheckSchema(ctx context.Context) error {
	want, err := latestMigration(db.dialect.name())
	if err != nil {
		return err
	}
	exists := "SELECT to_regclass('goose_db_version') IS NOT NULL"
	if db.dialect.name() == "sqlite" {
		exists = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version')"
	}
	var migrated bool
	var have sql.NullInt64
	err = db.read.QueryRowContext(ctx, exists).Scan(&migrated)
	if err == nil && migrated {
		err = db.read.QueryRowContext(ctx, "SELECT max(version_id) FROM goose_db_version WHERE is_applied").Scan(&have)
	}
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	switch {
	case have.Int64 > want:
		return &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: fmt.Sprintf(
			"the database schema is at version %d, newer than this Bulwark knows (%d): run the Bulwark that migrated it, or a newer one", have.Int64, want)}
	case have.Int64 < want && db.dialect.name() == "sqlite":
		return &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: fmt.Sprintf(
			"the database schema is at version %d and this Bulwark needs %d: run `bulwark migrate`, or start `bulwark serve`, which migrates it", have.Int64, want)}
	case have.Int64 < want:
		return &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: fmt.Sprintf(
			"the database schema is at version %d and this Bulwark needs %d: run `bulwark migrate --db URL --db-owner OWNER_URL`, or give --db-owner to serve", have.Int64, want)}
	}
	return nil
}

func runMigrations(ctx context.Context, conn *sql.DB, d goose.Dialect, dir string, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(d, conn, sub)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range res {
		log.Info("migration applied", "version", r.Source.Version, "took", r.Duration)
	}
	return nil
}

// latestMigration is the version the migrations of dialect end at.
func latestMigration(dialect string) (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+dialect)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > n {
			n = v
		}
	}
	return n, nil
}

// now returns the transaction clock reading, in microseconds.
func (db *DB) now() time.Time { return db.opt.Now().UTC().Truncate(time.Microsecond) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

// rebind turns ? placeholders into the dialect's.
func (db *DB) rebind(q string) string { return db.dialect.rebind(q) }

type dialect interface {
	name() string
	rebind(q string) string
	// jsonEq returns an SQL condition that the JSON object column col has
	// value v (already normalised) under key field, and its arguments.
	jsonEq(col, field string, v any) (string, []any, error)
	// isUnique reports whether err is a unique-constraint violation.
	isUnique(err error) bool
	// isInvalidInput reports whether the database refused a value as
	// malformed (PostgreSQL's data exceptions).
	isInvalidInput(err error) bool
}

func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
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
