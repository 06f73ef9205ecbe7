// Package secret makes and reads Bulwark's bearer secrets: sessions, API
// tokens and one-time activation secrets.
//
// A secret reads kind_scope_random: the kind says what it is, the scope
// names the tenant (or "op" for operators) so the store can open the right
// tenant-scoped transaction before looking it up, and random is 256 bits
// from crypto/rand. Only the SHA-256 of the whole secret is stored: a
// database leak reveals no usable credential.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Kinds of secret.
const (
	Session    = "bws" // a login session
	Token      = "bwt" // an API token
	Activation = "bwa" // a one-time activation (invitation) secret
	Reset      = "bwr" // a one-time password reset secret
)

// OperatorScope is the scope of operators' secrets.
const OperatorScope = "op"

// New returns a fresh secret of kind for scope, and the hash to store.
func New(kind, scope string) (plain, hash string) {
	plain = kind + "_" + scope + "_" + rand.Text() + rand.Text()
	return plain, Hash(plain)
}

// Hash returns the stored form of a secret.
func Hash(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// Parse splits a secret into its kind and scope. It checks the shape only;
// whether the secret is valid is the store's question.
func Parse(plain string) (kind, scope string, ok bool) {
	if len(plain) > 200 {
		return "", "", false
	}
	parts := strings.SplitN(plain, "_", 3)
	if len(parts) != 3 || parts[1] == "" || len(parts[2]) < 40 {
		return "", "", false
	}
	switch parts[0] {
	case Session, Token, Activation, Reset:
		return parts[0], parts[1], true
	}
	return "", "", false
}

// RandomID returns a random identifier safe to show: 128 bits, base64url.
func RandomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
