package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkhq/bulwark"
)

// Wrapped is a tenant keyset as the store keeps it: Tink's encrypted
// keyset (binary), wrapped by the KEK with associated data binding Env,
// Tenant and Purpose. Version changes with every change to the row (a
// rotation, a re-wrap); the Ring's cache is keyed by it, so every node
// notices a change made by another at its next transaction.
type Wrapped struct {
	Tenant  string
	Purpose Purpose
	Env     string
	Version int64
	Keyset  []byte
}

// DefaultTTL is how long an unwrapped keyset is used without asking the
// keeper again. It bounds how long a revoked or unreachable KMS key goes
// on working for tenants already in the cache.
const DefaultTTL = 10 * time.Minute

// maxCached bounds the cache; beyond it, entries are evicted (expired
// ones first) and unwrapped again when next needed.
const maxCached = 10000

// RingOptions configures a Ring.
type RingOptions struct {
	// Env is the environment name bound into every wrap and seal (DATA-4).
	Env string
	// TTL of unwrapped keysets in the cache. Default DefaultTTL; negative
	// disables the cache (every transaction asks the keeper).
	TTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Ring opens tenant keysets through a Keeper and caches them.
type Ring struct {
	keeper Keeper
	env    string
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]*cached

	_ [0]func() // not comparable
}

type cached struct {
	dataVer, indexVer int64
	keys              *TenantKeys
	expires           time.Time
}

// NewRing returns a ring that wraps with k in environment opt.Env.
func NewRing(k Keeper, opt RingOptions) (*Ring, error) {
	if err := ValidEnv(opt.Env); err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errors.New("keys: NewRing needs a keeper")
	}
	if opt.TTL == 0 {
		opt.TTL = DefaultTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Ring{keeper: k, env: opt.Env, ttl: opt.TTL, now: opt.Now, cache: map[string]*cached{}}, nil
}

// Env is the ring's environment name.
func (r *Ring) Env() string { return r.env }

// Keeper is the ring's keeper.
func (r *Ring) Keeper() Keeper { return r.keeper }

func templateOf(p Purpose) *tinkpb.KeyTemplate {
	if p == PurposeIndex {
		return prf.HMACSHA256PRFKeyTemplate()
	}
	return aead.AES256GCMKeyTemplate()
}

// NewTenant makes a tenant's data and index keysets, wrapped. It needs the
// keeper: during a KMS outage no tenant can be created.
func (r *Ring) NewTenant(ctx context.Context, tenantID string) (data, index Wrapped, err error) {
	if tenantID == "" {
		return Wrapped{}, Wrapped{}, errors.New("keys: NewTenant needs a tenant id")
	}
	for _, p := range []Purpose{PurposeData, PurposeIndex} {
		h, err := keyset.NewHandle(templateOf(p))
		if err != nil {
			return Wrapped{}, Wrapped{}, fmt.Errorf("create %s keyset: %w", p, err)
		}
		w, err := r.wrap(ctx, h, Wrapped{Tenant: tenantID, Purpose: p, Env: r.env})
		if err != nil {
			return Wrapped{}, Wrapped{}, err
		}
		if p == PurposeData {
			data = w
		} else {
			index = w
		}
	}
	return data, index, nil
}

// wrap encrypts h's keyset with the KEK, bound to like's env, tenant and
// purpose, and returns like with the new keyset and the next version.
// Tink's Handle.WriteWithContext would do the same, but it flattens the
// keeper's error into a string; calling the keeper here keeps the error's
// kind (unavailable or not), which decides between 503 and 500.
func (r *Ring) wrap(ctx context.Context, h *keyset.Handle, like Wrapped) (Wrapped, error) {
	var plain bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewBinaryWriter(&plain)); err != nil {
		return Wrapped{}, fmt.Errorf("encode keyset: %w", err)
	}
	ct, err := r.keeper.EncryptWithContext(ctx, plain.Bytes(), keysetAD(like.Env, like.Tenant, like.Purpose))
	clear(plain.Bytes())
	if err != nil {
		return Wrapped{}, keeperError("wrap a tenant keyset", err)
	}
	// Tink's BinaryWriter drops the keyset info; it is kept here (ids,
	// statuses and types, no key material) so that the inventory can be
	// listed without the keeper. It is not authenticated: nothing trusts it
	// for a decision, the unwrapped keyset is the truth.
	out, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: ct, KeysetInfo: h.KeysetInfo()})
	if err != nil {
		return Wrapped{}, fmt.Errorf("encode wrapped keyset: %w", err)
	}
	like.Keyset = out
	like.Version++
	return like, nil
}

// unwrap asks the keeper to decrypt w. It checks the environment first,
// for a clear error; the associated data enforces it anyway.
func (r *Ring) unwrap(ctx context.Context, w Wrapped) (*keyset.Handle, error) {
	if w.Env != r.env {
		return nil, &bulwark.Error{Code: bulwark.EFailedPrecondition,
			Message: fmt.Sprintf("the keys of this tenant belong to environment %q and this process runs as %q: data of one environment cannot be opened in another (DATA-4)", w.Env, r.env),
			Err:     ErrEnvironment}
	}
	if !w.Purpose.valid() {
		return nil, fmt.Errorf("keys: unknown keyset purpose %q", w.Purpose)
	}
	if len(w.Keyset) == 0 {
		return nil, &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: "the keys of this tenant were destroyed", Err: ErrDestroyed}
	}
	ek, err := readEncrypted(w)
	if err != nil {
		return nil, openFailed("the tenant's "+string(w.Purpose)+" keyset", err)
	}
	pt, err := r.keeper.DecryptWithContext(ctx, ek.GetEncryptedKeyset(), keysetAD(w.Env, w.Tenant, w.Purpose))
	if err != nil {
		if errors.Is(err, ErrOpen) {
			return nil, openFailed("the tenant's "+string(w.Purpose)+" keyset", err)
		}
		return nil, keeperError("unwrap a tenant keyset", err)
	}
	defer clear(pt)
	h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(pt)))
	if err != nil {
		return nil, openFailed("the tenant's "+string(w.Purpose)+" keyset", err)
	}
	return h, nil
}

// keeperError classifies a keeper failure: the keeper's own application
// errors pass through (a KEK file with loose permissions); anything else
// is the KMS being unreachable or refusing, which is retryable: 503.
func keeperError(op string, err error) error {
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	return unavailable(op, err)
}

// Tenant returns the tenant's unwrapped keys, from the cache when both
// keysets' versions match and the entry has not expired; otherwise it
// unwraps them through the keeper. When the keeper is down, cached
// tenants go on until their entry expires; others fail with EUnavailable.
func (r *Ring) Tenant(ctx context.Context, data, index Wrapped) (*TenantKeys, error) {
	if data.Purpose != PurposeData || index.Purpose != PurposeIndex || data.Tenant == "" || data.Tenant != index.Tenant {
		return nil, errors.New("keys: Tenant needs the data and index keysets of one tenant")
	}
	now := r.now()
	r.mu.Lock()
	c := r.cache[data.Tenant]
	if c != nil && c.dataVer == data.Version && c.indexVer == index.Version && now.Before(c.expires) {
		r.mu.Unlock()
		return c.keys, nil
	}
	r.mu.Unlock()

	dh, err := r.unwrap(ctx, data)
	if err != nil {
		return nil, err
	}
	ih, err := r.unwrap(ctx, index)
	if err != nil {
		return nil, err
	}
	k, err := newTenantKeys(r.env, data.Tenant, dh, ih)
	if err != nil {
		return nil, err
	}
	if r.ttl > 0 {
		r.mu.Lock()
		r.evict(now)
		r.cache[data.Tenant] = &cached{dataVer: data.Version, indexVer: index.Version, keys: k, expires: now.Add(r.ttl)}
		r.mu.Unlock()
	}
	return k, nil
}

// Cached returns the tenant's keys if the cache holds them at exactly these
// keyset versions and they have not expired. It never calls the keeper.
// The store reads the versions in a statement it runs anyway, so a write
// whose keys are cached costs no extra query.
func (r *Ring) Cached(tenantID string, dataVer, indexVer int64) (*TenantKeys, bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cache[tenantID]
	if c == nil || c.dataVer != dataVer || c.indexVer != indexVer || !now.Before(c.expires) {
		return nil, false
	}
	return c.keys, true
}

// Current returns the tenant's cached keys at whatever versions they were
// cached, if the entry has not expired. It never calls the keeper and
// reads nothing, so the keys may be up to one TTL behind a rotation made
// by another node: only for values that may be sealed under any enabled
// key of the tenant and are never re-sealed (an audit entry's client
// fields), never for record values.
func (r *Ring) Current(tenantID string) (*TenantKeys, bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cache[tenantID]
	if c == nil || !now.Before(c.expires) {
		return nil, false
	}
	return c.keys, true
}

// evict makes room in the cache. It holds r.mu.
func (r *Ring) evict(now time.Time) {
	if len(r.cache) < maxCached {
		return
	}
	for id, c := range r.cache {
		if !now.Before(c.expires) {
			delete(r.cache, id)
		}
	}
	for id := range r.cache {
		if len(r.cache) < maxCached {
			break
		}
		delete(r.cache, id)
	}
}

// Forget drops a tenant's keys from the cache, as when they are destroyed.
func (r *Ring) Forget(tenantID string) {
	r.mu.Lock()
	delete(r.cache, tenantID)
	r.mu.Unlock()
}

// Rotate adds a new primary key to a keyset: new values are sealed under
// it, values sealed under older keys still open. It returns the new
// wrapped keyset and the new key's id.
func (r *Ring) Rotate(ctx context.Context, w Wrapped) (Wrapped, uint32, error) {
	h, err := r.unwrap(ctx, w)
	if err != nil {
		return Wrapped{}, 0, err
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(templateOf(w.Purpose))
	if err != nil {
		return Wrapped{}, 0, fmt.Errorf("add key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return Wrapped{}, 0, fmt.Errorf("set primary key: %w", err)
	}
	if h, err = m.Handle(); err != nil {
		return Wrapped{}, 0, err
	}
	out, err := r.wrap(ctx, h, w)
	return out, id, err
}

// Retire disables the enabled, non-primary keys of w for which inUse
// reports false, and returns the new wrapped keyset and the ids it
// disabled. Disabled keys open nothing but stay in the keyset, so an
// operator can re-enable one (for a restored backup) with `bulwark keys`.
func (r *Ring) Retire(ctx context.Context, w Wrapped, inUse func(id uint32) bool) (Wrapped, []uint32, error) {
	h, err := r.unwrap(ctx, w)
	if err != nil {
		return Wrapped{}, nil, err
	}
	m := keyset.NewManagerFromHandle(h)
	var off []uint32
	for _, ki := range infoOf(h.KeysetInfo()) {
		if ki.Status == StatusEnabled && !inUse(ki.ID) {
			if err := m.Disable(ki.ID); err != nil {
				return Wrapped{}, nil, fmt.Errorf("disable key %d: %w", ki.ID, err)
			}
			off = append(off, ki.ID)
		}
	}
	if len(off) == 0 {
		return w, nil, nil
	}
	if h, err = m.Handle(); err != nil {
		return Wrapped{}, nil, err
	}
	out, err := r.wrap(ctx, h, w)
	return out, off, err
}

// Rewrap unwraps w and wraps it again with the keeper's current KEK
// version. The keys inside do not change, so no data is touched.
func (r *Ring) Rewrap(ctx context.Context, w Wrapped) (Wrapped, error) {
	h, err := r.unwrap(ctx, w)
	if err != nil {
		return Wrapped{}, err
	}
	return r.wrap(ctx, h, w)
}

// The ring holds unwrapped keys: it must never be printed or marshalled.
func (r *Ring) String() string   { return "keys.Ring(env=" + r.env + ")" }
func (r *Ring) GoString() string { return r.String() }
func (r *Ring) Format(f fmt.State, _ rune) {
	f.Write([]byte(r.String()))
}
func (r *Ring) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keys: a key ring cannot be marshalled")
}
