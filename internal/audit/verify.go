package audit

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is one copy of the log: the primary database or a replica.
type Source interface {
	// Name says which copy this is, for reports.
	Name() string
	// Checkpoints returns the signed checkpoints the copy holds, as stored.
	Checkpoints(ctx context.Context) ([][]byte, error)
	// Size is the number of leaf positions the copy claims to hold.
	Size(ctx context.Context) (int64, error)
	// Leaves calls fn for every index in [0, size) in order. leaf is nil
	// where the entry is missing; claimed is the leaf hash the copy stored
	// separately from the entry (the tree's level-0 hash), nil if none.
	Leaves(ctx context.Context, size int64, fn func(idx int64, leaf []byte, claimed *tlog.Hash) error) error
}

// Inspector is a Source that also finds, besides its entries, what no
// writer of the log writes (kind Malformed): a replica's objects, the
// primary's rows. Verify reports them.
type Inspector interface {
	Malformed(ctx context.Context) ([]Problem, error)
}

// Problem kinds.
const (
	Edited       = "edited"        // an entry's content changed
	Missing      = "missing"       // an entry was removed
	Reordered    = "reordered"     // entries were moved to other positions
	Truncated    = "truncated"     // the tail of the log was removed
	Forked       = "forked"        // two signed checkpoints disagree: a split view
	BadSignature = "bad-signature" // a checkpoint that the key did not sign
	HashAltered  = "hash-altered"  // a stored tree hash changed, entries intact
	Malformed    = "malformed"     // an object or row of the copy that no writer of the log writes (Object names it)
)

// Problem is one verification failure.
type Problem struct {
	Source string
	Index  int64
	Kind   string
	Detail string
	// Notes holds the signed checkpoints that prove a fork.
	Notes [][]byte
	// Object names what is at fault when it is not an entry: an object
	// of a replica, a row of the primary.
	Object string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: index %d: %s: %s", p.Source, p.Index, p.Kind, p.Detail)
}

// Report is the result of a verification.
type Report struct {
	// Checkpoints counts the valid signed checkpoints seen.
	Checkpoints int
	// Size and Root are those of the largest valid checkpoint.
	Size int64
	Root tlog.Hash
	// Entries is the number of entries each source holds, by name.
	Entries map[string]int64
	// Problems, first index first. Empty means everything verified.
	Problems []Problem
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First returns the problem with the lowest index.
func (r *Report) First() *Problem {
	if len(r.Problems) == 0 {
		return nil
	}
	return &r.Problems[0]
}

type checkpointFrom struct {
	*Checkpoint
	source string
}

// maxMismatches bounds the per-entry detail a report keeps: the first bad
// index is what matters, and a wholesale rewrite should not exhaust memory.
const maxMismatches = 1000

// Verify checks one or more copies of the log against the public key:
// every checkpoint signature; that checkpoints of the same size agree
// (else a fork, with both notes as proof); that every entry hashes to what
// the tree holds and that the tree built from the entries has, at the size
// of every checkpoint, the root that checkpoint signed (so successive
// checkpoints are consistent: each is a prefix of the same tree); that no
// entry is missing, moved, or cut from the tail. The first source is the
// one whose truncation is judged against every source's checkpoints (the
// primary); the others may lag behind it, which is not a fault.
func Verify(ctx context.Context, v *Verifier, sources ...Source) (*Report, error) {
	r := &Report{Entries: map[string]int64{}}
	var cps []checkpointFrom
	for _, s := range sources {
		notes, err := s.Checkpoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: read checkpoints: %w", s.Name(), err)
		}
		for _, n := range notes {
			cp, err := v.Open(n)
			if err != nil {
				r.Problems = append(r.Problems, Problem{Source: s.Name(), Index: claimedSize(n), Kind: BadSignature,
					Detail: err.Error(), Notes: [][]byte{n}})
				continue
			}
			cps = append(cps, checkpointFrom{cp, s.Name()})
		}
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	bySize := map[int64]checkpointFrom{}
	forkedSizes := map[int64]bool{}
	var sizes []int64
	for _, cp := range cps {
		prev, ok := bySize[cp.Size]
		if !ok {
			bySize[cp.Size] = cp
			sizes = append(sizes, cp.Size)
			continue
		}
		if prev.Root != cp.Root && !forkedSizes[cp.Size] {
			forkedSizes[cp.Size] = true
			r.Problems = append(r.Problems, Problem{Source: cp.source, Index: cp.Size, Kind: Forked,
				Detail: fmt.Sprintf("two checkpoints of size %d signed with different roots (%s in %s, %s in %s): a split view", cp.Size, prev.Root, prev.source, cp.Root, cp.source),
				Notes:  [][]byte{prev.Note, cp.Note}})
		}
	}
	r.Checkpoints = len(cps)
	if len(cps) > 0 {
		last := cps[len(cps)-1]
		r.Size, r.Root = last.Size, last.Root
	}
	for i, s := range sources {
		size, err := s.Size(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		// The primary must hold everything any copy has signed; a replica
		// only what it has signed itself.
		var own []checkpointFrom
		for _, cp := range cps {
			if i == 0 || cp.source == s.Name() {
				own = append(own, cp)
			}
		}
		if len(own) > 0 && own[len(own)-1].Size > size {
			cp := own[len(own)-1]
			r.Problems = append(r.Problems, Problem{Source: s.Name(), Index: size, Kind: Truncated,
				Detail: fmt.Sprintf("holds %d entries but a checkpoint (from %s) signed %d", size, cp.source, cp.Size), Notes: [][]byte{cp.Note}})
		}
		sc, err := scan(ctx, s, size, cps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		r.Entries[s.Name()] = sc.present
		r.Problems = append(r.Problems, sc.problems(s.Name(), cps, forkedSizes)...)
		if in, ok := s.(Inspector); ok {
			bad, err := in.Malformed(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name(), err)
			}
			r.Problems = append(r.Problems, bad...)
		}
	}
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Index < r.Problems[j].Index })
	return r, nil
}

// claimedSize reads the size line of a checkpoint that did not verify, so
// the report can still say which one it was; -1 if unreadable.
func claimedSize(note []byte) int64 {
	lines := bytes.SplitN(note, []byte("\n"), 3)
	if len(lines) < 2 {
		return -1
	}
	n, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

type mismatch struct {
	idx     int64
	entry   *Entry // parsed leaf, nil if it did not parse
	leaf    []byte
	actual  tlog.Hash
	claimed tlog.Hash
}

type scanResult struct {
	size, present int64
	// firstTailMissing is where the run of missing entries reaching the
	// end starts (== size if the last entry is present).
	firstTailMissing int64
	missing          []int64
	misplaced        []Problem // leaves whose own seq is not their position
	mismatches       []mismatch
	actual, claimed  map[int64]tlog.Hash // roots at checkpoint sizes
	// explained is the root at each checkpoint size of the tree as the
	// per-entry problems explain it: each mismatching leaf counted with
	// the side (its entry's hash or the stored one) judged authentic.
	// A checkpoint whose root it gives is wrong only because of them; one
	// whose root it does not give shows another change (entries rewritten
	// with their stored hashes), which no other problem may hide.
	explained map[int64]tlog.Hash
	// right tells, for the range of entries that each checkpoint size
	// ends, whether the entries are the authentic side of its mismatches.
	right      map[int64]bool
	claimedAll map[int64]tlog.Hash // claimed leaf hashes of mismatches' partners
}

func scan(ctx context.Context, s Source, size int64, cps []checkpointFrom) (*scanResult, error) {
	sc := &scanResult{size: size, firstTailMissing: size, actual: map[int64]tlog.Hash{}, claimed: map[int64]tlog.Hash{},
		explained: map[int64]tlog.Hash{}, right: map[int64]bool{}}
	// fa follows the entries' hashes, fc the stored ones. xa and xc
	// follow the explained tree (scanResult.explained): equal to fa until
	// the first mismatch (diverged), then xa; within a checkpoint's range
	// that holds a mismatch (split), xa takes the entries' hashes and xc
	// the stored ones, and at the checkpoint the side it judges authentic
	// is kept.
	var fa, fc, xa, xc Frontier
	diverged, split := false, false
	appendLeaf := func(h, c tlog.Hash, mismatch bool) {
		if mismatch && !diverged {
			diverged, xa = true, fa.clone()
		}
		if mismatch && !split {
			split, xc = true, xa.clone()
		}
		if diverged {
			xa.Append(h)
		}
		if split {
			xc.Append(c)
		}
		fa.Append(h)
		fc.Append(c)
	}
	next := 0
	record := func() {
		for next < len(cps) && cps[next].Size <= fa.Size() {
			cp := cps[next]
			next++
			if _, seen := sc.actual[cp.Size]; cp.Size != fa.Size() || seen {
				continue // of two checkpoints of a size, the first judges
			}
			a := fa.Root()
			x := a
			if diverged {
				x = xa.Root()
			}
			// The entries are the authentic side if they give the root,
			// as they are or as the problems before explain them.
			right := a == cp.Root || x == cp.Root
			if split {
				if !right {
					xa = xc // the stored hashes are
				}
				split, x = false, xa.Root()
			}
			sc.actual[cp.Size], sc.claimed[cp.Size] = a, fc.Root()
			sc.explained[cp.Size], sc.right[cp.Size] = x, right
		}
	}
	record()
	inTail := false
	err := s.Leaves(ctx, size, func(idx int64, leaf []byte, claimed *tlog.Hash) error {
		if idx != fa.Size() {
			return fmt.Errorf("source gave index %d, want %d", idx, fa.Size())
		}
		if leaf == nil {
			if !inTail {
				inTail, sc.firstTailMissing = true, idx
			}
			if claimed == nil {
				// Without the entry or its hash the tree cannot be
				// followed further; what came before is still judged.
				return errStop
			}
			appendLeaf(*claimed, *claimed, false)
			record()
			return nil
		}
		if inTail {
			// The missing run did not reach the end: those were holes.
			for i := sc.firstTailMissing; i < idx; i++ {
				sc.missing = append(sc.missing, i)
			}
			inTail, sc.firstTailMissing = false, size
		}
		sc.present++
		h := tlog.RecordHash(leaf)
		e, perr := ParseLeaf(leaf)
		if perr == nil && e.Seq != idx && len(sc.misplaced) < maxMismatches {
			sc.misplaced = append(sc.misplaced, Problem{Index: idx, Kind: Reordered,
				Detail: fmt.Sprintf("position %d holds the entry numbered %d", idx, e.Seq)})
		}
		c := h
		if claimed != nil {
			c = *claimed
		}
		bad := c != h || perr != nil
		if bad && len(sc.mismatches) < maxMismatches {
			sc.mismatches = append(sc.mismatches, mismatch{idx: idx, entry: e, leaf: leaf, actual: h, claimed: c})
		}
		appendLeaf(h, c, bad)
		record()
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	if !inTail {
		sc.firstTailMissing = size
	}
	return sc, nil
}

var errStop = fmt.Errorf("stop")

func (sc *scanResult) problems(src string, cps []checkpointFrom, forked map[int64]bool) []Problem {
	var out []Problem
	add := func(p Problem) {
		p.Source = src
		out = append(out, p)
	}
	for _, i := range sc.missing {
		add(Problem{Index: i, Kind: Missing, Detail: "the entry is gone; the tree still holds its hash"})
	}
	if sc.firstTailMissing < sc.size {
		add(Problem{Index: sc.firstTailMissing, Kind: Truncated,
			Detail: fmt.Sprintf("entries %d to %d are gone", sc.firstTailMissing, sc.size-1)})
	}
	for _, p := range sc.misplaced {
		add(p)
	}
	// Two mismatching positions whose entries hash right at each other's
	// position were swapped, not edited.
	swapped := map[int64]int64{}
	for a := range sc.mismatches {
		ma := sc.mismatches[a]
		if ma.entry == nil {
			continue
		}
		for b := range sc.mismatches {
			mb := sc.mismatches[b]
			if a == b || mb.entry == nil {
				continue
			}
			moved := *ma.entry
			moved.Seq = mb.idx
			if moved.Hash() == mb.claimed {
				swapped[ma.idx] = mb.idx
				break
			}
		}
	}
	for _, m := range sc.mismatches {
		// The first checkpoint covering the entry tells which side is
		// authentic: if the entries still give its root (as they are,
		// or as the problems before it explain them), only the stored
		// hash changed.
		entryRight := false
		for _, cp := range cps {
			if cp.Size > m.idx {
				entryRight = sc.right[cp.Size]
				break
			}
		}
		switch {
		case m.entry == nil:
			add(Problem{Index: m.idx, Kind: Edited, Detail: "the stored entry is not a valid canonical leaf"})
		case entryRight:
			add(Problem{Index: m.idx, Kind: HashAltered,
				Detail: fmt.Sprintf("the stored tree hash %s was changed; the entry (hash %s) agrees with the signed checkpoint", m.claimed, m.actual)})
		case hasKey(swapped, m.idx):
			add(Problem{Index: m.idx, Kind: Reordered,
				Detail: fmt.Sprintf("position %d holds the entry that the tree has at %d", m.idx, swapped[m.idx])})
		default:
			add(Problem{Index: m.idx, Kind: Edited,
				Detail: fmt.Sprintf("the entry hashes to %s but the tree holds %s", m.actual, m.claimed)})
		}
	}
	// Checkpoints: each must sign the root of the entries at its size, or
	// the root they would give but for the problems found above: those
	// explain it. Only these: another problem, wherever it is, must not
	// hide entries rewritten together with their stored hashes.
	agrees := func(cp checkpointFrom) bool {
		a, ok := sc.actual[cp.Size]
		return ok && (a == cp.Root || sc.explained[cp.Size] == cp.Root)
	}
	prevGood := int64(0)
	for i, cp := range cps {
		actual, ok := sc.actual[cp.Size]
		if !ok {
			continue // beyond what this source holds
		}
		if agrees(cp) {
			prevGood = cp.Size
			continue
		}
		if forked[cp.Size] {
			continue // already reported with both notes
		}
		// The entries are intact up to here as far as the stored hashes
		// and the problems above tell, yet this checkpoint signed another
		// root. If a later checkpoint agrees with the entries, this one
		// is a fork: the log showed someone a tree that it later did not
		// extend.
		var later *checkpointFrom
		for j := i + 1; j < len(cps); j++ {
			if agrees(cps[j]) {
				later = &cps[j]
				break
			}
		}
		if later != nil {
			add(Problem{Index: cp.Size, Kind: Forked,
				Detail: fmt.Sprintf("the checkpoint of size %d (from %s) signed root %s, but the checkpoint of size %d (from %s) signs a tree whose first %d entries have root %s: not an append-only history",
					cp.Size, cp.source, cp.Root, later.Size, later.source, cp.Size, actual),
				Notes: [][]byte{cp.Note, later.Note}})
			continue
		}
		if sc.claimed[cp.Size] == actual {
			add(Problem{Index: prevGood, Kind: Edited,
				Detail: fmt.Sprintf("entries between %d and %d were changed together with the stored tree hashes: the checkpoint of size %d (from %s) signed %s, the entries give %s",
					prevGood, cp.Size-1, cp.Size, cp.source, cp.Root, actual), Notes: [][]byte{cp.Note}})
		} else {
			add(Problem{Index: prevGood, Kind: Edited,
				Detail: fmt.Sprintf("entries between %d and %d do not give the root that the checkpoint of size %d (from %s) signed",
					prevGood, cp.Size-1, cp.Size, cp.source), Notes: [][]byte{cp.Note}})
		}
		break
	}
	return out
}

func hasKey(m map[int64]int64, k int64) bool { _, ok := m[k]; return ok }
