package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// tx is one database transaction with one clock reading. With sql nil it
// is a run of autocommit reads on pool instead (see inTenantReads).
type tx struct {
	db    *DB
	sql   *sql.Tx
	pool  *sql.DB  // the pool the transaction came from (stmts.go)
	stmts *stmtSet // prepared statements of the transaction (shared by a batch)
	now   time.Time
	ctx   context.Context
	// queue holds the audit entries the request writes until its batch
	// commits (audit_queue.go); nil outside SQLite's writer. A pointer,
	// so that copies of the tx (tenantTx, globalTx) share it.
	queue *auditQueue
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	q = t.db.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	if t.sql == nil {
		return t.pool.ExecContext(t.ctx, q, args...)
	}
	return t.sql.ExecContext(t.ctx, q, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	q = t.db.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	if t.sql == nil {
		return t.pool.QueryContext(t.ctx, q, args...)
	}
	return t.sql.QueryContext(t.ctx, q, args...)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	q = t.db.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	if t.sql == nil {
		return t.pool.QueryRowContext(t.ctx, q, args...)
	}
	return t.sql.QueryRowContext(t.ctx, q, args...)
}

// queryStrings runs q, which selects one text column, and returns its
// values in order.
func (t *tx) queryStrings(q string, args ...any) ([]string, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// tenantTx is the only way to reach tenant tables. It is made from the
// Principal in the context, never from request input, and every query it
// runs is bound to that tenant; on PostgreSQL the transaction also sets
// app.tenant_id, which row-level security checks again.
type tenantTx struct {
	tx
	tenantID  string
	principal *bulwark.Principal
	// keepAuth says the transaction changes nothing a principal is made
	// of, so cached principals survive it (cache.go). Only set it
	// where that is plainly true: records, the last-use touch, logins.
	keepAuth bool
}

// globalTx reaches deployment-level tables only (tenants, operators). On
// PostgreSQL no tenant is set in it, so tenant tables show no rows.
type globalTx struct {
	tx
	principal *bulwark.Principal
	keepAuth  bool // as in tenantTx
}

func (db *DB) begin(ctx context.Context, write bool) (*tx, error) {
	pool := db.read
	opts := &sql.TxOptions{ReadOnly: !write}
	if write {
		pool = db.write
	}
	if db.dialect.name() == "sqlite" {
		// The read pool is query_only; the write pool's _txlock=immediate
		// does the rest. database/sql's ReadOnly is not understood there.
		opts = nil
	}
	s, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, db.formatError(fmt.Errorf("begin: %w", err))
	}
	return &tx{db: db, sql: s, pool: pool, stmts: db.newStmtSet(), now: db.now(), ctx: ctx}, nil
}

func (db *DB) run(ctx context.Context, write bool, setup func(*tx) error, fn func(*tx) error) error {
	if write && db.batch != nil {
		return db.batch.submit(ctx, func(t *tx) error {
			if setup != nil {
				if err := setup(t); err != nil {
					return err
				}
			}
			return fn(t)
		})
	}
	t, err := db.begin(ctx, write)
	if err != nil {
		return err
	}
	defer t.sql.Rollback()
	err = func() error {
		if setup != nil {
			if err := setup(t); err != nil {
				return err
			}
		}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.sql.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	if err != nil && ctx.Err() != nil {
		// database/sql rolls the transaction back when its context ends,
		// and later calls fail with ErrTxDone: the cause is the caller
		// going away, not a fault of the server.
		err = ctx.Err()
	}
	return db.formatError(err)
}

// inTenant runs fn in a transaction scoped to the tenant of the principal
// in ctx. It fails closed: without a tenant principal nothing runs.
func (db *DB) inTenant(ctx context.Context, write bool, fn func(*tenantTx) error) error {
	tenantID, err := bulwark.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	return db.inTenantID(ctx, tenantID, bulwark.FromContext(ctx), write, fn)
}

// inTenantReads runs fn, which only reads, scoped like inTenant. On
// SQLite its statements run each on its own on the read pool, without
// BEGIN and COMMIT (two statements compiled and run per request that a
// one-statement read does not need): use it only where the statements
// need not share a snapshot. On PostgreSQL it is inTenant, since
// row-level security reads the tenant from the transaction.
func (db *DB) inTenantReads(ctx context.Context, fn func(*tenantTx) error) error {
	if db.dialect.name() != "sqlite" {
		return db.inTenant(ctx, false, fn)
	}
	tenantID, err := bulwark.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return db.formatError(err)
	}
	// The statements are short and bounded (a record, a page): they run
	// to the end even if the client goes, which spares the driver a
	// goroutine per statement watching for cancellation.
	t := &tenantTx{tx: tx{db: db, pool: db.read, now: db.now(), ctx: context.WithoutCancel(ctx)}, tenantID: tenantID, principal: bulwark.FromContext(ctx)}
	err = fn(t)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return db.formatError(err)
}

// inTenantID is inTenant for the few places that learn the tenant from a
// credential being checked (a login, a session or token, an activation
// secret) rather than from a principal. It is unexported on purpose.
func (db *DB) inTenantID(ctx context.Context, tenantID string, p *bulwark.Principal, write bool, fn func(*tenantTx) error) error {
	return db.runCached(ctx, write, func(t *tx) error { return db.setTenant(t, tenantID) }, tenantID, func(t *tx) (bool, error) {
		tt := &tenantTx{tx: *t, tenantID: tenantID, principal: p}
		err := fn(tt)
		return tt.keepAuth, err
	})
}

// runCached runs fn in a transaction. A write that fn does not mark as
// keeping the cache (keepAuth) invalidates the tenant cache of scope (""
// for every tenant): on PostgreSQL other nodes are notified in the
// transaction, and this node drops the entries after the commit (or its
// failure: then nothing changed, and dropping entries costs only a
// re-read). See cache.go.
func (db *DB) runCached(ctx context.Context, write bool, setup func(*tx) error, scope string, fn func(*tx) (keep bool, err error)) error {
	invalidate := false
	err := db.run(ctx, write, setup, func(t *tx) error {
		keep, err := fn(t)
		if err != nil || !write || keep {
			return err
		}
		invalidate = true
		return t.notifyAuthChange(scope)
	})
	if invalidate {
		db.cache.invalidate(scope)
	}
	return err
}

func (db *DB) setTenant(t *tx, tenantID string) error {
	if db.dialect.name() != "postgres" {
		return nil
	}
	// is_local = true: the setting ends with the transaction, so a pooled
	// connection never carries one tenant into the next transaction.
	_, err := t.exec("SELECT set_config('app.tenant_id', ?, true)", tenantID)
	return err
}

// inGlobal runs fn in a deployment-level transaction.
func (db *DB) inGlobal(ctx context.Context, write bool, fn func(*globalTx) error) error {
	return db.runCached(ctx, write, nil, "", func(t *tx) (bool, error) {
		gt := &globalTx{tx: *t, principal: bulwark.FromContext(ctx)}
		err := fn(gt)
		return gt.keepAuth, err
	})
}

// formatError maps driver errors to application errors, in one place for
// both backends.
func (db *DB) formatError(err error) error {
	if err == nil {
		return nil
	}
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	if db.dialect.isUnique(err) {
		return &bulwark.Error{Code: bulwark.EConflict, Message: "it already exists", Err: err}
	}
	if db.dialect.isInvalidInput(err) {
		return &bulwark.Error{Code: bulwark.EInvalid, Message: "the input holds a value the database refuses, such as a NUL character or invalid UTF-8", Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &bulwark.Error{Code: bulwark.EUnavailable, Message: "the request was cancelled or timed out", Err: err}
	}
	return err
}
