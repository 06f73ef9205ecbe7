package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func testEntry(i int64) *Entry {
	return &Entry{
		Seq: i, Time: time.Date(2026, 11, 1, 12, 0, 0, int(i)*1000, time.UTC), Tenant: "t1",
		ActorKind: "user", ActorID: "u1", ActorHow: "session", Action: "record.update",
		TargetKind: "record", TargetID: fmt.Sprintf("notes/r%d", i), Fields: []string{"title"},
		Outcome: "success", RequestID: "req", Client: "hmac-sha256:x", UserAgent: "",
	}
}

func TestLeafCanonical(t *testing.T) {
	e := testEntry(7)
	e.TargetID = "a<b>&\u2028\r\nc"
	l := e.Leaf()
	if bytes.ContainsAny(l, "\n\r") {
		t.Fatalf("leaf spans lines: %s", l)
	}
	// Keys sorted at every level, all present.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(l, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	d := json.NewDecoder(bytes.NewReader(l))
	d.Token()
	for d.More() {
		k, _ := d.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		d.Decode(&skip)
	}
	if !slices.IsSorted(keys) || len(keys) != 13 {
		t.Fatalf("keys %v: want 13, sorted", keys)
	}
	back, err := ParseLeaf(l)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Leaf(), l) {
		t.Fatal("round trip changed the leaf")
	}
	// A non-canonical rendering of the same data is refused.
	var pretty bytes.Buffer
	json.Indent(&pretty, l, "", " ")
	if _, err := ParseLeaf(pretty.Bytes()); err == nil {
		t.Fatal("non-canonical leaf accepted")
	}
	if _, err := ParseLeaf([]byte(strings.Replace(string(l), `"v":1`, `"v":1,"x":1`, 1))); err == nil {
		t.Fatal("leaf with an unknown member accepted")
	}
}

func TestFrontierMatchesTlog(t *testing.T) {
	var f Frontier
	var m MemoryHashes
	for i := int64(0); i < 300; i++ {
		h := tlog.RecordHash([]byte(fmt.Sprint(i)))
		f.Append(h)
		if err := m.AppendLeafHash(h); err != nil {
			t.Fatal(err)
		}
		want, err := tlog.TreeHash(i+1, &m)
		if err != nil {
			t.Fatal(err)
		}
		if f.Root() != want || m.Size() != i+1 {
			t.Fatalf("size %d: frontier root %s, tlog %s", i+1, f.Root(), want)
		}
		// The frontier indexes are enough to append the next record.
		var only MemoryHashes = make([]tlog.Hash, len(m))
		for _, x := range FrontierIndexes(i + 1) {
			only[x] = m[x]
		}
		a, _ := tlog.StoredHashes(i+1, []byte("next"), &m)
		b, err := tlog.StoredHashes(i+1, []byte("next"), &only)
		if err != nil || !slices.Equal(a, b) {
			t.Fatalf("size %d: frontier indexes insufficient: %v", i+1, err)
		}
	}
}

func TestCheckpointSignVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit-signing.key")
	s, err := LoadOrCreateSigner(path, "bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	s2, err := LoadOrCreateSigner(path, "ignored")
	if err != nil || s2.PublicKey() != s.PublicKey() {
		t.Fatal("the key was not kept across restarts")
	}
	if strings.Contains(fmt.Sprint(s), "PRIVATE") {
		t.Fatal("the signer prints its key")
	}
	root := tlog.RecordHash([]byte("x"))
	cp, err := s.Sign(5, root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Open(cp.Note)
	if err != nil || got.Size != 5 || got.Root != root {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// Tampered text, or another key: refused.
	bad := bytes.Replace(cp.Note, []byte("\n5\n"), []byte("\n6\n"), 1)
	if _, err := v.Open(bad); err == nil {
		t.Fatal("tampered checkpoint verified")
	}
	other, _, _, _ := GenerateSigner("bulwark.test/audit")
	cp2, _ := other.Sign(5, root)
	if _, err := v.Open(cp2.Note); err == nil {
		t.Fatal("checkpoint from an unknown key verified")
	}
}

func TestHMACSealer(t *testing.T) {
	s, _ := NewHMACSealer(bytes.Repeat([]byte{1}, 32))
	a, _ := s.Seal("t1", nil, "client", "203.0.113.9")
	b, _ := s.Seal("t2", nil, "client", "203.0.113.9")
	c, _ := s.Seal("t1", nil, "client", "203.0.113.9")
	if a == b || a != c || strings.Contains(a, "203.0.113.9") || !strings.HasPrefix(a, "hmac-sha256:") {
		t.Fatalf("seal: %q %q %q", a, b, c)
	}
	if e, _ := s.Seal("t1", nil, "client", ""); e != "" {
		t.Fatal("empty value sealed to something")
	}
	// A salt changes the key: without it the value cannot be recomputed.
	s1, _ := s.Seal("t1", bytes.Repeat([]byte{2}, 32), "client", "203.0.113.9")
	s2, _ := s.Seal("t1", bytes.Repeat([]byte{3}, 32), "client", "203.0.113.9")
	s3, _ := s.Seal("t1", bytes.Repeat([]byte{2}, 32), "client", "203.0.113.9")
	if s1 == a || s1 == s2 || s1 != s3 || !strings.HasPrefix(s1, "hmac-sha256:") {
		t.Fatalf("salted seal: %q %q %q (unsalted %q)", s1, s2, s3, a)
	}
}

// memSource is a log copy in memory, for tampering.
type memSource struct {
	name    string
	leaves  [][]byte // nil = missing
	claimed []tlog.Hash
	cps     [][]byte
}

func (m *memSource) Name() string                                  { return m.name }
func (m *memSource) Checkpoints(context.Context) ([][]byte, error) { return m.cps, nil }
func (m *memSource) Size(context.Context) (int64, error)           { return int64(len(m.claimed)), nil }
func (m *memSource) Leaves(_ context.Context, size int64, fn func(int64, []byte, *tlog.Hash) error) error {
	for i := int64(0); i < size; i++ {
		var l []byte
		if i < int64(len(m.leaves)) {
			l = m.leaves[i]
		}
		if err := fn(i, l, &m.claimed[i]); err != nil {
			return err
		}
	}
	return nil
}

// buildLog makes n entries with a checkpoint every step entries.
func buildLog(t *testing.T, s *Signer, n, step int) *memSource {
	m := &memSource{name: "primary"}
	var f Frontier
	for i := int64(0); i < int64(n); i++ {
		l := testEntry(i).Leaf()
		m.leaves = append(m.leaves, l)
		m.claimed = append(m.claimed, tlog.RecordHash(l))
		f.Append(tlog.RecordHash(l))
		if (i+1)%int64(step) == 0 || i == int64(n)-1 {
			cp, err := s.Sign(i+1, f.Root())
			if err != nil {
				t.Fatal(err)
			}
			m.cps = append(m.cps, cp.Note)
		}
	}
	return m
}

func TestVerifyDetectsTampering(t *testing.T) {
	s, _, _, _ := GenerateSigner("bulwark.test/audit")
	v, _ := NewVerifier(s.PublicKey())
	ctx := context.Background()
	check := func(name string, m *memSource, wantIdx int64, wantKind string) {
		t.Helper()
		r, err := Verify(ctx, v, m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := r.First()
		if wantKind == "" {
			if p != nil {
				t.Fatalf("%s: unexpected problem %v", name, p)
			}
			return
		}
		if p == nil || p.Index != wantIdx || p.Kind != wantKind {
			t.Fatalf("%s: first problem %v, want index %d %s (all: %v)", name, p, wantIdx, wantKind, r.Problems)
		}
	}
	check("intact", buildLog(t, s, 100, 10), 0, "")

	m := buildLog(t, s, 100, 10)
	e := testEntry(42)
	e.Action = "record.read"
	m.leaves[42] = e.Leaf()
	check("edit", m, 42, Edited)

	m = buildLog(t, s, 100, 10)
	m.leaves[42] = nil
	check("delete", m, 42, Missing)

	m = buildLog(t, s, 100, 10)
	a, b := testEntry(30), testEntry(31)
	a.Seq, b.Seq = 31, 30
	m.leaves[30], m.leaves[31] = b.Leaf(), a.Leaf()
	check("reorder by renumbering", m, 30, Reordered)

	m = buildLog(t, s, 100, 10)
	m.leaves[30], m.leaves[31] = m.leaves[31], m.leaves[30]
	check("reorder by moving", m, 30, Reordered)

	m = buildLog(t, s, 100, 10)
	m.leaves, m.claimed = m.leaves[:95], m.claimed[:95]
	check("truncate", m, 95, Truncated)

	// Entries and stored hashes rewritten together: the checkpoint
	// brackets it.
	m = buildLog(t, s, 100, 10)
	m.leaves[42] = e.Leaf()
	m.claimed[42] = tlog.RecordHash(e.Leaf())
	check("edit with hashes", m, 40, Edited)

	// A stored hash changed, entry intact.
	m = buildLog(t, s, 100, 10)
	m.claimed[42] = tlog.RecordHash([]byte("junk"))
	check("hash altered", m, 42, HashAltered)

	// A checkpoint replaced by one of the same size with another root,
	// signed with the real key (a misbehaving log).
	m = buildLog(t, s, 100, 10)
	fork, _ := s.Sign(50, tlog.RecordHash([]byte("other")))
	m.cps[4] = fork.Note
	r, _ := Verify(ctx, v, m)
	if p := r.First(); p == nil || p.Kind != Forked || p.Index != 50 || len(p.Notes) != 2 {
		t.Fatalf("fork: %v", r.Problems)
	}
	// Two copies disagreeing at the same size: both notes shown.
	m, rep := buildLog(t, s, 100, 10), buildLog(t, s, 100, 10)
	rep.name = "replica"
	rep.cps = append(rep.cps, fork.Note)
	r, _ = Verify(ctx, v, m, rep)
	if p := r.First(); p == nil || p.Kind != Forked || p.Index != 50 || len(p.Notes) != 2 {
		t.Fatalf("split view: %v", r.Problems)
	}
	// A checkpoint signed by another key.
	m = buildLog(t, s, 100, 10)
	other, _, _, _ := GenerateSigner("bulwark.test/audit")
	bad, _ := other.Sign(100, tlog.Hash{})
	m.cps = append(m.cps, bad.Note)
	check("unknown key", m, 100, BadSignature)
}

// TestVerifyEditBesideOtherProblems: entry 42 is rewritten together with
// its stored leaf hash, which only the checkpoint of size 50 shows (edited
// from 40, the checkpoint before it). Another, unrelated problem anywhere
// else in the log, before the edit or after it, in its checkpoint's range
// or not, must not hide it: the edit is still reported at 40, and the
// other problem at its own index.
func TestVerifyEditBesideOtherProblems(t *testing.T) {
	s, _, _, _ := GenerateSigner("bulwark.test/audit")
	v, _ := NewVerifier(s.PublicKey())
	rewritten := testEntry(42)
	rewritten.Action = "record.read"
	edited := func(i int64) []byte {
		e := testEntry(i)
		e.TargetID = "notes/forged"
		return e.Leaf()
	}
	junk := tlog.RecordHash([]byte("junk"))
	cases := []struct {
		name  string
		decoy func(m *memSource)
		index int64
		kind  string
	}{
		{"no other problem", func(*memSource) {}, -1, ""},
		{"a stored hash altered before it", func(m *memSource) { m.claimed[0] = junk }, 0, HashAltered},
		// Which side changed at 95 (entry or stored hash) is not told: the
		// checkpoint that would tell covers the rewrite too.
		{"a stored hash altered after it", func(m *memSource) { m.claimed[95] = junk }, 95, ""},
		{"an entry edited before it", func(m *memSource) { m.leaves[3] = edited(3) }, 3, Edited},
		{"an entry edited in its range", func(m *memSource) { m.leaves[45] = edited(45) }, 45, Edited},
		{"an entry edited after it", func(m *memSource) { m.leaves[77] = edited(77) }, 77, Edited},
		{"an entry deleted before it", func(m *memSource) { m.leaves[7] = nil }, 7, Missing},
		{"two entries swapped before it", func(m *memSource) { m.leaves[20], m.leaves[21] = m.leaves[21], m.leaves[20] }, 20, Reordered},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			m := buildLog(t, s, 100, 10)
			m.leaves[42] = rewritten.Leaf()
			m.claimed[42] = tlog.RecordHash(rewritten.Leaf())
			c.decoy(m)
			r, err := Verify(context.Background(), v, m)
			if err != nil {
				t.Fatal(err)
			}
			// kind "" is any kind.
			found := func(idx int64, kind string) bool {
				for _, p := range r.Problems {
					if p.Index == idx && (p.Kind == kind || kind == "") {
						return true
					}
				}
				return false
			}
			if !found(40, Edited) {
				t.Errorf("the rewrite of entry 42 is not reported as edited at 40: %v", r.Problems)
			}
			if c.index >= 0 && !found(c.index, c.kind) {
				t.Errorf("the other problem, %s at %d, is not reported: %v", c.kind, c.index, r.Problems)
			}
		})
	}
}

func TestExportRoundTrip(t *testing.T) {
	s, _, _, _ := GenerateSigner("bulwark.test/audit")
	v, _ := NewVerifier(s.PublicKey())
	var hs MemoryHashes
	var leaves [][]byte
	for i := int64(0); i < 37; i++ {
		e := testEntry(i)
		if i%3 == 0 {
			e.Tenant = "t2"
		}
		leaves = append(leaves, e.Leaf())
		hs.AppendLeafHash(tlog.RecordHash(e.Leaf()))
	}
	root, _ := tlog.TreeHash(37, &hs)
	cp, _ := s.Sign(37, root)
	write := func(mut func(i int64, leaf []byte) []byte) []byte {
		var b bytes.Buffer
		w := NewExportWriter(&b, "t1", cp)
		for i, l := range leaves {
			if i%3 == 0 {
				continue
			}
			p, err := tlog.ProveRecord(37, int64(i), &hs)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(int64(i), mut(int64(i), l), p); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		return b.Bytes()
	}
	rep, err := VerifyExport(bytes.NewReader(write(func(_ int64, l []byte) []byte { return l })), v)
	if err != nil || rep.Entries != 24 || rep.Tenant != "t1" {
		t.Fatalf("VerifyExport = %+v, %v", rep, err)
	}
	edited := write(func(i int64, l []byte) []byte {
		if i == 20 {
			return bytes.Replace(l, []byte("record.update"), []byte("record.delete"), 1)
		}
		return l
	})
	_, err = VerifyExport(bytes.NewReader(edited), v)
	var ee *ExportError
	if !errorsAs(err, &ee) || ee.Index != 20 {
		t.Fatalf("edited export: %v", err)
	}
}

func errorsAs(err error, target **ExportError) bool {
	e, ok := err.(*ExportError)
	if ok {
		*target = e
	}
	return ok
}
