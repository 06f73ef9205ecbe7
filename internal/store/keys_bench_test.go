package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// BenchmarkRecordWrite measures CreateRecord on a collection whose eight
// fields are all public or internal ("plain") and on the same collection
// with six of them sealed, one unique and one lookup ("sealed"), so the
// difference is what sealing adds to the write path (DATA-3; issue 3 asks
// for under 5%). Serial: one writer, every write its own durable commit.
// Parallel: concurrent writers, as a server has.
//
//	go test -run '^$' -bench BenchmarkRecordWrite -benchtime 2000x ./internal/store
func BenchmarkRecordWrite(b *testing.B) {
	plain := people
	plain.Name = "plain"
	plain.Fields = append([]bulwark.Field(nil), people.Fields...)
	for i := range plain.Fields {
		plain.Fields[i].Classification = bulwark.ClassInternal
	}
	for _, backend := range storetest.Backends {
		for _, c := range []bulwark.Collection{plain, people} {
			kind := map[string]string{"plain": "plain", "people": "sealed"}[c.Name]
			for _, mode := range []string{"serial", "parallel"} {
				b.Run(fmt.Sprintf("%s/%s/%s", backend, kind, mode), func(b *testing.B) {
					f := storetest.NewFixture(b, backend)
					ctx, _ := f.Tenant(b, "acme")
					if _, err := f.CreateCollection(ctx, c); err != nil {
						b.Fatal(err)
					}
					var n atomic.Int64
					write := func() {
						i := n.Add(1)
						_, err := f.CreateRecord(ctx, c.Name, map[string]any{
							"name": fmt.Sprintf("Person %d", i), "email": fmt.Sprintf("p%d@example.com", i),
							"ssn": fmt.Sprintf("%03d-%02d-%04d", i%1000, i%100, i%10000), "salary": float64(i),
							"notes": map[string]any{"k": "v"}, "vip": i%2 == 0, "team": "eng", "title": "Engineer",
						})
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					if mode == "serial" {
						for b.Loop() {
							write()
						}
						return
					}
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							write()
						}
					})
				})
			}
		}
	}
}

// BenchmarkRecordRead measures GetRecord, plain and sealed (six values
// opened per read).
//
//	go test -run '^$' -bench BenchmarkRecordRead ./internal/store
func BenchmarkRecordRead(b *testing.B) {
	plain := people
	plain.Name = "plain"
	plain.Fields = append([]bulwark.Field(nil), people.Fields...)
	for i := range plain.Fields {
		plain.Fields[i].Classification = bulwark.ClassInternal
	}
	for _, backend := range storetest.Backends {
		for _, c := range []bulwark.Collection{plain, people} {
			kind := map[string]string{"plain": "plain", "people": "sealed"}[c.Name]
			b.Run(backend+"/"+kind, func(b *testing.B) {
				f := storetest.NewFixture(b, backend)
				ctx, _ := f.Tenant(b, "acme")
				f.CreateCollection(ctx, c)
				r, err := f.CreateRecord(ctx, c.Name, map[string]any{"name": "Ada", "email": "ada@example.com", "ssn": "078-05-1120",
					"salary": 1.5, "notes": map[string]any{"k": "v"}, "vip": true, "team": "eng", "title": "Engineer"})
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := f.GetRecord(ctx, c.Name, r.ID); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSealOverhead writes a plain and a sealed record in turn, in the
// same store, and reports the mean time of each and the overhead of
// sealing. Alternating keeps the comparison fair on a busy or noisy
// machine (fsync times drift; both kinds drift together).
//
//	go test -run '^$' -bench BenchmarkSealOverhead -benchtime 2000x ./internal/store
func BenchmarkSealOverhead(b *testing.B) {
	plain := people
	plain.Name = "plain"
	plain.Fields = append([]bulwark.Field(nil), people.Fields...)
	for i := range plain.Fields {
		plain.Fields[i].Classification = bulwark.ClassInternal
	}
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) {
			f := storetest.NewFixture(b, backend)
			ctx, _ := f.Tenant(b, "acme")
			for _, c := range []bulwark.Collection{plain, people} {
				if _, err := f.CreateCollection(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			var took [2]time.Duration
			i := 0
			for b.Loop() {
				i++
				for k, c := range []string{"plain", "people"} {
					start := time.Now()
					_, err := f.CreateRecord(ctx, c, map[string]any{
						"name": fmt.Sprintf("Person %d", i), "email": fmt.Sprintf("p%d@example.com", i),
						"ssn": fmt.Sprintf("%03d-%02d-%04d", i%1000, i%100, i%10000), "salary": float64(i),
						"notes": map[string]any{"k": "v"}, "vip": i%2 == 0, "team": "eng", "title": "Engineer",
					})
					took[k] += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			p, s := float64(took[0])/float64(i), float64(took[1])/float64(i)
			b.ReportMetric(p, "ns/plain-write")
			b.ReportMetric(s, "ns/sealed-write")
			b.ReportMetric(100*(s-p)/p, "%overhead")
		})
	}
}
