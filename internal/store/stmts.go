package store

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"
	"sync"
)

// Prepared statements (SQLite).
//
// SQLite compiles every statement it is given, and modernc's driver keeps
// no cache: without one, parsing the same few dozen queries again was a
// fifth to a quarter of all CPU under load. Two layers fix that:
//
//   - stmtCache keeps one *sql.Stmt per pool and query for the life of the
//     process; database/sql then keeps it prepared on each pooled
//     connection and reuses it inside transactions (Tx.StmtContext).
//     A missing entry is prepared in the background, on a connection of
//     its own: preparing on the pool from inside a transaction could wait
//     for a connection that the waiting transactions hold (the writer has
//     exactly one).
//   - stmtSet prepares statements per transaction until then, and is
//     shared by the requests of a group commit.
//
// PostgreSQL needs neither: pgx caches prepared statements per connection.

// maxCached bounds the process-wide cache: queries built with a variable
// number of conditions (list filters, IN lists) stop being cached once it
// is full.
const maxCached = 512

type stmtCache struct {
	mu      sync.Mutex
	stmts   map[stmtKey]*sql.Stmt
	pending map[stmtKey]bool
	closed  bool
	wg      sync.WaitGroup
}

type stmtKey struct {
	pool *sql.DB
	q    string
}

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[stmtKey]*sql.Stmt{}, pending: map[stmtKey]bool{}}
}

// lookup returns the cached statement for q on pool, or nil; a miss starts
// preparing it in the background.
func (c *stmtCache) lookup(pool *sql.DB, q string) *sql.Stmt {
	if c == nil || pool == nil {
		return nil
	}
	k := stmtKey{pool, q}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[k]; ok {
		return s
	}
	if c.closed || c.pending[k] || len(c.stmts)+len(c.pending) >= maxCached {
		return nil
	}
	c.pending[k] = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s, err := pool.PrepareContext(context.Background(), q)
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.pending, k)
		if err != nil || c.closed {
			if s != nil {
				s.Close()
			}
			return // q does not prepare: it runs unprepared and reports its error
		}
		c.stmts[k] = s
	}()
	return nil
}

// close closes every cached statement; call it before the pools close.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.stmts {
		s.Close()
		delete(c.stmts, k)
	}
}

// stmtSet keeps the statements prepared in one transaction.
type stmtSet struct {
	stmts map[string]*sql.Stmt
}

// maxStmts bounds a set.
const maxStmts = 64

func (db *DB) newStmtSet() *stmtSet {
	if db.dialect.name() != "sqlite" {
		return nil
	}
	return &stmtSet{stmts: map[string]*sql.Stmt{}}
}

// stmt returns q ready to run in t: the process-wide statement bound to
// the transaction, else one prepared in the transaction, else nil to run q
// unprepared (PostgreSQL, a full set, or q does not prepare: running it
// plainly reports the error).
func (t *tx) stmt(q string) *sql.Stmt {
	if s := t.db.stmts.lookup(t.pool, q); s != nil {
		if t.sql == nil {
			return s // autocommit reads run on the pool
		}
		return t.sql.StmtContext(t.ctx, s)
	}
	set := t.stmts
	if set == nil {
		return nil
	}
	if st, ok := set.stmts[q]; ok {
		return st
	}
	if len(set.stmts) >= maxStmts {
		return nil
	}
	// Statements prepared in a transaction are closed with it.
	st, err := t.sql.PrepareContext(t.ctx, q)
	if err != nil {
		return nil
	}
	set.stmts[q] = st
	return st
}

// Statements built for a number of values that varies from call to call
// (rows of a batch insert, an IN list) would each take a place in the
// cache, and fill it. They take a power of two of values instead, so that
// they come in a few texts (TestInsertRowsFewShapes, TestInListFewShapes).

// chunk is how many of n values (n > 0), at most max, one statement
// takes: the greatest power of two that fits.
func chunk(n, max int) int { return 1 << (bits.Len(uint(min(n, max))) - 1) }

// inList is an IN list of values (at least one): its placeholders and
// their arguments, padded to the next power of two by repeating the last
// value (IN ignores duplicates).
func inList(values []string) (string, []any) {
	n := 1 << bits.Len(uint(len(values)-1))
	args := make([]any, n)
	for i := range args {
		args[i] = values[min(i, len(values)-1)]
	}
	return strings.TrimSuffix(strings.Repeat("?,", n), ","), args
}
