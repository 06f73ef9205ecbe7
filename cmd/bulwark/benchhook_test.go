//go:build benchhook

package main

import (
	"os"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// The bench's create-noaudit scenario relies on these signals reaching the
// switch (.ci/run runs this test with -tags benchhook).
func TestBenchHookSignalsSwitchAudit(t *testing.T) {
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.SetSkipAuditForBenchmark(false) })
	for _, on := range []bool{false, true, false, true} {
		if err := setServerAudit(self, on); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for store.SkippingAuditForBenchmark() == on {
			if time.Now().After(deadline) {
				t.Fatalf("audit on=%v: the switch did not follow the signal", on)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
