package store_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestAuditClientSealedUnderTenantKey: a tenant entry's client address and
// user agent are stored as one value sealed under the tenant's data key;
// the tenant's readers see them opened; a sealed pair moved into another
// entry does not open; deleting the tenant destroys the key while the log
// still verifies (DATA-5, issue 4 item 9).
func TestAuditClientSealedUnderTenantKey(t *testing.T) {
	const (
		canaryIP = "198.51.100.23"
		canaryUA = "SealTestAgent/1.0"
	)
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 2)
		ri := bulwark.RequestInfo{ID: "req-seal", ClientIP: canaryIP, UserAgent: canaryUA}
		rec, err := r.CreateRecord(bulwark.WithRequestInfo(owner, ri), "notes", map[string]any{"title": "sealed"})
		noErr(t, err)
		// A second entry of another request, with nothing recorded.
		rec2, err := r.CreateRecord(owner, "notes", map[string]any{"title": "plain"})
		noErr(t, err)

		var stored string
		for _, e := range r.auditRows(t) {
			if e["request_id"] != "req-seal" {
				continue
			}
			if !strings.HasPrefix(e["client"], "aead:") || e["user_agent"] != "" || e["tenant"] == "" {
				t.Fatalf("tenant entry not sealed as one AEAD value: %v", e)
			}
			stored = e["client"]
		}
		if stored == "" {
			t.Fatal("no entry of the request")
		}

		find := func(target string) *bulwark.AuditEntry {
			t.Helper()
			es, _, err := r.SearchAudit(owner, bulwark.AuditFilter{Target: target, Action: "record.create"})
			noErr(t, err)
			if len(es) != 1 {
				t.Fatalf("%d entries for %s", len(es), target)
			}
			return es[0]
		}
		if e := find("notes/" + rec.ID); e.Client != canaryIP || e.UserAgent != canaryUA {
			t.Fatalf("the tenant's reader does not see the opened values: %+v", e)
		}
		if e := find("notes/" + rec2.ID); e.Client != "" || e.UserAgent != "" {
			t.Fatalf("an entry without client fields shows some: %+v", e)
		}

		// Moved into another entry (another request id and time), the
		// sealed pair does not open: the associated data binds it.
		r.exec(t, "UPDATE audit_log SET client = "+r.ph(1)+" WHERE target_id = "+r.ph(2), stored, "notes/"+rec2.ID)
		if e := find("notes/" + rec2.ID); e.Client != "" || e.UserAgent != "" {
			t.Fatalf("a moved sealed pair opened: %+v", e)
		}
		r.exec(t, "UPDATE audit_log SET client = '' WHERE target_id = "+r.ph(1), "notes/"+rec2.ID)

		// Rotating the data key and re-sealing every record does not
		// retire the key that sealed the entry: entries cannot be
		// re-sealed, so their values keep opening.
		sys := storetest.System(context.Background())
		slug := bulwark.FromContext(owner).TenantSlug
		_, err = r.RotateTenantKey(sys, slug)
		noErr(t, err)
		noErr(t, r.Reseal(sys, slug, nil))
		if e := find("notes/" + rec.ID); e.Client != canaryIP || e.UserAgent != canaryUA {
			t.Fatalf("after rotation and re-seal the entry no longer opens: %+v", e)
		}

		// Deleting the tenant destroys its keys; the entries stay as stored
		// and the log, primary and replica, still verifies.
		r.step(t)
		tenantID := bulwark.FromContext(owner).TenantID
		noErr(t, r.DeleteTenant(sys, slug))
		r.step(t)
		var keysLeft int
		if err := r.raw.QueryRow("SELECT count(*) FROM tenant_keys WHERE tenant_id = "+r.ph(1), tenantID).Scan(&keysLeft); err != nil {
			t.Fatal(err)
		}
		if keysLeft != 0 {
			t.Fatalf("%d keysets of the deleted tenant remain", keysLeft)
		}
		still := false
		for _, e := range r.auditRows(t) {
			if e["request_id"] == "req-seal" && e["client"] == stored {
				still = true
			}
		}
		if !still {
			t.Fatal("the sealed entry is gone")
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}

// TestAuditClientSealDuringKMSOutage: while the KMS does not answer and
// the tenant's keys are not cached, a write that needs no tenant key still
// succeeds; its entry's client fields fall back to the deployment HMAC
// (never clear), and the tenant key is used again once the KMS is back.
func TestAuditClientSealDuringKMSOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		owner := r.seed(t, 1)
		p := bulwark.FromContext(owner)
		r.DB.Keys.Forget(p.TenantID)
		r.DB.KMS.Down.Store(true)
		ri := bulwark.RequestInfo{ID: "req-outage", ClientIP: "198.51.100.77", UserAgent: "OutageAgent/1.0"}
		_, err := r.CreateRecord(bulwark.WithRequestInfo(owner, ri), "notes", map[string]any{"title": "during the outage"})
		noErr(t, err)
		r.DB.KMS.Down.Store(false)
		ri.ID = "req-after"
		_, err = r.CreateRecord(bulwark.WithRequestInfo(owner, ri), "notes", map[string]any{"title": "after"})
		noErr(t, err)
		// The fallback HMAC depends on the tenant's salt: with the
		// deployment key alone it cannot be recomputed from a guess.
		var salt []byte
		if err := r.raw.QueryRow("SELECT salt FROM audit_seal_salts WHERE tenant_id = "+r.ph(1), p.TenantID).Scan(&salt); err != nil {
			t.Fatalf("the tenant's audit salt: %v", err)
		}
		sealer, _ := audit.NewHMACSealer(bytes.Repeat([]byte{7}, 32)) // newAuditRig's
		salted, _ := sealer.Seal(p.TenantID, salt, "client", ri.ClientIP)
		unsalted, _ := sealer.Seal(p.TenantID, nil, "client", ri.ClientIP)
		seen := 0
		for _, e := range r.auditRows(t) {
			switch e["request_id"] {
			case "req-outage":
				seen++
				if !strings.HasPrefix(e["client"], "hmac-sha256:") || !strings.HasPrefix(e["user_agent"], "hmac-sha256:") {
					t.Fatalf("during the outage: %v", e)
				}
				if e["client"] != salted || e["client"] == unsalted {
					t.Fatalf("during the outage the client is %q: want the salted HMAC %q", e["client"], salted)
				}
			case "req-after":
				seen++
				if !strings.HasPrefix(e["client"], "aead:") {
					t.Fatalf("after the outage: %v", e)
				}
			}
		}
		if seen != 2 {
			t.Fatalf("%d entries of the two requests", seen)
		}

		// Deleting the tenant deletes the salt: the HMACs are shredded
		// with its keys, and the log still verifies.
		r.step(t)
		noErr(t, r.DeleteTenant(storetest.System(context.Background()), p.TenantSlug))
		r.step(t)
		var left int
		if err := r.raw.QueryRow("SELECT count(*) FROM audit_seal_salts WHERE tenant_id = "+r.ph(1), p.TenantID).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatal("the deleted tenant's audit salt remains")
		}
		if rep := r.verify(t, true); !rep.OK() {
			t.Fatal(rep.Problems)
		}
	})
}
