// Package password hashes and checks passwords with Argon2id (AUTH-2).
//
// Hashes are self-describing PHC strings
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so parameters can be raised
// later: Verify reports when a stored hash uses weaker ones, and the caller
// re-hashes at the next successful login.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default follows OWASP's Argon2id recommendation (m=19 MiB, t=2, p=1).
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes passwords, allowing at most a fixed number of hashes to run
// at once: each costs Params.Memory, so a login flood must queue (and be
// shed by the caller's deadline) rather than exhaust memory.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string
	// waiting counts callers queued for a slot; past maxWait a caller is
	// shed at once, so an overload is answered fast instead of piling up.
	waiting atomic.Int64
	maxWait int64
}

// NewHasher returns a Hasher with p, running at most limit hashes at once
// (0 means the number of CPUs).
func NewHasher(p Params, limit int) *Hasher {
	if limit <= 0 {
		limit = runtime.NumCPU()
	}
	h := &Hasher{params: p, sem: make(chan struct{}, limit), maxWait: int64(8 * limit)}
	h.dummy = h.encode(make([]byte, saltLen), make([]byte, keyLen), p)
	return h
}

// ErrBusy is returned when ctx ends while waiting for a hashing slot.
var ErrBusy = errors.New("password hashing is saturated")

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxWait {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	return h.encode(salt, key, h.params), nil
}

func (h *Hasher) encode(salt, key []byte, p Params) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify checks password against a stored PHC string in constant time. An
// empty or malformed stored hash is checked against a dummy hash, so that
// an unknown account costs the same time as a known one; it never matches.
// needsRehash reports that the stored hash uses other parameters.
func (h *Hasher) Verify(ctx context.Context, stored, password string) (ok, needsRehash bool, err error) {
	p, salt, key, perr := decode(stored)
	if perr != nil {
		p, salt, key, _ = decode(h.dummy)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	match := subtle.ConstantTimeCompare(got, key) == 1 && perr == nil
	return match, match && p != h.params, nil
}

func decode(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	// Bound the parameters a stored hash may ask for: a tampered row must
	// not make one login allocate gigabytes.
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 10 || p.Threads < 1 || p.Threads > 16 {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("bad key")
	}
	return p, salt, key, nil
}
