package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// The audit log's two deployment keys live in the data directory, mode
// 0600, with their secret halves sealed under the key-encryption key
// (keys.Ring.SealSecret), like every other secret of Bulwark's (DATA-3):
// a copy of the data directory without the KEK does not yield them.
//
//	audit-signing.key  line 1: "sealed:" + the sealed Ed25519 signer key
//	                   line 2: the verifier (public) key, in clear
//	                   then, after `bulwark audit rotate-key`, one line
//	                   "retired:" + verifier key per key it replaced,
//	                   newest first: checkpoints they signed still verify
//	audit-seal.key     line 1: "sealed:" + the sealed HMAC key
//
// Files written by earlier versions, with the secrets in clear, are sealed
// in place at the next start. Each start also seals them again under the
// KEK's current version, and so does `bulwark keys rotate-kek` before it
// retires older versions (auditKeyFiles); it retires none while either
// file is still sealed by one of them.
const sealedPrefix = "sealed:"

func loadOrCreateAuditSigner(ctx context.Context, ring *keys.Ring, path, origin string) (*audit.Signer, error) {
	lines, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, skey, vkey, err := audit.GenerateSigner(origin)
		if err != nil {
			return nil, err
		}
		lines = []string{skey, vkey}
	} else if err != nil {
		return nil, err
	}
	retired, err := retiredKeys(path, lines)
	if err != nil {
		return nil, err
	}
	skey, err := openKeyLine(ctx, ring, "audit/signing-key", lines[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := audit.NewSigner(string(skey), lines[1])
	if err != nil {
		return nil, err
	}
	return s, writeSealedKeyFile(ctx, ring, path, "audit/signing-key", skey, append([]string{lines[1]}, retiredLines(retired)...)...)
}

// writeSealedKeyFile seals key under the KEK with label and writes it as
// path's first line, rest after it. It checks, after writing, that the
// KEK version that sealed it is still the current one, and writes it
// again if not: `bulwark keys rotate-kek --retire`, run meanwhile, either
// saw the file before the retirement or made its new version current
// before this check (see kekSealedFile).
func writeSealedKeyFile(ctx context.Context, ring *keys.Ring, path, label string, key []byte, rest ...string) error {
	for range 3 {
		sealed, err := sealKeyLine(ctx, ring, label, key)
		if err != nil {
			return err
		}
		if err := writeKeyFile(path, append([]string{sealed}, rest...)...); err != nil {
			return err
		}
		if sealedLineKEK(ring, sealed) == ring.KEK() {
			return nil
		}
	}
	return fmt.Errorf("%s: the key-encryption key keeps changing: try again", path)
}

// sealedLineKEK names the KEK version that sealed a "sealed:" line.
func sealedLineKEK(ring *keys.Ring, line string) string {
	ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, sealedPrefix))
	if err != nil {
		return ""
	}
	return ring.SealedBy(ct)
}

const retiredPrefix = "retired:"

// retiredKeys checks the shape of a signing key file's lines and returns
// the retired verifier keys (lines 3 and on).
func retiredKeys(path string, lines []string) ([]string, error) {
	if len(lines) < 2 {
		return nil, fmt.Errorf("%s: want a sealed private key and a public key", path)
	}
	var out []string
	for _, l := range lines[2:] {
		k, ok := strings.CutPrefix(l, retiredPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: a line after the public key is not a retired key", path)
		}
		out = append(out, k)
	}
	return out, nil
}

func retiredLines(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = retiredPrefix + k
	}
	return out
}

// rotateAuditSigner replaces the checkpoint signing key with a new one for
// the same log (same origin), sealed like the old one, and keeps the old
// public key as retired. It writes the new file beside the old one and
// calls commit before putting it in place, so that a rotation that cannot
// be recorded does not happen. It returns the new and the retired public
// key.
func rotateAuditSigner(ctx context.Context, ring *keys.Ring, path string, commit func(newKey, oldKey string) error) (string, string, error) {
	lines, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("no audit signing key at %s yet: it is made at the first start of bulwark serve", path)
	}
	if err != nil {
		return "", "", err
	}
	retired, err := retiredKeys(path, lines)
	if err != nil {
		return "", "", err
	}
	// The current key must open: a rotation is done by whoever holds the
	// KEK, not by anyone who can write the data directory.
	old, err := openKeyLine(ctx, ring, "audit/signing-key", lines[0])
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	cur, err := audit.NewSigner(string(old), lines[1])
	if err != nil {
		return "", "", err
	}
	_, skey, vkey, err := audit.GenerateSigner(cur.Origin())
	if err != nil {
		return "", "", err
	}
	sealed, err := sealKeyLine(ctx, ring, "audit/signing-key", []byte(skey))
	if err != nil {
		return "", "", err
	}
	next := append([]string{sealed, vkey}, retiredLines(append([]string{lines[1]}, retired...))...)
	tmp := path + ".next"
	if err := writeKeyFile(tmp, next...); err != nil {
		return "", "", err
	}
	defer os.Remove(tmp)
	if err := commit(vkey, lines[1]); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", "", err
	}
	if sealedLineKEK(ring, sealed) != ring.KEK() { // a KEK rotation passed meanwhile
		if err := writeSealedKeyFile(ctx, ring, path, "audit/signing-key", []byte(skey), next[1:]...); err != nil {
			return "", "", err
		}
	}
	return vkey, lines[1], nil
}

func loadOrCreateAuditSealKey(ctx context.Context, ring *keys.Ring, path string) ([]byte, error) {
	lines, err := readKeyFile(path)
	var key []byte
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, 32)
		rand.Read(key)
	case err != nil:
		return nil, err
	case len(lines) == 1 && strings.HasPrefix(lines[0], sealedPrefix):
		if key, err = openKeyLine(ctx, ring, "audit/seal-key", lines[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		// An earlier version's file: the raw key, in clear.
		if key, err = audit.LoadOrCreateKey(path); err != nil {
			return nil, err
		}
	}
	return key, writeSealedKeyFile(ctx, ring, path, "audit/seal-key", key)
}

// auditPublicKeys reads every verifier key of the signing key file: the
// current one first, then the retired ones, newest first.
func auditPublicKeys(path string) ([]string, error) {
	lines, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no audit signing key at %s yet: it is made at the first start of bulwark serve", path)
	}
	if err != nil {
		return nil, err
	}
	retired, err := retiredKeys(path, lines)
	if err != nil {
		return nil, err
	}
	return append([]string{lines[1]}, retired...), nil
}

func readKeyFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func openKeyLine(ctx context.Context, ring *keys.Ring, label, line string) ([]byte, error) {
	b64, sealed := strings.CutPrefix(line, sealedPrefix)
	if !sealed {
		return []byte(line), nil // an earlier version's clear key, sealed now
	}
	if ring == nil {
		return nil, errors.New("the key is sealed and no key-encryption key is configured (--kek, --env)")
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("sealed key: %w", err)
	}
	return ring.OpenSecret(ctx, label, ct)
}

func sealKeyLine(ctx context.Context, ring *keys.Ring, label string, key []byte) (string, error) {
	if ring == nil {
		return "", errors.New("no key-encryption key is configured (--kek, --env) to seal the audit keys with")
	}
	ct, err := ring.SealSecret(ctx, label, key)
	if err != nil {
		return "", err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(ct), nil
}

// writeKeyFile replaces path atomically with lines, mode 0600.
func writeKeyFile(path string, lines ...string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// auditKeyFiles are the data directory's audit keys as secrets sealed
// under the KEK outside the store: `bulwark keys rotate-kek` seals them
// again under the current version, and retires no version that still
// seals one of them.
func auditKeyFiles(ring *keys.Ring, dataDir string) []store.KEKSealed {
	return []store.KEKSealed{
		kekSealedFile(ring, auditSigningKeyPath(dataDir), "audit/signing-key"),
		kekSealedFile(ring, auditSealKeyPath(dataDir), "audit/seal-key"),
	}
}

// kekSealedFile is a key file whose first line is sealed under the KEK
// with label; the other lines are kept as they are. A file that does not
// exist, or whose first line is not sealed (an earlier version's, sealed
// at the next start), holds nothing sealed.
func kekSealedFile(ring *keys.Ring, path, label string) store.KEKSealed {
	sealedBy := func() ([]string, string, error) {
		lines, err := readKeyFile(path)
		if errors.Is(err, os.ErrNotExist) || err == nil && (len(lines) == 0 || !strings.HasPrefix(lines[0], sealedPrefix)) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		v := sealedLineKEK(ring, lines[0])
		if v == "" {
			v = "(a version it does not name)" // never the current one
		}
		return lines, v, nil
	}
	return store.KEKSealed{
		Name: path,
		SealedBy: func(context.Context) (string, error) {
			_, v, err := sealedBy()
			return v, err
		},
		Reseal: func(ctx context.Context) error {
			lines, v, err := sealedBy()
			if err != nil || v == "" || v == ring.KEK() {
				return err
			}
			key, err := openKeyLine(ctx, ring, label, lines[0])
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			sealed, err := sealKeyLine(ctx, ring, label, key)
			clear(key)
			if err != nil {
				return err
			}
			// Written only if the file did not change meanwhile (a start of
			// serve, or audit rotate-key, rewrote it).
			again, err := readKeyFile(path)
			if err != nil {
				return err
			}
			if !slices.Equal(again, lines) {
				return fmt.Errorf("%s changed while it was sealed again: run the command again", path)
			}
			return writeKeyFile(path, append([]string{sealed}, lines[1:]...)...)
		},
	}
}
