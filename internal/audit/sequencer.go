package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark"
)

// Backend is what the sequencer needs from the database. internal/store
// implements it; every method is one short transaction.
type Backend interface {
	// AcquireAuditLease takes the sequencer lease for holder, or renews it,
	// until now+ttl. It reports whether holder has it.
	AcquireAuditLease(ctx context.Context, holder string, ttl time.Duration) (bool, error)
	// ReleaseAuditLease gives up the lease if holder has it, so that the
	// next process (a restart) takes over at once rather than after ttl.
	ReleaseAuditLease(ctx context.Context, holder string) error
	// IntegrateAudit numbers up to max committed, not yet numbered entries
	// into the tree, in commit order, stores the new tree hashes, and, if
	// the tree grew, stores the checkpoint that sign returns for the new
	// size and root, all in one transaction that fails unless holder still
	// holds the lease (fencing); if sign fails, nothing is stored. sign's
	// hashes reads the stored hashes of the new tree as that transaction
	// sees them (the new ones included), for a consistency proof. It
	// returns what it numbered: the leaves and their hashes, exactly as
	// AuditLeaves would read them back.
	IntegrateAudit(ctx context.Context, holder string, max int, sign func(size int64, root tlog.Hash, hashes tlog.HashReader) (*Checkpoint, error)) (*Integrated, error)
	// AuditState reports the tree, the replica's progress and the lag.
	AuditState(ctx context.Context) (*State, error)
	// AuditLeaves returns the leaves [from, to) and their stored hashes.
	AuditLeaves(ctx context.Context, from, to int64) ([][]byte, []tlog.Hash, error)
	// SetAuditReplicated records that the replica holds [0, size) and the
	// checkpoint of that size; it never moves backwards.
	SetAuditReplicated(ctx context.Context, holder string, size int64) error
}

// Integrated is what one IntegrateAudit call numbered: the leaves
// [Start, Start+len(Leaves)) and their hashes.
type Integrated struct {
	Start  int64
	Leaves [][]byte
	Hashes []tlog.Hash
}

// State is the log's progress.
type State struct {
	// Size is the number of entries in the tree.
	Size int64
	// Checkpoint is the latest signed checkpoint (nil before the first).
	Checkpoint *Checkpoint
	// Replicated is how many entries the replica holds, with a checkpoint.
	Replicated int64
	// Pending counts committed entries not yet in the tree.
	Pending int64
	// Oldest is the time of the oldest entry not yet in the replica
	// (pending or integrated); zero when the replica is up to date.
	Oldest time.Time
}

// Options configures a Sequencer.
type Options struct {
	// Interval between integration rounds; a checkpoint is signed in
	// every round that grew the tree. Default 500ms, so under load the
	// signed tree is at most about a second behind the commits.
	Interval time.Duration
	// Batch is the most entries numbered in one transaction, each of which
	// signs a checkpoint. Default 512: on SQLite the transaction holds the
	// single writer, long enough to show in the writes' p99 (create at 64
	// clients: 27-31 ms at 4096, 20-22 at 1024, 14-18 at 512; with 10,000
	// tenants 36-40 ms at 1024, 28-34 at 512).
	Batch int
	// LeaseTTL is how long the sequencer lease lasts without renewal.
	// Default 10s: a crashed sequencer is replaced within that.
	LeaseTTL time.Duration
	// StrictLag, when positive, refuses audited writes (503) while the
	// replica is more than this far behind (security-tests (d): Vault
	// stops serving when it cannot audit).
	StrictLag time.Duration
	// MaxBackoff caps the wait between shipping retries. Default 30s.
	MaxBackoff time.Duration
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Holder names this process in the lease. Default: random.
	Holder string
	// Verifier checks the replica's newest checkpoint before the
	// sequencer trusts it: the log's current key and the keys it retired
	// (bulwark audit rotate-key). Default: the signer's key alone.
	Verifier *Verifier
}

// Sequencer is the single writer of the tree in a deployment: every node
// runs one, the one holding the lease numbers entries, signs checkpoints
// and ships them to the replica; the others only watch the lag.
type Sequencer struct {
	b       Backend
	signer  *Signer
	replica *Replica
	opt     Options
	m       *metrics

	mu        sync.Mutex
	leader    bool
	state     State
	lastErr   error
	shipErr   error
	nextShip  time.Time
	renewed   time.Time // when this sequencer last took or renewed the lease
	backoff   time.Duration
	lagSecond float64
	// unshipped holds the leaves this sequencer numbered and has not
	// shipped yet, so that shipping need not read them back; it covers
	// [unshipped.Start, ...) contiguously, or is nil. Reading back is the
	// fallback (another node numbered them, a restart, or too many).
	unshipped *Integrated
	// trust holds the checkpoints every signed tree must extend.
	trust trust
	// halted is why the sequencer stopped for good: the database's tree
	// does not extend a trusted checkpoint, or the replica holds other
	// bytes than the database under the same name. Nil while it runs.
	halted error
}

// maxUnshipped bounds the leaves kept in memory for shipping while the
// replica is unreachable; beyond it shipping reads them back.
const maxUnshipped = 1 << 16

// NewSequencer returns a sequencer. replica may be nil (no replica: the
// lag is then reported as the whole log, and strict mode refuses writes).
func NewSequencer(b Backend, signer *Signer, replica *Replica, opt Options) *Sequencer {
	if opt.Interval <= 0 {
		opt.Interval = 500 * time.Millisecond
	}
	if opt.Batch <= 0 {
		opt.Batch = 512
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 10 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Holder == "" {
		b := make([]byte, 8)
		rand.Read(b)
		opt.Holder = "seq-" + hex.EncodeToString(b)
	}
	return &Sequencer{b: b, signer: signer, replica: replica, opt: opt, m: newMetrics()}
}

// Run integrates, signs and ships until ctx ends.
func (s *Sequencer) Run(ctx context.Context) error {
	t := time.NewTicker(s.opt.Interval)
	defer t.Stop()
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.opt.Logger.Warn("audit sequencer", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Flush runs a last round at shutdown: like Step, but it ships even while
// backing off from an earlier failure, so that what was acknowledged
// before the stop reaches the replica if it can.
func (s *Sequencer) Flush(ctx context.Context) error {
	s.mu.Lock()
	s.nextShip = time.Time{}
	s.mu.Unlock()
	return s.Step(ctx)
}

// Release gives up the sequencer lease, after a last Step at shutdown: a
// process that stops cleanly lets its successor sign at once.
func (s *Sequencer) Release(ctx context.Context) error {
	s.mu.Lock()
	s.leader = false
	s.mu.Unlock()
	s.m.leader.Set(0)
	return s.b.ReleaseAuditLease(ctx, s.opt.Holder)
}

// Step runs one round: take or renew the lease; if held, number every
// pending entry (in batches) and sign a checkpoint, then ship to the
// replica unless it is backing off; finally refresh the lag. Tests call
// it directly instead of waiting on a timer.
func (s *Sequencer) Step(ctx context.Context) error {
	err := s.integrate(ctx)
	if err == nil {
		s.ship(ctx)
	}
	st, serr := s.b.AuditState(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if serr != nil {
		return errors.Join(err, serr)
	}
	s.state = *st
	s.lagSecond = 0
	if !st.Oldest.IsZero() {
		s.lagSecond = s.opt.Now().Sub(st.Oldest).Seconds()
		if s.lagSecond < 0 {
			s.lagSecond = 0
		}
	}
	s.m.size.Set(float64(st.Size))
	s.m.pending.Set(float64(st.Pending))
	s.m.lagEntries.Set(float64(st.Size + st.Pending - st.Replicated))
	s.m.lagSeconds.Set(s.lagSecond)
	if st.Checkpoint != nil {
		s.m.checkpoint.Set(float64(st.Checkpoint.Size))
	}
	return err
}

func (s *Sequencer) integrate(ctx context.Context) error {
	leader, asked, err := s.renewLease(ctx)
	if err != nil || !leader {
		return err
	}
	if err := s.haltedErr(); err != nil {
		return err
	}
	// The replica's newest checkpoint, read again whenever the lease was
	// asked for (another process may have signed and shipped meanwhile).
	// Until it has been read once, nothing is signed; afterwards a
	// failed read keeps the last one.
	if s.replica != nil {
		s.mu.Lock()
		read := s.trust.replicaRead
		s.mu.Unlock()
		if !read || asked {
			if err := s.readReplicaTrust(ctx); err != nil && !read {
				return err
			}
		}
	}
	for {
		var signed *Checkpoint
		in, err := s.b.IntegrateAudit(ctx, s.opt.Holder, s.opt.Batch, func(size int64, root tlog.Hash, hashes tlog.HashReader) (*Checkpoint, error) {
			// Sign only a tree that extends every checkpoint trusted.
			s.mu.Lock()
			t := s.trust
			s.mu.Unlock()
			if err := t.check(size, root, hashes); err != nil {
				return nil, err
			}
			cp, err := s.signer.Sign(size, root)
			signed = cp
			return cp, err
		})
		if errors.Is(err, ErrDiverged) {
			err = fmt.Errorf("integrate audit entries: %w", err)
			s.halt(err)
			return err
		}
		if err != nil {
			s.mu.Lock()
			s.renewed = time.Time{} // ask for the lease again next round
			s.mu.Unlock()
			return fmt.Errorf("integrate audit entries: %w", err)
		}
		if signed != nil {
			s.mu.Lock()
			s.trust.signed(signed) // stored: the transaction committed
			s.mu.Unlock()
		}
		n := len(in.Leaves)
		s.keepUnshipped(in)
		s.m.integrated.Add(float64(n))
		if n < s.opt.Batch {
			return nil
		}
	}
}

// renewLease takes or renews the lease, unless this sequencer renewed it
// less than a third of its TTL ago: every renewal is a write, and on
// SQLite each commit empties every reader's page cache, which renewing
// twice a second did even when nothing else was written.
// Each integration is still fenced by the lease in its own transaction.
// asked tells whether the database was asked.
func (s *Sequencer) renewLease(ctx context.Context) (leader, asked bool, err error) {
	now := s.opt.Now()
	s.mu.Lock()
	fresh := s.leader && now.Sub(s.renewed) < s.opt.LeaseTTL/3
	s.mu.Unlock()
	if fresh {
		return true, false, nil
	}
	ok, err := s.b.AcquireAuditLease(ctx, s.opt.Holder, s.opt.LeaseTTL)
	leader = ok && err == nil
	s.mu.Lock()
	s.leader = leader
	if leader {
		s.renewed = now
	}
	s.mu.Unlock()
	if leader {
		s.m.leader.Set(1)
	} else {
		s.m.leader.Set(0)
	}
	return leader, true, err
}

// keepUnshipped adds what was just numbered to the leaves kept for
// shipping, if they continue them and the bound allows.
func (s *Sequencer) keepUnshipped(in *Integrated) {
	if s.replica == nil || len(in.Leaves) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unshipped
	switch {
	case u == nil:
		u = &Integrated{Start: in.Start}
	case u.Start+int64(len(u.Leaves)) != in.Start || len(u.Leaves)+len(in.Leaves) > maxUnshipped:
		s.unshipped = nil // not contiguous, or too many: read back instead
		return
	}
	u.Leaves = append(u.Leaves, in.Leaves...)
	u.Hashes = append(u.Hashes, in.Hashes...)
	s.unshipped = u
}

// leaves returns the leaves [from, to) and their hashes: from memory when
// this sequencer numbered them itself, else read back.
func (s *Sequencer) leaves(ctx context.Context, from, to int64) ([][]byte, []tlog.Hash, error) {
	s.mu.Lock()
	u := s.unshipped
	s.mu.Unlock()
	if u != nil && from >= u.Start && to <= u.Start+int64(len(u.Leaves)) {
		return u.Leaves[from-u.Start : to-u.Start], u.Hashes[from-u.Start : to-u.Start], nil
	}
	return s.b.AuditLeaves(ctx, from, to)
}

// shipped drops the kept leaves below size, now in the replica.
func (s *Sequencer) shipped(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unshipped
	if u == nil {
		return
	}
	end := u.Start + int64(len(u.Leaves))
	if size >= end {
		s.unshipped = nil
		return
	}
	if size > u.Start {
		k := size - u.Start
		s.unshipped = &Integrated{Start: size, Leaves: u.Leaves[k:], Hashes: u.Hashes[k:]}
	}
}

// ship sends the entries the replica lacks and the latest checkpoint.
// Nothing is dropped: the replica's position moves only after a
// successful write, so a failure is retried from the same place, with
// exponential backoff.
func (s *Sequencer) ship(ctx context.Context) {
	s.mu.Lock()
	leader, wait, halted := s.leader, s.opt.Now().Before(s.nextShip), s.halted != nil
	s.mu.Unlock()
	if !leader || s.replica == nil || wait || halted {
		return
	}
	err := s.shipOnce(ctx)
	if err != nil && ctx.Err() != nil {
		// Our own round was cancelled (shutdown), not the replica down:
		// no backoff, so the last round at shutdown still ships.
		return
	}
	if errors.Is(err, ErrReplicaConflict) {
		// The database holds other entries or another checkpoint than
		// the replica under the same name: it was rewritten after
		// shipping. Retrying cannot help, and nothing more may be signed.
		s.mu.Lock()
		s.shipErr = err
		s.mu.Unlock()
		s.halt(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shipErr = err
	if err == nil {
		s.backoff, s.nextShip = 0, time.Time{}
		return
	}
	s.m.shipFailures.Inc()
	if s.backoff == 0 {
		s.backoff = s.opt.Interval
	} else if s.backoff *= 2; s.backoff > s.opt.MaxBackoff {
		s.backoff = s.opt.MaxBackoff
	}
	s.nextShip = s.opt.Now().Add(s.backoff)
	s.opt.Logger.Warn("audit replica unreachable; will retry", "err", err, "retry_in", s.backoff)
}

func (s *Sequencer) shipOnce(ctx context.Context) error {
	st, err := s.b.AuditState(ctx)
	if err != nil || st.Checkpoint == nil || st.Checkpoint.Size <= st.Replicated {
		return err
	}
	// Ship up to the latest checkpoint only: the replica's entries then
	// always end at a signed size.
	const chunk = 8192 // at most maxBundle, which a reader accepts
	for from := st.Replicated; from < st.Checkpoint.Size; from += chunk {
		to := min(from+chunk, st.Checkpoint.Size)
		leaves, hashes, err := s.leaves(ctx, from, to)
		if err != nil {
			return err
		}
		if int64(len(leaves)) != to-from {
			return fmt.Errorf("audit leaves %d-%d: the database returned %d", from, to, len(leaves))
		}
		if err := s.replica.PutBundle(ctx, from, leaves, hashes); err != nil {
			return err
		}
	}
	if err := s.replica.PutCheckpoint(ctx, st.Checkpoint); err != nil {
		return err
	}
	if err := s.b.SetAuditReplicated(ctx, s.opt.Holder, st.Checkpoint.Size); err != nil {
		return err
	}
	s.shipped(st.Checkpoint.Size)
	s.m.shipped.Add(float64(st.Checkpoint.Size - st.Replicated))
	return nil
}

// haltedErr returns why the sequencer halted, nil while it runs.
func (s *Sequencer) haltedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.halted
}

// Status is the sequencer's view for health checks.
type Status struct {
	Leader     bool
	Size       int64
	Pending    int64
	Replicated int64
	LagEntries int64
	Lag        time.Duration
	// Err is the last integration error; ShipErr the last shipping error.
	Err, ShipErr error
	// Halted is why the sequencer stopped signing and shipping for good
	// (ErrDiverged, ErrReplicaConflict), nil while it runs.
	Halted error
}

// Status returns the state at the last Step.
func (s *Sequencer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{
		Leader: s.leader, Size: s.state.Size, Pending: s.state.Pending, Replicated: s.state.Replicated,
		LagEntries: s.state.Size + s.state.Pending - s.state.Replicated,
		Lag:        time.Duration(s.lagSecond * float64(time.Second)),
		Err:        s.lastErr, ShipErr: s.shipErr, Halted: s.halted,
	}
}

// Warnings returns what /readyz should warn about: a replica behind or
// unreachable, a sequencer failing.
func (s *Sequencer) Warnings() []string {
	st := s.Status()
	var w []string
	if st.Lag >= 5*time.Second {
		w = append(w, fmt.Sprintf("audit replica is %s and %d entries behind", st.Lag.Round(time.Second), st.LagEntries))
	}
	switch {
	case st.Halted != nil:
		w = append(w, "audit sequencer halted: the database's audit log does not extend what was signed and replicated (rolled back or rewritten); nothing is signed or shipped; run bulwark audit verify")
	case st.ShipErr != nil:
		w = append(w, "audit replica unreachable; shipping retries with backoff")
	}
	if st.Err != nil && st.Halted == nil {
		w = append(w, "audit sequencer failing; entries are kept and will be numbered when it recovers")
	}
	return w
}

// Gate is the strict-mode check the store runs before each audited write:
// with StrictLag set, it refuses while the replica lags further behind.
func (s *Sequencer) Gate() error {
	if s.opt.StrictLag <= 0 {
		return nil
	}
	if st := s.Status(); st.Lag > s.opt.StrictLag {
		return &bulwark.Error{Code: bulwark.EUnavailable,
			Message: "writes are paused: the audit log cannot reach its replica; try again later"}
	}
	return nil
}

// Collectors returns the Prometheus metrics, for the caller's registry.
func (s *Sequencer) Collectors() []prometheus.Collector { return s.m.all() }

type metrics struct {
	size, pending, lagEntries, lagSeconds, checkpoint, leader, halted prometheus.Gauge
	integrated, shipped, shipFailures                                 prometheus.Counter
}

func newMetrics() *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "bulwark", Subsystem: "audit", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "bulwark", Subsystem: "audit", Name: name, Help: help})
	}
	return &metrics{
		size:         g("tree_size", "Entries in the audit Merkle tree."),
		pending:      g("pending_entries", "Committed audit entries not yet numbered into the tree."),
		lagEntries:   g("replica_lag_entries", "Audit entries not yet in the replica."),
		lagSeconds:   g("replica_lag_seconds", "Age of the oldest audit entry not yet in the replica."),
		checkpoint:   g("checkpoint_size", "Tree size of the latest signed checkpoint."),
		leader:       g("sequencer_leader", "1 if this process holds the sequencer lease."),
		halted:       g("sequencer_halted", "1 if this process stopped signing and shipping: the database's audit tree does not extend a trusted checkpoint, or differs from the replica."),
		integrated:   c("integrated_total", "Audit entries numbered into the tree by this process."),
		shipped:      c("shipped_total", "Audit entries shipped to the replica by this process."),
		shipFailures: c("ship_failures_total", "Failed attempts to ship to the audit replica."),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.size, m.pending, m.lagEntries, m.lagSeconds, m.checkpoint, m.leader, m.halted, m.integrated, m.shipped, m.shipFailures}
}
