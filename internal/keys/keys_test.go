package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/keys/keystest"
)

var ctx = context.Background()

func wantCode(t *testing.T, err error, code bulwark.Code) {
	t.Helper()
	if got := bulwark.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// tenantKeys makes a tenant in r and opens its keys.
func tenantKeys(t *testing.T, r *keys.Ring, tenant string) (*keys.TenantKeys, keys.Wrapped, keys.Wrapped) {
	t.Helper()
	d, i, err := r.NewTenant(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.Tenant(ctx, d, i)
	if err != nil {
		t.Fatal(err)
	}
	return k, d, i
}

func TestFileKeeper(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.json")
	k, err := keys.OpenKeeper(ctx, "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("a new KEK file has mode %04o, want 0600", fi.Mode().Perm())
	}
	ct, err := k.EncryptWithContext(ctx, []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	// A second start reuses the file and its key.
	k2, err := keys.OpenKeeper(ctx, "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.DecryptWithContext(ctx, ct, []byte("ad")); err != nil || string(pt) != "keyset" {
		t.Fatalf("reopened KEK: %q, %v", pt, err)
	}
	if _, err := k2.DecryptWithContext(ctx, ct, []byte("other")); !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("wrong associated data: %v, want ErrOpen", err)
	}
	// Looser permissions: refused, not fixed.
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		os.Chmod(path, mode)
		_, err := keys.OpenKeeper(ctx, "file://"+path)
		wantCode(t, err, bulwark.EFailedPrecondition)
		if !strings.Contains(err.Error(), "0600") {
			t.Errorf("mode %04o: the error does not say what to do: %v", mode, err)
		}
		// A running keeper refuses too, at its next use.
		if _, err := k2.DecryptWithContext(ctx, ct, []byte("ad")); bulwark.ErrorCode(err) != bulwark.EFailedPrecondition {
			t.Errorf("mode %04o: a running keeper still decrypts: %v", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	// A directory, a relative path, a bad URL, an unknown scheme.
	os.Mkdir(filepath.Join(dir, "d"), 0o700)
	_, err = keys.OpenFile(filepath.Join(dir, "d"))
	wantCode(t, err, bulwark.EFailedPrecondition)
	_, err = keys.OpenFile("kek.json")
	wantCode(t, err, bulwark.EInvalid)
	_, err = keys.OpenKeeper(ctx, "file://host/kek.json")
	wantCode(t, err, bulwark.EInvalid)
	_, err = keys.OpenKeeper(ctx, "s3://bucket/kek")
	wantCode(t, err, bulwark.EInvalid)
	// Not a keyset.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"not":"a keyset"}`), 0o600)
	_, err = keys.OpenFile(bad)
	wantCode(t, err, bulwark.EFailedPrecondition)
}

// TestKMSKeepersNeedBuildTags: the default binary names the build tag to
// use instead of failing obscurely.
func TestKMSKeepersNeedBuildTags(t *testing.T) {
	for _, u := range []string{
		"awskms://arn:aws:kms:eu-west-1:111122223333:key/abcd",
		"gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
		"hcvault://vault.example:8200/transit/keys/bulwark",
	} {
		_, err := keys.OpenKeeper(ctx, u)
		if err == nil {
			continue // built with the tag
		}
		wantCode(t, err, bulwark.EFailedPrecondition)
		if !strings.Contains(err.Error(), "-tags") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestConcurrentFirstStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	var wg sync.WaitGroup
	ks := make([]*keys.FileKeeper, 8)
	for i := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := keys.OpenFile(path)
			if err != nil {
				t.Error(err)
			}
			ks[i] = k
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, k := range ks {
		if k != nil {
			ids[k.KeyID()] = true
		}
	}
	if len(ids) != 1 {
		t.Fatalf("processes starting together made %d KEKs: %v", len(ids), ids)
	}
}

func TestSealOpen(t *testing.T) {
	r, _ := keystest.Ring(t, "production", nil)
	k, _, _ := tenantKeys(t, r, "tenant-a")
	b := keys.Binding{Collection: "c1", Field: "email", Record: "r1"}
	for _, pt := range [][]byte{nil, []byte(""), []byte(`"ada@example.com"`), bytes.Repeat([]byte("x"), 64<<10)} {
		ct, err := k.Seal(pt, b)
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := keys.KeyIDOf(ct); !ok || id != k.Primary() {
			t.Fatalf("KeyIDOf = %d, %v; primary %d", id, ok, k.Primary())
		}
		if len(pt) > 8 && bytes.Contains(ct, pt[:8]) {
			t.Fatal("the ciphertext contains the plaintext")
		}
		got, err := k.Open(ct, b)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	// Sealing twice gives different ciphertexts (random nonces).
	c1, _ := k.Seal([]byte("v"), b)
	c2, _ := k.Seal([]byte("v"), b)
	if bytes.Equal(c1, c2) {
		t.Fatal("two seals of one value are equal")
	}
}

// TestTamper: a flipped bit, or a ciphertext moved to another record,
// field, collection, tenant or environment, fails with ErrOpen and never
// yields plaintext.
func TestTamper(t *testing.T) {
	prod, _ := keystest.Ring(t, "production", nil)
	kA, _, _ := tenantKeys(t, prod, "tenant-a")
	kB, _, _ := tenantKeys(t, prod, "tenant-b")
	b := keys.Binding{Collection: "c1", Field: "email", Record: "r1"}
	secret := []byte(`"ada@example.com"`)
	ct, err := kA.Seal(secret, b)
	if err != nil {
		t.Fatal(err)
	}
	mustFail := func(name string, k *keys.TenantKeys, ct []byte, b keys.Binding) {
		t.Helper()
		pt, err := k.Open(ct, b)
		if err == nil || pt != nil {
			t.Fatalf("%s: opened to %q", name, pt)
		}
		if !errors.Is(err, keys.ErrOpen) {
			t.Fatalf("%s: error %v is not ErrOpen", name, err)
		}
		if bulwark.ErrorMessage(err) == "internal error" || strings.Contains(bulwark.ErrorMessage(err), string(secret)) {
			t.Fatalf("%s: unclear or leaky message %q", name, bulwark.ErrorMessage(err))
		}
	}
	// Every bit of the ciphertext.
	for i := range ct {
		for bit := 0; bit < 8; bit++ {
			c := bytes.Clone(ct)
			c[i] ^= 1 << bit
			mustFail(fmt.Sprintf("bit %d of byte %d flipped", bit, i), kA, c, b)
		}
	}
	mustFail("truncated", kA, ct[:len(ct)-1], b)
	mustFail("extended", kA, append(bytes.Clone(ct), 0), b)
	mustFail("empty", kA, nil, b)
	mustFail("another record", kA, ct, keys.Binding{Collection: "c1", Field: "email", Record: "r2"})
	mustFail("another field", kA, ct, keys.Binding{Collection: "c1", Field: "phone", Record: "r1"})
	mustFail("another collection", kA, ct, keys.Binding{Collection: "c2", Field: "email", Record: "r1"})
	// Ambiguity: the parts are length-prefixed, so shifting a character
	// from one part to the next changes the associated data.
	mustFail("shifted parts", kA, ct, keys.Binding{Collection: "c1e", Field: "mail", Record: "r1"})
	mustFail("another tenant", kB, ct, b)
	// Another environment with the same KEK and the same tenant id.
	stagingRing, err := keys.NewRing(prod.Keeper(), keys.RingOptions{Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	kS, _, _ := tenantKeys(t, stagingRing, "tenant-a")
	mustFail("another environment", kS, ct, b)
	ctS, _ := kS.Seal(secret, b)
	mustFail("staging value in production", kA, ctS, b)
}

// TestEnvironment (DATA-4): a keyset made in staging does not open in
// production, with an error that says so; one whose environment label was
// edited does not open either, because the wrap's associated data names
// the real one.
func TestEnvironment(t *testing.T) {
	kek := keystest.FileKeeper(t)
	staging, _ := keys.NewRing(kek, keys.RingOptions{Env: "staging"})
	prod, _ := keys.NewRing(kek, keys.RingOptions{Env: "production"})
	d, i, err := staging.NewTenant(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = prod.Tenant(ctx, d, i)
	wantCode(t, err, bulwark.EFailedPrecondition)
	if !errors.Is(err, keys.ErrEnvironment) || !strings.Contains(bulwark.ErrorMessage(err), `"staging"`) || !strings.Contains(bulwark.ErrorMessage(err), `"production"`) {
		t.Fatalf("error %q does not name both environments", bulwark.ErrorMessage(err))
	}
	d.Env, i.Env = "production", "production"
	_, err = prod.Tenant(ctx, d, i)
	if !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("a relabelled staging keyset: %v, want ErrOpen", err)
	}
	for _, bad := range []string{"", "Prod", "-x", "a b", strings.Repeat("a", 33)} {
		_, err := keys.NewRing(kek, keys.RingOptions{Env: bad})
		wantCode(t, err, bulwark.EInvalid)
	}
}

// TestKeysetSwap: tenant A's keyset stored as tenant B's, or the index
// keyset given as the data keyset, does not open.
func TestKeysetSwap(t *testing.T) {
	r, _ := keystest.Ring(t, "production", nil)
	dA, iA, _ := r.NewTenant(ctx, "a")
	dB, iB, _ := r.NewTenant(ctx, "b")
	moved := dA
	moved.Tenant = "b"
	if _, err := r.Tenant(ctx, moved, iB); !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("A's keyset as B's: %v", err)
	}
	swapped := iA
	swapped.Purpose = keys.PurposeData
	idx := dA
	idx.Purpose = keys.PurposeIndex
	if _, err := r.Tenant(ctx, swapped, idx); !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("purposes swapped: %v", err)
	}
	if _, err := r.Tenant(ctx, dB, iA); err == nil {
		t.Fatal("keysets of two tenants were accepted together")
	}
	broken := dB
	broken.Keyset = bytes.Clone(dB.Keyset)
	broken.Keyset[len(broken.Keyset)/2] ^= 1
	r2, _ := keys.NewRing(r.Keeper(), keys.RingOptions{Env: "production", TTL: -1})
	if _, err := r2.Tenant(ctx, broken, iB); err == nil {
		t.Fatal("a flipped bit in a wrapped keyset was accepted")
	}
}

func TestRotate(t *testing.T) {
	r, _ := keystest.Ring(t, "production", nil)
	k1, d, i := tenantKeys(t, r, "t")
	b := keys.Binding{Collection: "c", Field: "f", Record: "r"}
	old, _ := k1.Seal([]byte("old"), b)
	d2, newID, err := r.Rotate(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version != d.Version+1 || newID == k1.Primary() {
		t.Fatalf("rotated: version %d, new key %d (old %d)", d2.Version, newID, k1.Primary())
	}
	k2, err := r.Tenant(ctx, d2, i)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Primary() != newID || !k2.Opens(k1.Primary()) {
		t.Fatalf("after rotation: primary %d, opens old %v", k2.Primary(), k2.Opens(k1.Primary()))
	}
	fresh, _ := k2.Seal([]byte("new"), b)
	if id, _ := keys.KeyIDOf(fresh); id != newID {
		t.Fatalf("a new value is sealed under %d, want %d", id, newID)
	}
	if pt, err := k2.Open(old, b); err != nil || string(pt) != "old" {
		t.Fatalf("an old value after rotation: %q, %v", pt, err)
	}
	info, _ := keys.Inspect(d2)
	if len(info) != 2 || info[0].Algorithm != keys.AlgData {
		t.Fatalf("Inspect = %+v", info)
	}
	// Retire keeps keys in use, disables the rest.
	d3, off, err := r.Retire(ctx, d2, func(id uint32) bool { return true })
	if err != nil || len(off) != 0 || d3.Version != d2.Version {
		t.Fatalf("Retire with everything in use: %v, %v", off, err)
	}
	d3, off, err = r.Retire(ctx, d2, func(id uint32) bool { return false })
	if err != nil || len(off) != 1 || off[0] != k1.Primary() {
		t.Fatalf("Retire = %v, %v", off, err)
	}
	k3, err := r.Tenant(ctx, d3, i)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Open(old, b); !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("a value under a disabled key opened: %v", err)
	}
	if pt, err := k3.Open(fresh, b); err != nil || string(pt) != "new" {
		t.Fatalf("a value under the primary: %q, %v", pt, err)
	}
	st := map[uint32]string{}
	info, _ = keys.Inspect(d3)
	for _, ki := range info {
		st[ki.ID] = ki.Status
	}
	if st[k1.Primary()] != keys.StatusDisabled || st[newID] != keys.StatusPrimary {
		t.Fatalf("statuses = %v", st)
	}
	// The index keyset rotates the same way.
	if _, _, err := r.Rotate(ctx, i); err != nil {
		t.Fatal(err)
	}
}

// TestRotateKEK: a new KEK version wraps re-wrapped keysets; keysets not
// yet re-wrapped still open until the old version is retired, and then
// they do not.
func TestRotateKEK(t *testing.T) {
	kek := keystest.FileKeeper(t)
	r, _ := keys.NewRing(kek, keys.RingOptions{Env: "production", TTL: -1})
	d, i, _ := r.NewTenant(ctx, "t")
	k, _ := r.Tenant(ctx, d, i)
	b := keys.Binding{Collection: "c", Field: "f", Record: "r"}
	ct, _ := k.Seal([]byte("v"), b)
	before := kek.KeyID()
	// Another process (bulwark keys rotate-kek) rotates the file; this
	// keeper picks the change up.
	other, err := keys.OpenFile(kek.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RotateKEK(ctx); err != nil {
		t.Fatal(err)
	}
	if kek.KeyID() == before {
		t.Fatal("the keeper did not notice the rotated KEK file")
	}
	if _, err := r.Tenant(ctx, d, i); err != nil {
		t.Fatalf("a keyset wrapped by the old KEK version: %v", err)
	}
	d2, err := r.Rewrap(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	i2, err := r.Rewrap(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RetireKEK(ctx); err != nil {
		t.Fatal(err)
	}
	vs, _ := kek.Versions()
	if len(vs) != 2 || vs[0].Status == vs[1].Status {
		t.Fatalf("KEK versions = %+v", vs)
	}
	if _, err := r.Tenant(ctx, d, i); !errors.Is(err, keys.ErrOpen) {
		t.Fatalf("a keyset wrapped by a retired KEK version: %v", err)
	}
	k2, err := r.Tenant(ctx, d2, i2)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(ct, b); err != nil || string(pt) != "v" {
		t.Fatalf("data after a KEK rotation: %q, %v", pt, err)
	}
	fi, _ := os.Stat(kek.Path())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the rewritten KEK file has mode %04o", fi.Mode().Perm())
	}
}

// TestKMSUnavailable (DESIGN "What fails how"): with the keeper down,
// cached tenants go on until the TTL; then, and for new tenants and
// rotations, the error is EUnavailable.
func TestKMSUnavailable(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, kms := keystest.Ring(t, "production", clock)
	dA, iA, _ := r.NewTenant(ctx, "a")
	dB, iB, _ := r.NewTenant(ctx, "b")
	kA, err := r.Tenant(ctx, dA, iA) // A is cached; B is not
	if err != nil {
		t.Fatal(err)
	}
	b := keys.Binding{Collection: "c", Field: "f", Record: "r"}
	ct, _ := kA.Seal([]byte("v"), b)

	kms.Down.Store(true)
	calls := kms.Calls.Load()
	k, err := r.Tenant(ctx, dA, iA)
	if err != nil {
		t.Fatalf("a cached tenant during the outage: %v", err)
	}
	if pt, err := k.Open(ct, b); err != nil || string(pt) != "v" {
		t.Fatal(err)
	}
	if kms.Calls.Load() != calls {
		t.Fatal("a cached tenant called the keeper")
	}
	_, err = r.Tenant(ctx, dB, iB)
	wantCode(t, err, bulwark.EUnavailable)
	if !errors.Is(err, keys.ErrUnavailable) || !errors.Is(err, keystest.ErrOutage) {
		t.Fatalf("error %v does not carry its cause", err)
	}
	_, _, err = r.NewTenant(ctx, "c")
	wantCode(t, err, bulwark.EUnavailable)
	_, _, err = r.Rotate(ctx, dA)
	wantCode(t, err, bulwark.EUnavailable)
	_, err = r.Rewrap(ctx, dA)
	wantCode(t, err, bulwark.EUnavailable)

	mu.Lock()
	now = now.Add(keys.DefaultTTL - time.Second)
	mu.Unlock()
	if _, err := r.Tenant(ctx, dA, iA); err != nil {
		t.Fatalf("just before the TTL: %v", err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	_, err = r.Tenant(ctx, dA, iA)
	wantCode(t, err, bulwark.EUnavailable)

	kms.Down.Store(false)
	if _, err := r.Tenant(ctx, dB, iB); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// TestCacheFollowsVersions: a keyset changed elsewhere (a new version) is
// unwrapped again, never served stale from the cache.
func TestCacheFollowsVersions(t *testing.T) {
	r, kms := keystest.Ring(t, "production", nil)
	d, i, _ := r.NewTenant(ctx, "t")
	k1, _ := r.Tenant(ctx, d, i)
	calls := kms.Calls.Load()
	if k, _ := r.Tenant(ctx, d, i); k != k1 || kms.Calls.Load() != calls {
		t.Fatal("an unchanged keyset was unwrapped again")
	}
	d2, id, _ := r.Rotate(ctx, d)
	k2, _ := r.Tenant(ctx, d2, i)
	if k2.Primary() != id {
		t.Fatal("the cache served a stale keyset")
	}
	r.Forget("t")
	calls = kms.Calls.Load()
	r.Tenant(ctx, d2, i)
	if kms.Calls.Load() == calls {
		t.Fatal("Forget kept the keys")
	}
}

func TestBlindIndex(t *testing.T) {
	r, _ := keystest.Ring(t, "production", nil)
	kA, _, _ := tenantKeys(t, r, "a")
	kB, _, _ := tenantKeys(t, r, "b")
	v := []byte("s:ada@example.com")
	t1, err := kA.BlindIndex("c", "email", v)
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := kA.BlindIndex("c", "email", v)
	if t1 != t2 || len(t1) != 22 || strings.Contains(t1, "ada") {
		t.Fatalf("tags %q, %q", t1, t2)
	}
	for name, other := range map[string]func() (string, error){
		"value":      func() (string, error) { return kA.BlindIndex("c", "email", []byte("s:bob@example.com")) },
		"field":      func() (string, error) { return kA.BlindIndex("c", "email2", v) },
		"collection": func() (string, error) { return kA.BlindIndex("c2", "email", v) },
		"tenant":     func() (string, error) { return kB.BlindIndex("c", "email", v) },
		"shifted":    func() (string, error) { return kA.BlindIndex("ce", "mail", v) },
	} {
		if o, _ := other(); o == t1 {
			t.Errorf("another %s gives the same tag", name)
		}
	}
}

// TestRedaction: key material cannot be printed, logged or marshalled.
func TestRedaction(t *testing.T) {
	kek := keystest.FileKeeper(t)
	file, _ := os.ReadFile(kek.Path())
	var ks struct {
		Key []struct {
			KeyData struct{ Value string } `json:"keyData"`
		} `json:"key"`
	}
	if err := json.Unmarshal(file, &ks); err != nil || len(ks.Key) == 0 || ks.Key[0].KeyData.Value == "" {
		t.Fatalf("KEK file: %v", err)
	}
	material := ks.Key[0].KeyData.Value
	r, _ := keys.NewRing(kek, keys.RingOptions{Env: "production"})
	k, _, _ := tenantKeys(t, r, "t")
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	for _, v := range []any{k, r, kek} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, material) || !strings.Contains(out, "keys.") {
				t.Errorf("%s of %T = %q", verb, v, out)
			}
		}
		if _, err := json.Marshal(v); err == nil {
			t.Errorf("%T marshals to JSON", v)
		}
		log.Info("x", "v", v)
	}
	if strings.Contains(logged.String(), material) || strings.Contains(logged.String(), "keyData") {
		t.Fatalf("a log line holds key material: %s", logged.String())
	}
}
