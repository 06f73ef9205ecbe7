package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

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
// it began. While the syncer is busy the writer keeps its transaction
// open and adds the requests that arrive to it, and commits when the
// syncer is free: committing earlier would make nothing durable sooner,
// and every commit writes each page it touched to the WAL again, so fewer,
// larger commits write far fewer pages per request. SQLite keeps the file
// consistent across power loss in this mode; what the fsync adds is that
// acknowledged commits are in it.
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
	// unsynced counts the committed batches the syncer has not answered
	// yet; idle wakes the writer when the syncer has answered some.
	unsynced atomic.Int64
	idle     chan struct{}
	// auditNext is the audit index after the last batch this writer
	// committed, -1 until it has committed one (audit_queue.go). Only the
	// writer goroutine uses it.
	auditNext int64
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
		synced: make(chan *committed, maxUnsynced), idle: make(chan struct{}, 1), auditNext: -1}
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
		b.commit(first)
	}
}

// commit runs first, and whatever arrives until the syncer is free, in one
// transaction; the syncer answers them once it is durable. A batch that
// failed, or committed nothing, is answered now.
func (b *batcher) commit(first *writeReq) {
	o := b.open()
	o.run(first)
	b.fill(o)
	err := o.broken
	if err == nil && o.ok > 0 {
		if err = o.commit(); err == nil {
			b.unsynced.Add(1)
			b.synced <- &committed{o.reqs, o.results}
			return
		}
	}
	if o.s != nil {
		o.s.Rollback()
	}
	// Failed, or nothing to commit: each request has its own outcome.
	for i, r := range o.reqs {
		if err != nil {
			r.done <- err
		} else {
			r.done <- o.results[i]
		}
	}
}

// fill adds queued requests to the open batch, and waits for more while
// the syncer is still busy with an earlier commit, until it is free, the
// batch is full, or the store closes.
func (b *batcher) fill(o *openBatch) {
	for o.broken == nil && len(o.reqs) < maxBatch {
		select {
		case r := <-b.reqs:
			o.run(r)
			continue
		default:
		}
		if b.unsynced.Load() == 0 {
			break
		}
		select {
		case r := <-b.reqs:
			o.run(r)
		case <-b.idle:
		case <-b.stop:
			return
		}
	}
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
		b.unsynced.Add(-int64(len(done)))
		select {
		case b.idle <- struct{}{}:
		default:
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

// openBatch is the writer's open transaction and the requests run in it.
type openBatch struct {
	b       *batcher
	s       *sql.Tx
	set     *stmtSet
	reqs    []*writeReq
	results []error
	ok      int   // requests that succeeded
	broken  error // the shared transaction can no longer be used
	audit   auditQueue
}

// open begins the writer's transaction; if it cannot, the batch is broken
// from the start and every request in it fails with that.
func (b *batcher) open() *openBatch {
	s, err := b.db.write.BeginTx(context.Background(), nil)
	if err != nil {
		return &openBatch{b: b, broken: b.db.formatError(fmt.Errorf("begin: %w", err))}
	}
	// The batch's requests mostly run the same statements: each is
	// compiled once per batch, not once per request.
	return &openBatch{b: b, s: s, set: b.db.newStmtSet()}
}

// run runs r in the open transaction and records its outcome.
func (o *openBatch) run(r *writeReq) {
	o.reqs = append(o.reqs, r)
	var res error
	switch {
	case o.broken != nil:
		res = o.broken
	case r.ctx.Err() != nil:
		res = o.b.db.formatError(r.ctx.Err())
	default:
		var broken error
		res, broken = o.b.runOne(o.s, o.set, r, &o.audit)
		if broken != nil {
			o.broken = o.b.db.formatError(broken)
		}
	}
	if res == nil {
		o.ok++
	}
	o.results = append(o.results, res)
}

// commit writes the batch's audit entries, commits, and hands the
// entries to the sequencer (audit_memo.go).
func (o *openBatch) commit() error {
	t := &tx{db: o.b.db, sql: o.s, pool: o.b.db.write, stmts: o.set, ctx: context.Background()}
	memo, next, err := o.audit.write(t, o.b.auditNext)
	if err != nil {
		return o.b.db.formatError(err)
	}
	if err := o.s.Commit(); err != nil {
		return o.b.db.formatError(fmt.Errorf("commit: %w", err))
	}
	o.b.auditNext = next
	o.b.db.memo.add(memo)
	return nil
}

// runOne runs one request inside a savepoint of the shared transaction.
// err is the request's own outcome; broken means the shared transaction
// can no longer be used, and the whole batch must fail. The audit entries
// of a request that succeeds join the batch's queue.
func (b *batcher) runOne(s *sql.Tx, set *stmtSet, r *writeReq, q *auditQueue) (err, broken error) {
	ctx := context.WithoutCancel(r.ctx)
	t := &tx{db: b.db, sql: s, pool: b.db.write, stmts: set, now: b.db.now(), ctx: ctx, queue: q}
	q.begin()
	defer func() { q.end(err == nil && broken == nil) }()
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
