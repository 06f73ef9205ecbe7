package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// BenchmarkAuditClientSeal measures what sealing an entry's client
// address and user agent under the tenant's key costs a record write: the
// same write, alternating in one run, without request client fields
// (nothing to seal) and with them (the tenant's keys read, one AES-GCM
// seal of both).
//
//	go test ./internal/store -run '^$' -bench AuditClientSeal -benchtime 2000x
func BenchmarkAuditClientSeal(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) {
			f := storetest.NewFixture(b, backend)
			ctx, _ := f.Tenant(b, "acme")
			if _, err := f.CreateCollection(ctx, notes); err != nil {
				b.Fatal(err)
			}
			withClient := bulwark.WithRequestInfo(ctx, bulwark.RequestInfo{ID: "req", ClientIP: "203.0.113.9",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"})
			without := bulwark.WithRequestInfo(ctx, bulwark.RequestInfo{ID: "req"})
			var took [2]time.Duration
			i := 0
			for b.Loop() {
				i++
				for k, cx := range []context.Context{without, withClient} {
					start := time.Now()
					_, err := f.CreateRecord(cx, "notes", map[string]any{"title": fmt.Sprint("t", i)})
					took[k] += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			p, s := float64(took[0])/float64(i), float64(took[1])/float64(i)
			b.ReportMetric(p, "ns/write-no-client")
			b.ReportMetric(s, "ns/write-sealed-client")
			b.ReportMetric(100*(s-p)/p, "%overhead")
		})
	}
}
