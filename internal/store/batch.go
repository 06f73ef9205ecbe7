package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit (SQLite).
//
// SQLite has one writer, and with synchronous=FULL every commit waits for
// fsync. Committing each request on its own would cap writes at the disk's
// fsync rate. Instead one goroutine owns the write connection and commits
// the write transactions that arrive together as one SQLite transaction:
// each request runs inside its own SAVEPOINT, so a request that fails is
// rolled back to its savepoint without touching the others, and every
// request is acknowledged only after the shared COMMIT is durable. A failed
// COMMIT fails every request in the batch; nothing is acknowledged that is
// not on disk.

// maxBatch bounds the requests in one commit, so a burst cannot make one
// transaction unboundedly large.
const maxBatch = 256

type writeReq struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
}

type batcher struct {
	db   *DB
	reqs chan *writeReq
	stop chan struct{}
	wg   sync.WaitGroup
	// mu orders submits against close: no request is queued after close
	// has begun, so the loop's final drain answers every queued request.
	mu     sync.RWMutex
	closed bool
}

func newBatcher(db *DB) *batcher {
	b := &batcher{db: db, reqs: make(chan *writeReq, maxBatch), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// errClosed is returned to writes submitted after Close.
var errClosed = errors.New("store is closed")

// submit queues fn and waits for the commit that includes it.
func (b *batcher) submit(ctx context.Context, fn func(*tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return errClosed
	}
	select {
	case b.reqs <- r:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return b.db.formatError(ctx.Err())
	}
	// Once queued, the request's fate is decided by the batch: waiting for
	// it even if ctx ends means the caller never mistakes a committed
	// write for a failed one.
	return <-r.done
}

func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *batcher) loop() {
	defer b.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			// Fail whatever is still queued.
			for {
				select {
				case r := <-b.reqs:
					r.done <- errClosed
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		b.commit(batch)
	}
}

// commit runs a batch in one transaction and answers every request.
func (b *batcher) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	err := b.runBatch(batch, results)
	for i, r := range batch {
		if err != nil {
			r.done <- err
		} else {
			r.done <- results[i]
		}
	}
}

func (b *batcher) runBatch(batch []*writeReq, results []error) error {
	ctx := context.Background()
	s, err := b.db.write.BeginTx(ctx, nil)
	if err != nil {
		return b.db.formatError(fmt.Errorf("begin: %w", err))
	}
	defer s.Rollback()
	// The batch's requests mostly run the same statements: each is
	// compiled once per batch, not once per request.
	set := b.db.newStmtSet()
	ok := 0
	for i, r := range batch {
		if r.ctx.Err() != nil {
			results[i] = b.db.formatError(r.ctx.Err())
			continue
		}
		var broken error
		results[i], broken = b.runOne(s, set, r)
		if broken != nil {
			return b.db.formatError(broken)
		}
		if results[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		return nil // nothing to commit; each request has its own error
	}
	if err := s.Commit(); err != nil {
		return b.db.formatError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// runOne runs one request inside a savepoint of the shared transaction.
// err is the request's own outcome; broken means the shared transaction
// can no longer be used, and the whole batch must fail.
func (b *batcher) runOne(s *sql.Tx, set *stmtSet, r *writeReq) (err, broken error) {
	ctx := context.WithoutCancel(r.ctx)
	if _, err := s.ExecContext(ctx, "SAVEPOINT req"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	err = b.call(r.fn, &tx{db: b.db, sql: s, pool: b.db.write, stmts: set, now: b.db.now(), ctx: ctx})
	if err != nil {
		// Undo this request only.
		if _, rerr := s.ExecContext(ctx, "ROLLBACK TO req"); rerr != nil {
			return err, fmt.Errorf("rollback to savepoint: %w", rerr)
		}
	}
	if _, rerr := s.ExecContext(ctx, "RELEASE req"); rerr != nil {
		return err, fmt.Errorf("release savepoint: %w", rerr)
	}
	return b.db.formatError(err), nil
}

// call runs fn, turning a panic into an error so that one bad request
// cannot take the writer down with the others' writes.
func (b *batcher) call(fn func(*tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	return fn(t)
}
