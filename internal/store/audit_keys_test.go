package store_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestAuditKeyRotation: checkpoints signed by successive keys (a
// rotation of the signing key between them) verify, primary and replica
// alone, and in a tenant's export, when the verifier is given every key;
// without the retired key, the first checkpoint it signed fails as
// bad-signature at its index.
func TestAuditKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 6)
		// The first checkpoint the old key signed: the smallest size.
		first := int64(-1)
		old, _ := r.replica.Checkpoints(context.Background())
		for _, n := range old {
			cp, err := r.verifier.Open(n)
			if err != nil {
				t.Fatal(err)
			}
			if first < 0 || cp.Size < first {
				first = cp.Size
			}
		}
		if first <= 0 {
			t.Fatal("no checkpoint before the rotation")
		}

		next, _, _, err := audit.GenerateSigner("bulwark.test/audit")
		if err != nil {
			t.Fatal(err)
		}
		noErr(t, r.RecordAuditKeyRotation(storetest.System(context.Background()), next.PublicKey(), r.signer.PublicKey()))
		both, err := audit.NewVerifier(next.PublicKey(), r.signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		// The sequencer checks the replica's newest checkpoint, signed by
		// the retired key, before it signs: without that key it signs
		// nothing; serve gives it every key.
		r.seq = audit.NewSequencer(r.DB.DB, next, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", Interval: time.Second})
		if err := r.seq.Step(context.Background()); err == nil || r.seq.Status().Pending == 0 {
			t.Fatalf("signed without checking the replica's checkpoint: %v, %+v", err, r.seq.Status())
		}
		r.seq = audit.NewSequencer(r.DB.DB, next, r.replica, audit.Options{Now: r.Clock.Now, Holder: "test", Interval: time.Second, Verifier: both})
		for i := 0; i < 4; i++ {
			_, err := r.CreateRecord(owner, "notes", map[string]any{"title": fmt.Sprint("after", i)})
			noErr(t, err)
		}
		r.step(t)

		onlyNew, _ := audit.NewVerifier(next.PublicKey())
		for _, withReplica := range []bool{false, true} {
			srcs := []audit.Source{r.AuditSource()}
			if withReplica {
				srcs = append(srcs, r.replica)
			}
			rep, err := audit.Verify(context.Background(), both, srcs...)
			if err != nil || !rep.OK() {
				t.Fatalf("with both keys: %v %v", err, rep.Problems)
			}
			rep, err = audit.Verify(context.Background(), onlyNew, srcs...)
			if err != nil || rep.OK() || rep.First().Kind != audit.BadSignature || rep.First().Index != first {
				t.Fatalf("without the retired key: %v %+v", err, rep.First())
			}
		}
		// The replica alone, as an auditor holding the key list has it.
		rep, err := audit.Verify(context.Background(), both, r.replica)
		if err != nil || !rep.OK() || rep.Size <= first {
			t.Fatalf("replica alone: %v %+v", err, rep)
		}

		// The rotation is itself an entry.
		r.step(t)
		var rotations int
		for _, e := range r.auditRows(t) {
			if e["action"] == "audit.rotate_key" && e["tenant"] == "" {
				rotations++
			}
		}
		if rotations != 1 {
			t.Fatalf("%d audit.rotate_key entries", rotations)
		}

		// An export signed by the new key verifies with the list.
		var exp bytes.Buffer
		noErr(t, r.ExportAudit(owner, &exp))
		if _, err := audit.VerifyExport(bytes.NewReader(exp.Bytes()), both); err != nil {
			t.Fatal(err)
		}
		oldOnly, _ := audit.NewVerifier(r.signer.PublicKey())
		if _, err := audit.VerifyExport(bytes.NewReader(exp.Bytes()), oldOnly); err == nil {
			t.Fatal("an export signed by the new key verified with the retired key alone")
		}

		// Only operators with the admin role, or the command line, rotate.
		wantCode(t, r.RecordAuditKeyRotation(owner, next.PublicKey(), r.signer.PublicKey()), bulwark.EForbidden)
		wantCode(t, r.RecordAuditKeyRotation(storetest.System(context.Background()), "garbage", r.signer.PublicKey()), bulwark.EInvalid)
	})
}

// TestAuditLeaseRelease: a sequencer that stops cleanly gives up its
// lease, so the next one takes over at once (a restarted serve signs
// without waiting out the lease); releasing someone else's lease does
// nothing.
func TestAuditLeaseRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 2)
		next := audit.NewSequencer(r.DB.DB, r.signer, r.replica, audit.Options{Now: r.Clock.Now, Holder: "next"})
		noErr(t, next.Release(context.Background())) // not the holder: no effect
		next.Step(context.Background())
		if next.Status().Leader {
			t.Fatal("took a held lease")
		}
		noErr(t, r.seq.Release(context.Background()))
		_, err := r.CreateRecord(owner, "notes", map[string]any{"title": "x"})
		noErr(t, err)
		next.Step(context.Background()) // the same instant: no lease expiry
		if st := next.Status(); !st.Leader || st.Pending != 0 {
			t.Fatalf("after the release: %+v", st)
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}
