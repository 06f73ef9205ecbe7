// Package passkeytest is a software WebAuthn authenticator (ES256, "none"
// attestation) for tests: enough to drive the relying party through real
// registration and login ceremonies without a browser. The browser tests
// use Chromium's virtual authenticator instead.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Key is one authenticator. Its fields may be changed between ceremonies
// to make them fail: another Origin, UV false, Count set back.
type Key struct {
	Origin string // the origin the "browser" reports; default the tests' service origin
	RPID   string // the relying party id its credential is scoped to
	UV     bool   // whether it reports user verification
	Count  uint32 // the signature counter, raised by every Get

	key *ecdsa.PrivateKey
	id  []byte
}

// New returns an authenticator for the tests' default service
// (https://localhost:8443) that verifies its user.
func New() *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Key{Origin: "https://localhost:8443", RPID: "localhost", UV: true, key: k, id: id}
}

var b64 = base64.RawURLEncoding

func (k *Key) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(k.RPID))
	flags := byte(0x01) // user present
	if k.UV {
		flags |= 0x04
	}
	if attested {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.Count)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32))
		cose, _ := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
		out = append(out, cose...)
	}
	return out
}

func challenge(t testing.TB, options []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("options %s: %v", options, err)
	}
	return o.PublicKey.Challenge
}

// Create answers registration options with a new credential.
func (k *Key) Create(t testing.TB, options []byte) json.RawMessage {
	t.Helper()
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": challenge(t, options), "origin": k.Origin, "crossOrigin": false})
	att, _ := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att)}})
	return out
}

// Get answers login options with an assertion for userID.
func (k *Key) Get(t testing.TB, options []byte, userID string) json.RawMessage {
	t.Helper()
	k.Count++
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge(t, options), "origin": k.Origin, "crossOrigin": false})
	ad := k.authData(false)
	h := sha256.Sum256(cd)
	signed := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, signed[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString([]byte(userID))}})
	return out
}
