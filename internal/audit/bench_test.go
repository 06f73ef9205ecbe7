package audit

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkVerify measures verification speed: entries per second for a
// log checked against its signed checkpoints (go test -bench Verify).
func BenchmarkVerify(b *testing.B) {
	s, _, _, _ := GenerateSigner("bulwark.bench/audit")
	v, _ := NewVerifier(s.PublicKey())
	const n = 100_000
	m := buildLog(&testing.T{}, s, n, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Verify(context.Background(), v, m)
		if err != nil || !r.OK() {
			b.Fatal(err, r.Problems)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func benchTree(b *testing.B, n int64) *MemoryHashes {
	var m MemoryHashes
	for i := int64(0); i < n; i++ {
		m.AppendLeafHash(testEntry(i).Hash())
	}
	return &m
}

// BenchmarkProve and BenchmarkCheckProof: an inclusion proof in a tree of
// a million entries, as an export carries one per entry.
func BenchmarkProve(b *testing.B) {
	m := benchTree(b, 1_000_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tlog.ProveRecord(1_000_000, int64(i*7919)%1_000_000, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckProof(b *testing.B) {
	m := benchTree(b, 1_000_000)
	root, _ := tlog.TreeHash(1_000_000, m)
	p, _ := tlog.ProveRecord(1_000_000, 123_456, m)
	h := testEntry(123_456).Hash()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tlog.CheckRecord(p, 1_000_000, root, 123_456, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplicaPutBundle ships bundles of 5,000 entries of the size a
// record create writes (575 bytes) to a file:// replica, as the server's
// default replica is opened.
//
//	go test -run '^$' -bench ReplicaPutBundle -benchtime 40x ./internal/audit
func BenchmarkReplicaPutBundle(b *testing.B) {
	r, err := OpenReplica(context.Background(), "file://"+b.TempDir()+"?metadata=skip")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const n = 5000
	leaves, hashes := make([][]byte, n), make([]tlog.Hash, n)
	for i := range leaves {
		leaves[i] = bytes.Repeat([]byte{'a'}, 575)
		hashes[i] = tlog.RecordHash(leaves[i])
	}
	start := int64(0)
	for b.Loop() {
		if err := r.PutBundle(context.Background(), start, leaves, hashes); err != nil {
			b.Fatal(err)
		}
		start += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
