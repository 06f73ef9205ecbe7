package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/s3test"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// useS3Replica points the rig's sequencer at a new bucket of srv instead
// of its file replica, and returns the bucket's URL.
func (r *auditRig) useS3Replica(t *testing.T, srv *s3test.Server, bucket string) string {
	t.Helper()
	u := srv.CreateBucket(t, bucket)
	rep, err := audit.OpenReplica(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	r.replica, r.repDir = rep, ""
	r.seq = audit.NewSequencer(r.DB.DB, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", Interval: time.Second})
	return u
}

// TestAuditS3Replica runs the audit pipeline against a real S3 server
// (versitygw), with the replica's own credentials from the environment:
// what ordinary writes record is shipped, the bucket alone verifies with
// the public key and agrees with the primary; an entry edited in the
// bucket is found at its index; while the server is down writes go on
// and shipping backs off, and when it returns the replica catches up and
// verifies identical (DATA-6, security-tests e.2).
func TestAuditS3Replica(t *testing.T) {
	srv := s3test.Start(t)
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		r := newAuditRig(t, backend)
		u := r.useS3Replica(t, srv, "audit-"+backend)
		owner := r.seed(t, 23)

		st := r.seq.Status()
		if st.Size == 0 || st.Replicated != st.Size || st.ShipErr != nil {
			t.Fatalf("status after shipping to S3: %+v", st)
		}
		rep := r.verify(t, true)
		if !rep.OK() || rep.Entries["primary"] != st.Size || rep.Entries["replica"] != st.Size {
			t.Fatalf("primary and S3 replica: %+v", rep)
		}
		alone, err := audit.Verify(ctx, r.verifier, r.replica)
		if err != nil || !alone.OK() || alone.Size != st.Size || alone.Root != rep.Root {
			t.Fatalf("the S3 replica alone: %+v, %v", alone, err)
		}

		// Tamper in the bucket, as someone holding its credentials: the
		// first entry of the second bundle gets another target.
		b, err := blob.OpenBucket(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var bundles []string
		it := b.List(&blob.ListOptions{Prefix: "entries/"})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(obj.Key, ".jsonl") {
				bundles = append(bundles, obj.Key)
			}
		}
		if len(bundles) < 3 {
			t.Fatalf("bundles in the bucket: %v", bundles)
		}
		key := bundles[1]
		orig, err := b.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitN(orig, []byte("\n"), 2)
		e, err := audit.ParseLeaf(lines[0])
		if err != nil {
			t.Fatal(err)
		}
		e.TargetID = "notes/forged"
		if err := b.WriteAll(ctx, key, append(append(e.Leaf(), '\n'), lines[1]...), nil); err != nil {
			t.Fatal(err)
		}
		alone, err = audit.Verify(ctx, r.verifier, r.replica)
		if err != nil {
			t.Fatal(err)
		}
		if p := alone.First(); p == nil || p.Index != e.Seq || p.Kind != audit.Edited {
			t.Fatalf("entry %d edited in the bucket: %v", e.Seq, alone.Problems)
		}
		if err := b.WriteAll(ctx, key, orig, nil); err != nil {
			t.Fatal(err)
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatalf("restored: %v", rep.Problems)
		}

		// Outage: the server stops. Writes go on; shipping fails, and
		// waits longer after each failure.
		srv.Stop(t)
		for i := 0; i < 30; i++ {
			if _, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("during outage ", i)}); err != nil {
				t.Fatalf("a write failed while S3 was down: %v", err)
			}
			if i%10 == 9 {
				r.Clock.Advance(20 * time.Second)
				r.step(t)
			}
		}
		st = r.seq.Status()
		if st.ShipErr == nil || st.LagEntries < 30 || st.Lag < 20*time.Second || len(r.seq.Warnings()) == 0 {
			t.Fatalf("outage not reported: %+v %v", st, r.seq.Warnings())
		}
		// Back, but the sequencer is still waiting out its backoff (the
		// fake clock has not moved): nothing is shipped yet.
		srv.Restart(t)
		r.step(t)
		if st := r.seq.Status(); st.LagEntries < 30 {
			t.Fatalf("shipped before the backoff ended: %+v", st)
		}
		for i := 0; i < 10 && r.seq.Status().LagEntries > 0; i++ {
			r.Clock.Advance(time.Minute)
			r.step(t)
		}
		if st := r.seq.Status(); st.LagEntries != 0 || st.ShipErr != nil || st.Lag != 0 {
			t.Fatalf("the S3 replica did not catch up: %+v", st)
		}
		rep = r.verify(t, true)
		if !rep.OK() || rep.Entries["replica"] != rep.Entries["primary"] {
			t.Fatalf("after catching up: %+v", rep)
		}
		alone, err = audit.Verify(ctx, r.verifier, r.replica)
		if err != nil || !alone.OK() || alone.Root != rep.Root {
			t.Fatalf("the S3 replica alone after catching up: %+v, %v", alone, err)
		}
	})
}
