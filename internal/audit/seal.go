package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Sealer protects the personal values of an entry (client address, user
// agent) before they are stored: the leaf hashes what is stored, so an
// entry verifies whether or not its sealed values can still be opened.
type Sealer interface {
	// Seal returns the stored form of value for tenantID ("" for
	// deployment-level entries). salt, when not nil, is a secret of the
	// tenant's that the seal depends on (destroying it makes the stored
	// form impossible to recompute from a guess). purpose names the field
	// ("client", "user_agent"). An empty value seals to "".
	Seal(tenantID string, salt []byte, purpose, value string) (string, error)
}

// HMACSealer stores a keyed HMAC-SHA256 of each value under a per-tenant
// key derived from one deployment key (as Vault's audit devices do): the
// value cannot be read back, but an operator holding the key can test
// whether an entry came from a given address ("did 203.0.113.9 do this?").
//
// The store uses it for deployment-level entries, and for a tenant's
// entries only when the tenant's keys cannot be had (its AEAD key seals
// them otherwise); then with the tenant's audit salt, which is deleted with
// the tenant, so that those HMACs are shredded too.
type HMACSealer struct {
	key [32]byte
}

// hmacPrefix marks the stored form, so a later AEAD form can coexist.
const hmacPrefix = "hmac-sha256:"

// NewHMACSealer returns a sealer keyed with key (32 bytes).
func NewHMACSealer(key []byte) (*HMACSealer, error) {
	if len(key) != 32 {
		return nil, errors.New("audit: the HMAC sealing key must be 32 bytes")
	}
	s := &HMACSealer{}
	copy(s.key[:], key)
	return s, nil
}

// Seal implements Sealer.
func (s *HMACSealer) Seal(tenantID string, salt []byte, purpose, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	// Per-tenant, per-purpose key: the same address in two tenants gives
	// unrelated tags, so entries cannot be joined across tenants. With a
	// salt, the key depends on it too.
	k := hmac.New(sha256.New, s.key[:])
	if salt == nil {
		k.Write([]byte("bulwark audit seal v1\x00" + tenantID + "\x00" + purpose))
	} else {
		k.Write([]byte("bulwark audit seal v2\x00" + tenantID + "\x00" + purpose + "\x00"))
		k.Write(salt)
	}
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(value))
	return hmacPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// String never prints the key.
func (s *HMACSealer) String() string { return "audit.HMACSealer{key: redacted}" }

// LoadOrCreateKey reads a 32-byte key from path, creating it with mode
// 0600 (in a 0700 directory) on first use.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("audit key %s: want 32 bytes, have %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeNew(path, b); err != nil {
		return nil, err
	}
	return LoadOrCreateKey(path)
}

// writeNew creates path with mode 0600, atomically: the content is
// written to a temporary file and linked into place, which fails if path
// exists, so two processes starting together keep the same key and never
// read half a file.
func writeNew(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}
