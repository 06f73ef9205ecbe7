// Package keystest has test helpers for envelope encryption: a keeper
// that fails on demand (a KMS outage) and a ring on a temporary KEK file.
package keystest

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/keys"
)

// ErrOutage is what a Faulty keeper returns while it is down.
var ErrOutage = errors.New("keystest: injected KMS outage")

// Faulty wraps a keeper and fails every call while Down is set, as a KMS
// that does not answer. Calls counts the calls that reached it.
type Faulty struct {
	keys.Keeper
	Down  atomic.Bool
	Calls atomic.Int64
}

func (f *Faulty) EncryptWithContext(ctx context.Context, pt, ad []byte) ([]byte, error) {
	f.Calls.Add(1)
	if f.Down.Load() {
		return nil, ErrOutage
	}
	return f.Keeper.EncryptWithContext(ctx, pt, ad)
}

func (f *Faulty) DecryptWithContext(ctx context.Context, ct, ad []byte) ([]byte, error) {
	f.Calls.Add(1)
	if f.Down.Load() {
		return nil, ErrOutage
	}
	return f.Keeper.DecryptWithContext(ctx, ct, ad)
}

// RotateKEK and RetireKEK pass through when the inner keeper rotates.
func (f *Faulty) RotateKEK(ctx context.Context) error {
	if f.Down.Load() {
		return ErrOutage
	}
	if r, ok := f.Keeper.(keys.Rotator); ok {
		return r.RotateKEK(ctx)
	}
	return nil
}

func (f *Faulty) RetireKEK(ctx context.Context) error {
	if f.Down.Load() {
		return ErrOutage
	}
	if r, ok := f.Keeper.(keys.Rotator); ok {
		return r.RetireKEK(ctx)
	}
	return nil
}

// VersionOf passes through when the inner keeper rotates; otherwise, as
// RotateKEK does nothing then, every ciphertext is the inner keeper's
// current version.
func (f *Faulty) VersionOf(ct []byte) (string, bool) {
	if r, ok := f.Keeper.(keys.Rotator); ok {
		return r.VersionOf(ct)
	}
	return f.Keeper.KeyID(), true
}

// FileKeeper returns a keeper on a fresh KEK file in a temporary directory.
func FileKeeper(t testing.TB) *keys.FileKeeper {
	t.Helper()
	k, err := keys.OpenFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Ring returns a ring in env over a Faulty keeper on a fresh KEK file.
// now may be nil (time.Now).
func Ring(t testing.TB, env string, now func() time.Time) (*keys.Ring, *Faulty) {
	t.Helper()
	f := &Faulty{Keeper: FileKeeper(t)}
	r, err := keys.NewRing(f, keys.RingOptions{Env: env, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}
