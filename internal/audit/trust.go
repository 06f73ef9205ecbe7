package audit

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrDiverged is the sequencer's refusal to sign: the tree in the
// database does not extend a checkpoint that the sequencer trusts. The
// database was rolled back or rewritten (or restored from a backup older
// than the replica); signing would make the rewritten history look
// authentic, and shipping it would overwrite the replica's evidence.
var ErrDiverged = errors.New("the audit tree in the database does not extend the newest trusted checkpoint")

// trust is what the sequencer checks a tree against before it signs it.
// The database is not trusted: whoever can write to it can roll the
// tree's head, hashes and checkpoints back to an earlier size and rewrite
// the entries after it, all without the signing key. What it cannot
// change is a checkpoint already signed and shipped, or one this process
// signed: every tree the sequencer signs must extend both.
type trust struct {
	// own is the newest checkpoint this process signed and stored.
	own *Checkpoint
	// replica is the replica's newest checkpoint, its signature checked,
	// as last read; nil if the replica holds none.
	replica *Checkpoint
	// replicaRead tells whether the replica's checkpoint was read at all
	// in this process: until it is, nothing is signed.
	replicaRead bool
	// covered: own was checked to extend replica (or is replica), so a
	// tree that extends own extends replica too.
	covered bool
}

// check returns nil if the tree of size entries with root extends every
// trusted checkpoint; ErrDiverged if it does not; another error if the
// proof could not be made (then it is not signed either, this round).
func (t *trust) check(size int64, root tlog.Hash, hashes tlog.HashReader) error {
	if t.own != nil {
		if err := extends(size, root, hashes, t.own, "this process signed"); err != nil {
			return err
		}
	}
	if t.replica != nil && !t.covered {
		if err := extends(size, root, hashes, t.replica, "the replica holds"); err != nil {
			return err
		}
	}
	return nil
}

// signed records cp, which check approved and which is now stored.
func (t *trust) signed(cp *Checkpoint) {
	t.own = cp
	t.covered = t.replica != nil
}

// setReplica records the replica's newest checkpoint, cp (nil: none).
func (t *trust) setReplica(cp *Checkpoint) {
	t.replicaRead = true
	if cp == nil {
		// An empty replica trusts nothing. Only the replica's own
		// credentials can empty it; the last one read stays trusted.
		return
	}
	if t.replica != nil && cp.Size <= t.replica.Size {
		// Never backwards, nor sideways: the newest one read stays
		// trusted.
		return
	}
	t.replica = cp
	t.covered = t.own != nil && t.own.Size == cp.Size && t.own.Root == cp.Root
}

// extends checks that the tree of size entries with root extends the
// signed checkpoint cp: it is at least as long, the same tree at the same
// size, and for a longer tree a consistency proof made from the stored
// hashes takes cp's root to root (tlog.ProveTree, tlog.CheckTree).
func extends(size int64, root tlog.Hash, hashes tlog.HashReader, cp *Checkpoint, where string) error {
	switch {
	case size < cp.Size:
		return fmt.Errorf("%w: it has %d entries, fewer than the checkpoint of size %d that %s", ErrDiverged, size, cp.Size, where)
	case size == cp.Size:
		if root != cp.Root {
			return fmt.Errorf("%w: its root at size %d is %s, not %s, the root of the checkpoint that %s", ErrDiverged, size, root, cp.Root, where)
		}
		return nil
	}
	proof, err := tlog.ProveTree(size, cp.Size, hashes)
	if err != nil {
		return fmt.Errorf("prove that the audit tree of size %d extends the checkpoint of size %d: %w", size, cp.Size, err)
	}
	if err := tlog.CheckTree(proof, size, root, cp.Size, cp.Root); err != nil {
		return fmt.Errorf("%w: the tree of size %d (root %s) is not consistent with the checkpoint of size %d that %s (root %s)",
			ErrDiverged, size, root, cp.Size, where, cp.Root)
	}
	return nil
}

// readReplicaTrust reads the replica's newest checkpoint and, if its
// signature verifies, trusts it. A checkpoint that does not verify is an
// error: the sequencer does not sign until it can tell what the replica
// holds (after a key rotation, Options.Verifier must hold the retired
// keys).
func (s *Sequencer) readReplicaTrust(ctx context.Context) error {
	note, err := s.replica.Latest(ctx)
	if err != nil {
		return fmt.Errorf("read the audit replica's checkpoint: %w", err)
	}
	v := s.opt.Verifier
	if v == nil {
		if v, err = NewVerifier(s.signer.PublicKey()); err != nil {
			return err
		}
	}
	var cp *Checkpoint
	if note != nil {
		if cp, err = v.Open(note); err != nil {
			return fmt.Errorf("the audit replica's checkpoint: %w", err)
		}
	}
	s.mu.Lock()
	s.trust.setReplica(cp)
	s.mu.Unlock()
	return nil
}

// halt stops the sequencer for good (until the process restarts): it
// neither signs nor ships again. Only sizes and hashes are logged.
func (s *Sequencer) halt(err error) {
	s.mu.Lock()
	first := s.halted == nil
	if first {
		s.halted = err
	}
	s.mu.Unlock()
	if first {
		s.m.halted.Set(1)
		s.opt.Logger.Error("audit sequencer halted: nothing more is signed or shipped; run bulwark audit verify", "err", err)
	}
}
