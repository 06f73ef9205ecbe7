package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// The audit log's two deployment keys live in the data directory, mode
// 0600, with their secret halves sealed under the key-encryption key
// (keys.Ring.SealSecret), like every other secret of Bulwark's (DATA-3):
// a copy of the data directory without the KEK does not yield them.
//
//	audit-signing.key  line 1: "sealed:" + the sealed Ed25519 signer key
//	                   line 2: the verifier (public) key, in clear
//	audit-seal.key     line 1: "sealed:" + the sealed HMAC key
//
// Files written by earlier versions, with the secrets in clear, are sealed
// in place at the next start. Each start also seals them again under the
// KEK's current version, so a retired KEK version never strands them.
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
	if len(lines) != 2 {
		return nil, fmt.Errorf("%s: want two lines (sealed private key, public key)", path)
	}
	skey, err := openKeyLine(ctx, ring, "audit/signing-key", lines[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := audit.NewSigner(string(skey), lines[1])
	if err != nil {
		return nil, err
	}
	sealed, err := sealKeyLine(ctx, ring, "audit/signing-key", skey)
	if err != nil {
		return nil, err
	}
	return s, writeKeyFile(path, sealed, lines[1])
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
	sealed, err := sealKeyLine(ctx, ring, "audit/seal-key", key)
	if err != nil {
		return nil, err
	}
	return key, writeKeyFile(path, sealed)
}

// auditPublicKey reads the verifier key from the signing key file.
func auditPublicKey(path string) (string, error) {
	lines, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no audit signing key at %s yet: it is made at the first start of bulwark serve", path)
	}
	if err != nil {
		return "", err
	}
	if len(lines) != 2 {
		return "", fmt.Errorf("audit key file %s is malformed", path)
	}
	return lines[1], nil
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
