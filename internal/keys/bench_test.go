package keys_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/keys/keystest"
)

// Benchmarks for docs/performance.md: the cost of sealing and opening one
// field value, and of one blind index tag, by value size.
//
//	go test -run '^$' -bench . -benchmem ./internal/keys

var sizes = []int{16, 256, 4096}

func benchKeys(b *testing.B) *keys.TenantKeys {
	r, _ := keystest.Ring(b, "production", nil)
	d, i, err := r.NewTenant(ctx, "t")
	if err != nil {
		b.Fatal(err)
	}
	k, err := r.Tenant(ctx, d, i)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

var bind = keys.Binding{Collection: "0196f0a0-0000-7000-8000-000000000000", Field: "email", Record: "0196f0a0-0000-7000-8000-000000000001"}

func BenchmarkSeal(b *testing.B) {
	k := benchKeys(b)
	for _, n := range sizes {
		v := bytes.Repeat([]byte("x"), n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := k.Seal(v, bind); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	k := benchKeys(b)
	for _, n := range sizes {
		ct, _ := k.Seal(bytes.Repeat([]byte("x"), n), bind)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := k.Open(ct, bind); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	k := benchKeys(b)
	v := []byte("s:ada.lovelace@example.com")
	for b.Loop() {
		if _, err := k.BlindIndex(bind.Collection, bind.Field, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTenantCached is the per-transaction cost of finding a tenant's
// keys when they are cached (the common case: no keeper call).
func BenchmarkTenantCached(b *testing.B) {
	r, _ := keystest.Ring(b, "production", nil)
	d, i, _ := r.NewTenant(ctx, "t")
	for b.Loop() {
		if _, err := r.Tenant(ctx, d, i); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnwrap is a cache miss with the local KEK file: two unwraps.
func BenchmarkUnwrap(b *testing.B) {
	kek := keystest.FileKeeper(b)
	r, _ := keys.NewRing(kek, keys.RingOptions{Env: "production", TTL: -1})
	d, i, _ := r.NewTenant(ctx, "t")
	for b.Loop() {
		if _, err := r.Tenant(ctx, d, i); err != nil {
			b.Fatal(err)
		}
	}
}
