package audit

import (
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// Frontier is the right edge of a Merkle tree: the roots of its maximal
// complete subtrees, left to right. It is all a verifier needs to follow a
// log of any length in constant memory and to compute the root hash at
// every size it passes, with the same result as tlog.TreeHash.
type Frontier struct {
	n      int64
	hashes []tlog.Hash
	levels []int
}

// Size is the number of leaves appended.
func (f *Frontier) Size() int64 { return f.n }

// Append adds a leaf hash.
func (f *Frontier) Append(h tlog.Hash) {
	f.hashes = append(f.hashes, h)
	f.levels = append(f.levels, 0)
	for k := len(f.hashes); k >= 2 && f.levels[k-1] == f.levels[k-2]; k = len(f.hashes) {
		f.hashes[k-2] = tlog.NodeHash(f.hashes[k-2], f.hashes[k-1])
		f.levels[k-2]++
		f.hashes, f.levels = f.hashes[:k-1], f.levels[:k-1]
	}
	f.n++
}

// clone returns a copy that appends independently of f.
func (f *Frontier) clone() Frontier {
	return Frontier{n: f.n, hashes: slices.Clone(f.hashes), levels: slices.Clone(f.levels)}
}

// Root is the tree hash of the leaves appended so far (the zero hash for
// an empty tree, as in tlog).
func (f *Frontier) Root() tlog.Hash {
	if len(f.hashes) == 0 {
		return tlog.Hash{}
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}

// MemoryHashes is a tlog hash storage in memory, for tests, for proofs over
// an export, and for consistency proofs between checkpoints.
type MemoryHashes []tlog.Hash

// ReadHashes implements tlog.HashReader.
func (m *MemoryHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(*m)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

// AppendLeafHash adds the record with leaf hash h as record n = Size().
func (m *MemoryHashes) AppendLeafHash(h tlog.Hash) error {
	n := m.Size()
	hs, err := tlog.StoredHashesForRecordHash(n, h, m)
	if err != nil {
		return err
	}
	*m = append(*m, hs...)
	return nil
}

// Size is the number of records stored.
func (m *MemoryHashes) Size() int64 {
	// StoredHashCount is monotonic; find n with StoredHashCount(n) == len.
	lo, hi := int64(0), int64(len(*m))+1
	for lo < hi {
		mid := (lo + hi) / 2
		if tlog.StoredHashCount(mid) < int64(len(*m)) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// FrontierIndexes lists the stored-hash indexes that the next record of a
// tree of size n combines with: the roots of the complete subtrees on the
// right edge. A sequencer keeps exactly these in memory between batches.
func FrontierIndexes(n int64) []int64 {
	var out []int64
	for level := 0; n>>level > 0; level++ {
		if (n>>level)&1 == 1 {
			out = append(out, tlog.StoredHashIndex(level, (n>>level)-1))
		}
	}
	return out
}
