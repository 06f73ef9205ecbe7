package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/bulwarkhq/bulwark/internal/s3test"
)

// TestReplicaDrivers is the replica's conformance suite, run on every
// driver a deployment may configure: the file driver and S3, against a
// real S3 server (versitygw), in the URL form docs/audit.md gives for
// S3-compatible servers (with the CRC32 checksums off, under a prefix)
// and with the AWS SDK's default checksums.
func TestReplicaDrivers(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		testReplica(t, "file://"+filepath.Join(t.TempDir(), "replica")+"?create_dir=1&metadata=skip")
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		t.Run("documented", func(t *testing.T) {
			srv.CreateBucket(t, "audit-documented")
			testReplica(t, srv.URL("audit-documented", url.Values{"prefix": {"audit/"}}))
		})
		t.Run("sdk-default-checksums", func(t *testing.T) {
			srv.CreateBucket(t, "audit-default")
			u := "s3://audit-default?" + url.Values{"endpoint": {srv.Endpoint()}, "use_path_style": {"true"}, "region": {"us-east-1"}}.Encode()
			testReplica(t, u)
		})
	})
}

// testReplica ships a log to the replica at u in bundles and checkpoints,
// as the sequencer does (with one bundle large enough for a multipart
// upload, and one shipped twice, as a retry does), reads it back, verifies
// it alone and against the original, and edits one stored object through
// the bucket: verification then names that entry.
func testReplica(t *testing.T, u string) {
	ctx := context.Background()
	s, _, _, err := GenerateSigner("bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(s.PublicKey())
	r, err := OpenReplica(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// Empty: no checkpoint is not an error, and nothing verifies.
	if cp, err := r.Latest(ctx); err != nil || cp != nil {
		t.Fatalf("empty replica: latest %q, %v", cp, err)
	}
	if n, err := r.Size(ctx); err != nil || n != 0 {
		t.Fatalf("empty replica: size %d, %v", n, err)
	}

	// The log: 23 small entries shipped five at a time, then 3,000 of
	// ~6 KiB in one bundle (~18 MiB: over the 16 MiB from which the AWS
	// SDK's transfer manager uploads in parts).
	primary := &memSource{name: "primary"}
	var f Frontier
	var last *Checkpoint
	ship := func(n int, pad int) {
		t.Helper()
		start := int64(len(primary.leaves))
		var leaves [][]byte
		var hashes []tlog.Hash
		for i := start; i < start+int64(n); i++ {
			e := testEntry(i)
			e.TargetID += strings.Repeat("x", pad)
			l := e.Leaf()
			h := tlog.RecordHash(l)
			leaves, hashes = append(leaves, l), append(hashes, h)
			f.Append(h)
		}
		if err := r.PutBundle(ctx, start, leaves, hashes); err != nil {
			t.Fatalf("put bundle at %d: %v", start, err)
		}
		cp, err := s.Sign(f.Size(), f.Root())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.PutCheckpoint(ctx, cp); err != nil {
			t.Fatalf("put checkpoint %d: %v", cp.Size, err)
		}
		primary.leaves = append(primary.leaves, leaves...)
		primary.claimed = append(primary.claimed, hashes...)
		primary.cps = append(primary.cps, cp.Note)
		last = cp
	}
	for shipped := 0; shipped < 23; shipped += 5 {
		ship(min(5, 23-shipped), 0)
	}
	// A retry ships the same range again, with the same bytes.
	if err := r.PutBundle(ctx, 10, primary.leaves[10:15], primary.claimed[10:15]); err != nil {
		t.Fatal(err)
	}
	ship(3000, 6<<10)
	size := int64(len(primary.leaves))

	if cp, err := r.Latest(ctx); err != nil || !bytes.Equal(cp, last.Note) {
		t.Fatalf("latest checkpoint: %q, %v", cp, err)
	}
	if cps, err := r.Checkpoints(ctx); err != nil || len(cps) != len(primary.cps) {
		t.Fatalf("checkpoints: %d, %v; want %d", len(cps), err, len(primary.cps))
	}
	if n, err := r.Size(ctx); err != nil || n != size {
		t.Fatalf("size %d, %v; want %d", n, err, size)
	}
	i := int64(0)
	err = r.Leaves(ctx, size, func(idx int64, l []byte, claimed *tlog.Hash) error {
		if idx != i || !bytes.Equal(l, primary.leaves[idx]) || claimed == nil || *claimed != primary.claimed[idx] {
			t.Fatalf("leaf %d (at %d) differs from what was shipped", idx, i)
		}
		i++
		return nil
	})
	if err != nil || i != size {
		t.Fatalf("leaves: %d read, %v", i, err)
	}
	rep, err := Verify(ctx, v, r)
	if err != nil || !rep.OK() || rep.Size != size || rep.Entries["replica"] != size {
		t.Fatalf("the replica alone: %+v, %v", rep, err)
	}
	both, err := Verify(ctx, v, primary, r)
	if err != nil || !both.OK() || both.Root != rep.Root {
		t.Fatalf("primary and replica: %+v, %v", both, err)
	}

	// Write-once: what was shipped is never replaced by other bytes,
	// neither a range of entries (rewritten in the database, then shipped
	// again) nor a checkpoint of a size already shipped; the latest
	// checkpoint never moves back.
	forged := append([][]byte(nil), primary.leaves[10:15]...)
	fe := testEntry(12)
	fe.TargetID = "notes/forged"
	forged[2] = fe.Leaf()
	forgedHashes := append([]tlog.Hash(nil), primary.claimed[10:15]...)
	forgedHashes[2] = tlog.RecordHash(forged[2])
	if err := r.PutBundle(ctx, 10, forged, forgedHashes); !errors.Is(err, ErrReplicaConflict) {
		t.Fatalf("re-shipping entries 10-15 with entry 12 rewritten: %v, want ErrReplicaConflict", err)
	}
	if err := r.PutBundle(ctx, 10, forged, primary.claimed[10:15]); !errors.Is(err, ErrReplicaConflict) {
		t.Fatalf("re-shipping entries 10-15 with entry 12 rewritten, hashes kept: %v, want ErrReplicaConflict", err)
	}
	var f2 Frontier
	for _, h := range primary.claimed[:10] {
		f2.Append(h)
	}
	f2.Append(tlog.RecordHash(forged[0]))
	f2.Append(tlog.RecordHash(forged[1]))
	f2.Append(tlog.RecordHash(forged[2]))
	f2.Append(tlog.RecordHash(forged[3]))
	f2.Append(tlog.RecordHash(forged[4]))
	resigned, err := s.Sign(15, f2.Root())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PutCheckpoint(ctx, resigned); !errors.Is(err, ErrReplicaConflict) {
		t.Fatalf("shipping another checkpoint of size 15: %v, want ErrReplicaConflict", err)
	}
	earlier, _ := v.Open(primary.cps[1])
	if err := r.PutCheckpoint(ctx, earlier); err != nil {
		t.Fatalf("shipping the checkpoint of size %d again: %v", earlier.Size, err)
	}
	if cp, err := r.Latest(ctx); err != nil || !bytes.Equal(cp, last.Note) {
		t.Fatalf("the latest checkpoint moved back to %q (%v), want size %d", cp, err, last.Size)
	}
	if rep, err := Verify(ctx, v, primary, r); err != nil || !rep.OK() || rep.Root != both.Root {
		t.Fatalf("after the refused rewrites: %+v, %v", rep, err)
	}

	// Tamper on the storage side, through the bucket (another client of
	// the same URL): entry 7 of the bundle 5-10 gets another target.
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key := bundleName(5, 10, "jsonl")
	orig, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
	e, err := ParseLeaf(lines[2])
	if err != nil || e.Seq != 7 {
		t.Fatalf("line 3 of %s: %+v, %v", key, e, err)
	}
	e.TargetID = "notes/forged"
	lines[2] = e.Leaf()
	if err := b.WriteAll(ctx, key, append(bytes.Join(lines, []byte("\n")), '\n'), nil); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, v, r)
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.First(); p == nil || p.Index != 7 || p.Kind != Edited {
		t.Fatalf("after editing entry 7 in the bucket: %v", rep.Problems)
	}
	if err := b.WriteAll(ctx, key, orig, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(ctx, v, primary, r); err != nil || !rep.OK() {
		t.Fatalf("restored: %+v, %v", rep, err)
	}
}

// TestFileReplicaOutsideTempDir: a file:// replica publishes each object by
// renaming a temporary file, and a rename fails across filesystems, so its
// temporary files must be beside the objects, not in os.TempDir (the
// default replica is in the data directory, which is seldom on /tmp's
// filesystem). Here os.TempDir cannot be written at all, as if it were
// elsewhere; shipping must work anyway. A temporary file left by a write
// that was cut off is no checkpoint.
func TestFileReplicaOutsideTempDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "replica")
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "no-such-dir"))
	s, _, _, err := GenerateSigner("bulwark.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReplica(ctx, "file://"+dir+"?create_dir=1&metadata=skip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var f Frontier
	leaf := testEntry(0).Leaf()
	f.Append(tlog.RecordHash(leaf))
	cp, err := s.Sign(f.Size(), f.Root())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PutBundle(ctx, 0, [][]byte{leaf}, []tlog.Hash{tlog.RecordHash(leaf)}); err != nil {
		t.Fatalf("ship a bundle with os.TempDir unusable: %v", err)
	}
	if err := r.PutCheckpoint(ctx, cp); err != nil {
		t.Fatalf("ship a checkpoint with os.TempDir unusable: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoints", "00000000000000000002.18b2c3d4e5f6.tmp"), []byte("half a checkp"), 0o644); err != nil {
		t.Fatal(err)
	}
	cps, err := r.Checkpoints(ctx)
	if err != nil || len(cps) != 1 || !bytes.Equal(cps[0], cp.Note) {
		t.Fatalf("checkpoints %q, %v: want only the one shipped", cps, err)
	}
}

// TestReplicaPutAborts: an object whose content could not all be written
// is not created (a bundle cut short must never look shipped).
func TestReplicaPutAborts(t *testing.T) {
	ctx := context.Background()
	r, err := OpenReplica(ctx, "file://"+filepath.Join(t.TempDir(), "replica")+"?create_dir=1&metadata=skip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	boom := errors.New("cut off")
	err = r.put(ctx, "entries/x.jsonl", 64<<10, func(w *bufio.Writer) error {
		w.Write(bytes.Repeat([]byte("a"), 200<<10)) // more than the buffer: some reaches the file
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("put = %v, want the fill's error", err)
	}
	if ok, err := r.bucket.Exists(ctx, "entries/x.jsonl"); err != nil || ok {
		t.Fatalf("the cut-off object exists: %v, %v", ok, err)
	}
}

// TestReplicaBundleNames: whoever can write to the replica's bucket adds
// empty objects whose names claim impossible ranges of entries (a range of
// 2^62, one longer than any shipment, numbers past int64, an end before
// the start, a name not in the shipped form). Verifying the replica must
// not panic or allocate by what a name claims: each such object is a
// problem naming it, and the entries actually shipped still verify.
func TestReplicaBundleNames(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := GenerateSigner("bulwark.test/audit")
	v, _ := NewVerifier(s.PublicKey())
	r, err := OpenReplica(ctx, "file://"+filepath.Join(t.TempDir(), "replica")+"?create_dir=1&metadata=skip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := buildLog(t, s, 20, 10)
	if err := r.PutBundle(ctx, 0, m.leaves[:10], m.claimed[:10]); err != nil {
		t.Fatal(err)
	}
	if err := r.PutBundle(ctx, 10, m.leaves[10:], m.claimed[10:]); err != nil {
		t.Fatal(err)
	}
	for _, n := range m.cps {
		cp, _ := v.Open(n)
		if err := r.PutCheckpoint(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := Verify(ctx, v, r); err != nil || !rep.OK() {
		t.Fatalf("before: %+v, %v", rep, err)
	}
	for _, name := range []string{
		bundleName(0, 1<<62, "jsonl"),
		bundleName(10, 1<<62, "jsonl"),
		bundleName(20, 20+maxBundle+1, "jsonl"),
		"entries/00000000000000000000-99999999999999999999.jsonl",
		bundleName(15, 12, "jsonl"),
		"entries/0-30.jsonl",
	} {
		t.Run(strings.TrimPrefix(name, "entries/"), func(t *testing.T) {
			if err := r.bucket.WriteAll(ctx, name, nil, nil); err != nil {
				t.Fatal(err)
			}
			defer r.bucket.Delete(ctx, name)
			var rep *Report
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("verifying a replica holding %s panics: %v", name, p)
					}
				}()
				rep, err = Verify(ctx, v, r)
			}()
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if len(rep.Problems) != 1 || rep.Problems[0].Kind != Malformed || rep.Problems[0].Object != name {
				t.Fatalf("problems %v, want one %s naming %s", rep.Problems, Malformed, name)
			}
			if rep.Size != 20 || rep.Entries["replica"] != 20 {
				t.Fatalf("the entries shipped are no longer verified: %+v", rep)
			}
		})
	}
	// The writer keeps to the bound the reader enforces.
	big := make([][]byte, maxBundle+1)
	if err := r.PutBundle(ctx, 20, big, make([]tlog.Hash, len(big))); err == nil {
		t.Fatal("shipped a bundle longer than a reader accepts")
	}
}
