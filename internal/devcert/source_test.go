package devcert_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/devcert"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// A running server renews its leaf without a restart.
func TestSourceRenewsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: t0}
	src, err := devcert.NewSource(dir, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	var renewed int
	src.OnRenew = func(*devcert.Cert) { renewed++ }
	first, _ := src.GetCertificate(nil)

	clk.Advance(300 * 24 * time.Hour)
	same, _ := src.GetCertificate(nil)
	if !bytes.Equal(same.Certificate[0], first.Certificate[0]) || renewed != 0 {
		t.Fatal("renewed long before expiry")
	}

	clk.Advance(70 * 24 * time.Hour) // 27 days left
	next, _ := src.GetCertificate(nil)
	if bytes.Equal(next.Certificate[0], first.Certificate[0]) || renewed != 1 {
		t.Fatalf("not renewed 27 days before expiry (renewals %d)", renewed)
	}
	if src.Current().CAFingerprint == "" || !bytes.Equal(next.Certificate[1], first.Certificate[1]) {
		t.Error("renewal changed the CA")
	}
	// The renewed leaf is on disk for the next start.
	onDisk, err := devcert.Ensure(dir, clk.Now())
	if err != nil || len(onDisk.Created) != 0 || !bytes.Equal(onDisk.TLS.Certificate[0], next.Certificate[0]) {
		t.Errorf("renewed leaf not reused from disk: %v %v", err, onDisk.Created)
	}
}

// When renewal fails, the current certificate is still served and the
// failure reported, at most once a minute.
func TestSourceKeepsServingWhenRenewalFails(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: t0}
	src, err := devcert.NewSource(dir, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	var failures int
	src.OnError = func(error) { failures++ }
	first, _ := src.GetCertificate(nil)
	os.Remove(filepath.Join(dir, devcert.CAKeyFile)) // renewal now fails

	clk.Advance(380 * 24 * time.Hour)
	for range 5 {
		got, err := src.GetCertificate(nil)
		if err != nil || !bytes.Equal(got.Certificate[0], first.Certificate[0]) {
			t.Fatalf("GetCertificate: %v", err)
		}
	}
	if failures != 1 {
		t.Errorf("%d failures reported, want 1 (retries are spaced)", failures)
	}
	clk.Advance(2 * time.Minute)
	src.GetCertificate(nil)
	if failures != 2 {
		t.Errorf("%d failures reported after a minute, want 2", failures)
	}
}
