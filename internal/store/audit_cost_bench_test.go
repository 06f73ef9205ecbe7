//go:build benchhook

package store_test

import (
	"fmt"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// BenchmarkAuditCost measures what the audit entry costs a record create
// on the real write path (authentication aside): CreateRecord on a
// collection of three plain and two sealed fields, 64 concurrent writers,
// with and without the entry (the only difference; the switch exists only
// in builds with -tags benchhook).
//
//	go test -tags benchhook ./internal/store -run '^$' -bench AuditCost -benchtime 3s -count 3
func BenchmarkAuditCost(b *testing.B) {
	c := bulwark.Collection{Name: "items", Fields: []bulwark.Field{
		{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal},
		{Name: "qty", Type: bulwark.TypeNumber, Classification: bulwark.ClassInternal},
		{Name: "done", Type: bulwark.TypeBool, Classification: bulwark.ClassInternal},
		{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal},
		{Name: "note", Type: bulwark.TypeText, Classification: bulwark.ClassConfidential},
	}}
	for _, backend := range storetest.Backends {
		for _, withAudit := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/audit=%v", backend, withAudit), func(b *testing.B) {
				f := storetest.NewFixture(b, backend)
				ctx, _ := f.Tenant(b, "acme")
				if _, err := f.CreateCollection(ctx, c); err != nil {
					b.Fatal(err)
				}
				store.SetSkipAuditForBenchmark(!withAudit)
				defer store.SetSkipAuditForBenchmark(false)
				b.SetParallelism(32)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := f.CreateRecord(ctx, "items", map[string]any{"title": "t", "qty": 3, "done": false,
							"email": "ada@example.com", "note": "confidential"}); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			})
		}
	}
}
