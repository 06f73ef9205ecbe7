package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/bulwarkhq/bulwark"
)

// Group commit (SQLite).
//
// SQLite has one writer, and a durable commit waits for fsync. Committing
// each request on its own would cap writes at the disk's fsync rate.
// Instead one goroutine owns the write connection and commits the write
// transactions that arrive together as one SQLite transaction: each
// request runs inside its own SAVEPOINT, so a request that fails is rolled
// back to its savepoint without touching the others.
//
// Durability is pipelined. The connection runs with synchronous=NORMAL,
// so COMMIT appends the batch to the WAL without waiting for the disk, and
// a second goroutine (the syncer) fsyncs the WAL and only then answers the
// batch's requests: nothing is acknowledged that is not on disk, as with
// synchronous=FULL, but the writer runs the next batch while the disk
// syncs the last one. One fsync acknowledges every batch committed before
// it began. SQLite keeps the file consistent across power loss in this
// mode; what the fsync adds is that acknowledged commits are in it.
// A committed batch is visible to readers up to one fsync before it is
// acknowledged (and, on power loss in that window, it is gone, as it was
// never acknowledged). If an fsync fails, the kernel may have dropped the
// data it could not write: the store then refuses every further write
// until it is restarted (fail closed).

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
	// synced receives committed batches, which the syncer answers after
	// the WAL's fsync; syncWAL does that fsync (a test may replace it).
	synced  chan *committed
	syncWAL func() error
	// failed is set when an fsync fails; every later write fails with it.
	failed error
}

// committed is a batch whose COMMIT returned, waiting for the fsync.
type committed struct {
	reqs    []*writeReq
	results []error
}

// maxUnsynced bounds the committed batches waiting for one fsync.
const maxUnsynced = 64

func newBatcher(db *DB, walPath string) *batcher {
	b := &batcher{db: db, reqs: make(chan *writeReq, maxBatch), stop: make(chan struct{}),
		synced: make(chan *committed, maxUnsynced)}
	w := &walFile{path: walPath}
	b.syncWAL = w.sync
	b.wg.Add(2)
	go b.loop()
	go b.syncer(w)
	return b
}

// walFile fsyncs SQLite's WAL file. It keeps the file open, and opens it
// again if the path names another file than the one it holds, so that it
// never syncs a file SQLite has let go of.
type walFile struct {
	path string
	f    *os.File
}

func (w *walFile) sync() error {
	fi, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("find the WAL: %w", err)
	}
	if w.f != nil {
		if held, err := w.f.Stat(); err != nil || !os.SameFile(fi, held) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return fmt.Errorf("open the WAL: %w", err)
		}
		// A new WAL file: make its directory entry durable too.
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			f.Close()
			return err
		}
		w.f = f
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync the WAL: %w", err)
	}
	return nil
}

func (w *walFile) close() {
	if w.f != nil {
		w.f.Close()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open the database directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync the database directory: %w", err)
	}
	return nil
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
	if b.failed != nil {
		b.mu.RUnlock()
		return b.failed
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
	defer close(b.synced) // the syncer answers what is left, then ends
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

// commit runs a batch in one transaction; the syncer answers it once it
// is durable. A batch that failed, or committed nothing, is answered now.
func (b *batcher) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	wrote, err := b.runBatch(batch, results)
	if err != nil || !wrote {
		for i, r := range batch {
			if err != nil {
				r.done <- err
			} else {
				r.done <- results[i]
			}
		}
		return
	}
	b.synced <- &committed{batch, results}
}

// syncer fsyncs the WAL for committed batches and answers them.
func (b *batcher) syncer(w *walFile) {
	defer b.wg.Done()
	defer w.close()
	for c := range b.synced {
		// Every batch already queued committed before this fsync begins.
		done := []*committed{c}
	more:
		for len(done) < maxUnsynced {
			select {
			case c, ok := <-b.synced:
				if !ok {
					break more
				}
				done = append(done, c)
			default:
				break more
			}
		}
		err := b.syncWAL()
		if err != nil {
			err = b.fail(err)
		}
		for _, c := range done {
			for i, r := range c.reqs {
				if err != nil {
					r.done <- err
				} else {
					r.done <- c.results[i]
				}
			}
		}
	}
}

// fail records a failed fsync: from now on every write fails.
func (b *batcher) fail(cause error) error {
	b.db.opt.Logger.Error("fsync of the SQLite WAL failed: refusing all writes; restart the server after checking the disk", "err", cause)
	err := &bulwark.Error{Code: bulwark.EUnavailable, Message: "the database could not make a write durable; writes are refused until the server restarts", Err: cause}
	b.mu.Lock()
	b.failed = err
	b.mu.Unlock()
	return err
}

// runBatch runs the batch's requests in one transaction and commits it.
// wrote reports whether anything was committed.
func (b *batcher) runBatch(batch []*writeReq, results []error) (wrote bool, err error) {
	ctx := context.Background()
	s, err := b.db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, b.db.formatError(fmt.Errorf("begin: %w", err))
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
			return false, b.db.formatError(broken)
		}
		if results[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		return false, nil // nothing to commit; each request has its own error
	}
	if err := s.Commit(); err != nil {
		return false, b.db.formatError(fmt.Errorf("commit: %w", err))
	}
	return true, nil
}

// runOne runs one request inside a savepoint of the shared transaction.
// err is the request's own outcome; broken means the shared transaction
// can no longer be used, and the whole batch must fail.
func (b *batcher) runOne(s *sql.Tx, set *stmtSet, r *writeReq) (err, broken error) {
	ctx := context.WithoutCancel(r.ctx)
	t := &tx{db: b.db, sql: s, pool: b.db.write, stmts: set, now: b.db.now(), ctx: ctx}
	// The savepoint statements go through the statement cache like any
	// other: compiling them anew was a fifth of the writer's time.
	if _, err := t.exec("SAVEPOINT req"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	err = b.call(r.fn, t)
	if err != nil {
		// Undo this request only.
		if _, rerr := t.exec("ROLLBACK TO req"); rerr != nil {
			return err, fmt.Errorf("rollback to savepoint: %w", rerr)
		}
	}
	if _, rerr := t.exec("RELEASE req"); rerr != nil {
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
