//go:build benchhook

package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Built only with -tags benchhook (see docs/performance.md): the server
// can leave audit entries out, so that `bulwark bench` measures what the
// entry costs a write over HTTP. A server started with
// BULWARK_BENCH_SKIP_AUDIT=1 writes none; SIGUSR1 switches the entries
// off and SIGUSR2 on again, which is how the bench's create-noaudit
// scenario runs side by side with create in one server. No normal build
// contains this file.
const benchHook = true

func init() {
	if os.Getenv("BULWARK_BENCH_SKIP_AUDIT") == "1" {
		store.SetSkipAuditForBenchmark(true)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sig {
			store.SetSkipAuditForBenchmark(s == syscall.SIGUSR1)
		}
	}()
}

// setServerAudit switches the audit entries of the bench's server off or
// on. The warm-up before each scenario gives the signal time to land.
func setServerAudit(p *os.Process, on bool) error {
	if on {
		return p.Signal(syscall.SIGUSR2)
	}
	return p.Signal(syscall.SIGUSR1)
}
