//go:build benchhook

package store

import "sync/atomic"

// Built only with -tags benchhook, for BenchmarkAuditCost: a switch that
// leaves audit entries out, to measure what they cost on the real write
// path. Builds without the tag (every binary, every normal test run) have
// the constant in audit_nobenchhook.go instead, and no way to skip one.
var benchSkipAudit atomic.Bool

func skipAudit() bool { return benchSkipAudit.Load() }

// SetSkipAuditForBenchmark turns the switch (benchmarks only).
func SetSkipAuditForBenchmark(on bool) { benchSkipAudit.Store(on) }

// SkippingAuditForBenchmark reports the switch (benchmarks only).
func SkippingAuditForBenchmark() bool { return benchSkipAudit.Load() }
