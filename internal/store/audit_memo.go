package store

import (
	"sync"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// Committed audit entries, handed to the sequencer in memory (SQLite).
//
// On SQLite one process writes, through one writer goroutine, so it knows
// every entry it commits. Reading them back for the tree was most of the
// sequencer's cost: they were just written, and their pages come from the
// WAL because every commit empties the readers' page caches. The writer
// keeps each committed entry here, exactly as scanEntry would read it
// back, and the sequencer takes them by sequence number. The database
// still decides which entries are pending (the sequencer reads their
// numbers first); an entry that is not here (written by another process,
// such as a CLI command, or beyond the bound) sends the whole round back
// to reading rows. An entry edited in the database before it is numbered
// is therefore hashed as it was written, and verification flags the edit.

// maxMemo bounds the entries kept: a process that runs no sequencer (a CLI
// command, a follower) keeps at most this many.
const maxMemo = 1 << 15

type auditMemo struct {
	mu sync.Mutex
	m  map[int64]*audit.Entry // by seq
}

// memoEntry is an entry a request wrote, not yet committed.
type memoEntry struct {
	seq int64
	e   *audit.Entry
}

// add keeps committed entries, as far as the bound allows.
func (a *auditMemo) add(es []memoEntry) {
	if a == nil || len(es) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, me := range es {
		if len(a.m) >= maxMemo {
			return
		}
		a.m[me.seq] = me.e
	}
}

// get returns copies of the entries seqs (the pending ones, in order), or
// false if any is missing. When the memo is half full it first forgets
// the entries below the first pending one: they were numbered, by this
// process (drop did it) or by another that held the lease, and would
// otherwise stay until the bound stopped all further use.
func (a *auditMemo) get(seqs []int64) ([]*audit.Entry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(seqs) > 0 && len(a.m) >= maxMemo/2 {
		for s := range a.m {
			if s < seqs[0] {
				delete(a.m, s)
			}
		}
	}
	out := make([]*audit.Entry, len(seqs))
	for i, s := range seqs {
		e, ok := a.m[s]
		if !ok {
			return nil, false
		}
		c := *e
		out[i] = &c
	}
	return out, true
}

// drop forgets numbered entries.
func (a *auditMemo) drop(seqs []int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range seqs {
		delete(a.m, s)
	}
}
