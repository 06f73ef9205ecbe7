//go:build benchhook

package main

import (
	"os"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Built only with -tags benchhook (see docs/performance.md): a server
// started with BULWARK_BENCH_SKIP_AUDIT=1 writes no audit entries, so that
// `bulwark bench` can measure what the entry costs a write over HTTP. No
// normal build contains this file.
func init() {
	if os.Getenv("BULWARK_BENCH_SKIP_AUDIT") == "1" {
		store.SetSkipAuditForBenchmark(true)
	}
}
