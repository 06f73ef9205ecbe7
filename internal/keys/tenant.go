package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// TenantKeys are one tenant's unwrapped keys in one environment. They
// cannot be printed, logged, marshalled or compared.
type TenantKeys struct {
	env, tenant string
	data        tink.AEAD
	primary     uint32
	enabled     map[uint32]bool
	index       *prf.Set

	_ [0]func() // not comparable
}

func newTenantKeys(env, tenant string, data, index *keyset.Handle) (*TenantKeys, error) {
	a, err := aead.New(data)
	if err != nil {
		return nil, fmt.Errorf("data keyset: %w", err)
	}
	p, err := prf.NewPRFSet(index)
	if err != nil {
		return nil, fmt.Errorf("index keyset: %w", err)
	}
	k := &TenantKeys{env: env, tenant: tenant, data: a, index: p, enabled: map[uint32]bool{}}
	for _, ki := range infoOf(data.KeysetInfo()) {
		if ki.Status == StatusPrimary {
			k.primary = ki.ID
		}
		if ki.Status != StatusDisabled {
			k.enabled[ki.ID] = true
		}
	}
	return k, nil
}

// Tenant is the tenant these keys belong to.
func (k *TenantKeys) Tenant() string { return k.tenant }

// Primary is the id of the data key that seals new values.
func (k *TenantKeys) Primary() uint32 { return k.primary }

// Opens reports whether values sealed under key id still open.
func (k *TenantKeys) Opens(id uint32) bool { return k.enabled[id] }

// Seal encrypts plaintext with the primary data key (AES256-GCM), bound to
// the environment, the tenant and b. The ciphertext starts with Tink's
// 5-byte prefix naming the key (KeyIDOf).
func (k *TenantKeys) Seal(plaintext []byte, b Binding) ([]byte, error) {
	ct, err := k.data.Encrypt(plaintext, fieldAD(k.env, k.tenant, b))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return ct, nil
}

// Open decrypts a value sealed for b. Anything else, a flipped bit, a
// value of another record, field, tenant or environment, or one sealed
// under a destroyed or disabled key, fails with ErrOpen; it never yields
// other plaintext.
func (k *TenantKeys) Open(ciphertext []byte, b Binding) ([]byte, error) {
	pt, err := k.data.Decrypt(ciphertext, fieldAD(k.env, k.tenant, b))
	if err != nil {
		return nil, openFailed("a sealed value of field "+b.Field, err)
	}
	return pt, nil
}

// BlindIndexLen is the length of a blind index tag in bytes before
// encoding: 128 bits, so that two different values of one field collide
// with negligible probability (a unique constraint on tags must not
// refuse a value that is merely unlucky).
const BlindIndexLen = 16

// BlindIndex returns the blind index tag of value in a collection's field:
// HMAC-SHA256 under the tenant's index key, truncated to BlindIndexLen
// bytes, base64url. The collection and field are part of the input, so
// equal values in two fields (or two collections) have unrelated tags,
// and tags of two tenants are unrelated because their keys are. A tag
// reveals only whether two values of one field are equal.
func (k *TenantKeys) BlindIndex(collection, field string, value []byte) (string, error) {
	tag, err := k.index.ComputePrimaryPRF(ad(adIndex, collection, field, string(value)), BlindIndexLen)
	if err != nil {
		return "", fmt.Errorf("blind index: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tag), nil
}

// Redaction: key material must never reach a log, an error or a response.
func (k *TenantKeys) String() string   { return "keys.TenantKeys(" + k.tenant + ", REDACTED)" }
func (k *TenantKeys) GoString() string { return k.String() }
func (k *TenantKeys) Format(f fmt.State, _ rune) {
	f.Write([]byte(k.String()))
}
func (k *TenantKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }
func (k *TenantKeys) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keys: tenant keys cannot be marshalled")
}
func (k *TenantKeys) MarshalText() ([]byte, error) {
	return nil, errors.New("keys: tenant keys cannot be marshalled")
}
