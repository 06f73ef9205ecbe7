// Package keys is Bulwark's envelope encryption (DATA-3, DATA-4).
//
// A key-encryption key (KEK), held by a Keeper chosen by URL (a local key
// file by default, a cloud KMS or Vault in production), wraps each tenant's
// data keysets. A tenant has two Tink keysets:
//
//   - data: AEAD AES256-GCM, seals field values;
//   - index: PRF HMAC-SHA256, computes blind indexes (truncated, keyed
//     tags) for equality lookups and unique constraints on sealed fields.
//
// A Ring unwraps keysets through the Keeper and keeps the unwrapped
// primitives in memory for a TTL, so a KMS outage lets cached tenants go on
// until the TTL while new tenants and rotations fail with EUnavailable.
//
// Everything is bound to an environment name (production, staging, ...):
// keysets are wrapped with associated data naming the environment, the
// tenant and the keyset's purpose, and every sealed value with associated
// data naming the environment, tenant, collection, field and record. A
// ciphertext or keyset moved to another row, field, tenant or environment
// does not open.
//
// The package knows nothing of the database: the store keeps the wrapped
// keysets (type Wrapped) and asks the Ring to open them.
package keys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"

	"github.com/bulwarkhq/bulwark"
)

// Purpose says what a tenant keyset is for.
type Purpose string

const (
	// PurposeData is the AEAD keyset that seals field values.
	PurposeData Purpose = "data"
	// PurposeIndex is the PRF keyset that computes blind indexes.
	PurposeIndex Purpose = "index"
)

// Algorithms, as shown in the key inventory.
const (
	AlgData  = "AES256-GCM"
	AlgIndex = "HMAC-SHA256-PRF"
)

func (p Purpose) valid() bool { return p == PurposeData || p == PurposeIndex }

// Algorithm is the algorithm of a keyset of purpose p.
func (p Purpose) Algorithm() string {
	if p == PurposeIndex {
		return AlgIndex
	}
	return AlgData
}

var envRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidEnv checks an environment name: 1-32 lowercase letters, digits or
// '-', starting with a letter.
func ValidEnv(env string) error {
	if !envRE.MatchString(env) {
		return bulwark.FieldError("env", "must be 1-32 characters: lowercase letters, digits or '-', starting with a letter (such as production, staging, development)")
	}
	return nil
}

// Binding is where a sealed value lives. With the Ring's environment and
// the tenant it makes the associated data of the seal: a value opens only
// in the place it was sealed for.
type Binding struct {
	Collection string // the collection's id
	Field      string // the field's name
	Record     string // the record's id
}

// Associated-data labels, versioned, so that no associated data of one
// use can equal that of another.
const (
	adField  = "bulwark/field/v1"
	adKeyset = "bulwark/keyset/v1"
	adIndex  = "bulwark/blind-index/v1"
)

// ad encodes parts unambiguously: each is length-prefixed, so ("ab","c")
// and ("a","bc") differ.
func ad(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func fieldAD(env, tenant string, b Binding) []byte {
	return ad(adField, env, tenant, b.Collection, b.Field, b.Record)
}

func keysetAD(env, tenant string, p Purpose) []byte {
	return ad(adKeyset, env, tenant, string(p))
}

// Errors. Each is wrapped in a *bulwark.Error whose message is safe to
// show; errors.Is finds these sentinels through it.
var (
	// ErrUnavailable: the keeper (KMS) did not answer.
	ErrUnavailable = errors.New("key-encryption key unavailable")
	// ErrOpen: a sealed value or keyset failed its integrity check: it was
	// altered, moved to another place, or sealed under other keys.
	ErrOpen = errors.New("does not open")
	// ErrEnvironment: the keyset belongs to another environment.
	ErrEnvironment = errors.New("wrong environment")
	// ErrDestroyed: the tenant's keys were destroyed (crypto-shredded).
	ErrDestroyed = errors.New("keys destroyed")
)

func unavailable(op string, err error) error {
	return &bulwark.Error{Code: bulwark.EUnavailable,
		Message: "the key service (KMS) is unavailable, so tenant keys cannot be unwrapped or created; retry later",
		Err:     fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)}
}

func openFailed(what string, err error) error {
	return &bulwark.Error{Code: bulwark.EInternal,
		Message: what + " does not open under this tenant's keys in this environment: it was altered, moved from another record, field, tenant or environment, or its keys were destroyed",
		Err:     fmt.Errorf("%w: %w", ErrOpen, err)}
}

// KeyIDOf returns the id of the data key that sealed ct (Tink's 5-byte
// output prefix: version byte 1, then the key id, big-endian).
func KeyIDOf(ct []byte) (uint32, bool) {
	if len(ct) < 5 || ct[0] != 1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:5]), true
}
