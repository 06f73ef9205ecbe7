package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// BenchmarkAuditWrite measures what the audit log costs a writer: the
// same transaction (one row) with and without the audit entry beside it,
// on the real database, with concurrent writers (-cpu sets how many per
// core via RunParallel). The entry is the only difference.
//
//	go test ./internal/store -run '^$' -bench AuditWrite -benchtime 3s
func BenchmarkAuditWrite(b *testing.B) {
	for _, backend := range storetest.Backends {
		for _, withAudit := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/audit=%v", backend, withAudit), func(b *testing.B) {
				r := newAuditRigB(b, backend)
				ins := "INSERT INTO bench_rows (id, data) VALUES (?, ?)"
				aud := `INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, privileged, client, user_agent)
					VALUES (NULL, ?, 'user', 'u1', 'session', 'record.create', 'record', ?, '["title"]', 'success', 'req', ?, 'hmac-sha256:x', 'hmac-sha256:y')`
				priv := any(0)
				if backend == "postgres" {
					ins, aud, priv = rebind(ins), rebind(aud), false
				}
				var n atomic.Int64
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						tx, err := r.raw.Begin()
						if err != nil {
							b.Fatal(err)
						}
						if _, err := tx.Exec(ins, i, "payload"); err != nil {
							b.Fatal(err)
						}
						if withAudit {
							if _, err := tx.Exec(aud, time.Now().UnixMicro(), fmt.Sprint("bench/", i), priv); err != nil {
								b.Fatal(err)
							}
						}
						if err := tx.Commit(); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			})
		}
	}
}

// BenchmarkAuditSequencer measures how fast the sequencer numbers,
// hashes, signs and ships committed entries (entries/s).
func BenchmarkAuditSequencer(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) {
			r := newAuditRigB(b, backend)
			ctx := context.Background()
			owner, _ := r.Tenant(b, "acme")
			r.CreateCollection(owner, notes)
			r.seq.Step(ctx)
			const batch = 2000
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tx, _ := r.raw.Begin()
				// On SQLite the writer numbers entries as it inserts them
				// (audit_numbering.go); PostgreSQL leaves idx to the
				// sequencer, which ignores the value given here.
				q := `INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, privileged, client, user_agent, idx)
					VALUES (?, 0, 'user', 'u1', 'session', 'record.create', 'record', 'x', '["title"]', 'success', 'req', ?, '', '', ?)`
				priv := any(0)
				var next sql.NullInt64
				if backend == "postgres" {
					q, priv = rebind(q), false
				} else if err := tx.QueryRow("SELECT max(idx) + 1 FROM audit_log WHERE idx IS NOT NULL").Scan(&next); err != nil {
					b.Fatal(err)
				}
				for j := 0; j < batch; j++ {
					var idx any
					if backend == "sqlite" {
						idx = next.Int64 + int64(j)
					}
					if _, err := tx.Exec(q, bulwark.FromContext(owner).TenantID, priv, idx); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := r.seq.Step(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkAuditTenantSearch measures a tenant's first page of 50
// entries, newest first, a page 90 % of the way back, and an operator's
// search filtered on the tenant or on a time range, in a log of 64,000 integrated entries shared by
// 10 or 1,000 tenants in turn. On SQLite the search reads the tenant's
// blocks of 64 entries (audit_tenant) and skips the others' entries in
// them: with 1,000 tenants a block holds about one of the tenant's.
//
//	go test ./internal/store -run '^$' -bench AuditTenantSearch
func BenchmarkAuditTenantSearch(b *testing.B) {
	for _, backend := range storetest.Backends {
		for _, tenants := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/tenants=%d", backend, tenants), func(b *testing.B) {
				r := newAuditRigB(b, backend)
				owner, _ := r.Tenant(b, "acme")
				const total = 64000
				fillAuditLog(b, r, bulwark.FromContext(owner).TenantID, total, tenants)
				// The first page, and one deep in the tenant's entries: the
				// cursor of the page 90 % of the way back.
				deep := ""
				for seen := 0; seen < total/tenants*9/10; seen += 50 {
					_, next, err := r.SearchAudit(owner, bulwark.AuditFilter{Limit: 50, Cursor: deep})
					if err != nil {
						b.Fatal(err)
					}
					deep = next
				}
				for _, page := range []struct{ name, cursor string }{{"first", ""}, {"deep", deep}} {
					b.Run(page.name, func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							es, _, err := r.SearchAudit(owner, bulwark.AuditFilter{Limit: 50, Cursor: page.cursor})
							if err != nil || len(es) == 0 {
								b.Fatalf("%d entries, %v", len(es), err)
							}
						}
					})
				}
				// An operator's cross-tenant search filtered on the tenant
				// (each search also writes its own audit entry).
				sec := bulwark.NewContext(context.Background(), &bulwark.Principal{Kind: bulwark.KindOperator, ID: "op-sec",
					OperatorRoles: []bulwark.OperatorRole{bulwark.OperatorSecurity}})
				// And with a time range, near the end of the log and near its
				// start (an entry's time is its position, in µs).
				for _, c := range []struct {
					name string
					f    bulwark.AuditFilter
				}{
					{"operator", bulwark.AuditFilter{Tenant: bulwark.FromContext(owner).TenantID}},
					{"operator-recent", bulwark.AuditFilter{Since: time.UnixMicro(total - 6400)}},
					{"operator-old", bulwark.AuditFilter{Since: time.UnixMicro(3200), Until: time.UnixMicro(6400)}},
				} {
					c.f.Limit = 50
					b.Run(c.name, func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							es, _, err := r.SearchAllAudit(sec, c.f)
							if err != nil || len(es) == 0 {
								b.Fatalf("%d entries, %v", len(es), err)
							}
						}
					})
				}
			})
		}
	}
}

// fillAuditLog inserts total entries, tenant acme's every tenants-th and
// other tenants' between, and has the sequencer integrate them all.
func fillAuditLog(b *testing.B, r *auditRig, acme string, total, tenants int) {
	b.Helper()
	q := `INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, actor_how, action, target_kind, target_id, fields, outcome, request_id, privileged, client, user_agent, idx)
		VALUES (?, ?, 'user', 'u1', 'session', 'record.create', 'record', 'x', '["title"]', 'success', 'req', ?, '', '', ?)`
	priv := any(0)
	var next sql.NullInt64
	tx, _ := r.raw.Begin()
	if r.Backend == "postgres" {
		q, priv = rebind(q), false
	} else if err := tx.QueryRow("SELECT coalesce(max(idx) + 1, 0) FROM audit_log WHERE idx IS NOT NULL").Scan(&next); err != nil {
		b.Fatal(err)
	}
	for j := 0; j < total; j++ {
		tenant := acme
		if j%tenants != 0 {
			tenant = fmt.Sprint("other-", j%tenants)
		}
		var idx any
		if r.Backend == "sqlite" {
			idx = next.Int64 + int64(j)
		}
		if _, err := tx.Exec(q, tenant, int64(j), priv, idx); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for {
		if err := r.seq.Step(context.Background()); err != nil {
			b.Fatal(err)
		}
		if st := r.seq.Status(); st.Pending == 0 {
			return
		}
	}
}

// BenchmarkAuditVerifyPrimary measures `bulwark audit verify`'s work on
// the primary (every entry re-encoded and hashed against the stored tree,
// every checkpoint's signature and root), and a tenant's export (its
// entries with an inclusion proof each), over a log of 64,000 entries.
//
//	go test ./internal/store -run '^$' -bench AuditVerifyPrimary -benchtime 3x
func BenchmarkAuditVerifyPrimary(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) {
			r := newAuditRigB(b, backend)
			owner, _ := r.Tenant(b, "acme")
			const total, tenants = 64000, 10
			fillAuditLog(b, r, bulwark.FromContext(owner).TenantID, total, tenants)
			b.Run("verify", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rep, err := audit.Verify(context.Background(), r.verifier, r.AuditSource())
					if err != nil || !rep.OK() {
						b.Fatalf("%v %v", err, rep)
					}
				}
				b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "entries/s")
			})
			b.Run("export", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if err := r.ExportAudit(owner, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(total/tenants*b.N)/b.Elapsed().Seconds(), "proofs/s")
			})
		})
	}
}

func rebind(q string) string {
	out, n := "", 0
	for _, c := range q {
		if c == '?' {
			n++
			out += fmt.Sprintf("$%d", n)
			continue
		}
		out += string(c)
	}
	return out
}

func newAuditRigB(b *testing.B, backend string) *auditRig {
	r := newAuditRig(b, backend)
	if _, err := r.raw.Exec("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, data TEXT NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	if backend == "sqlite" {
		// The application's own settings for the write connection.
		r.raw.Exec("PRAGMA journal_mode=wal")
		r.raw.Exec("PRAGMA synchronous=full")
		r.raw.SetMaxOpenConns(1)
	}
	return r
}
