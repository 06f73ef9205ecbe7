package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// softKey is a software WebAuthn authenticator (ES256, "none"
// attestation), enough to drive the relying party through real
// ceremonies. The browser tests use Chromium's virtual authenticator.
type softKey struct {
	key    *ecdsa.PrivateKey
	id     []byte
	count  uint32
	origin string
	rpID   string
	uv     bool
}

func newSoftKey() *softKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{key: k, id: id, origin: "https://localhost:8443", rpID: "localhost", uv: true}
}

var b64 = base64.RawURLEncoding

func (k *softKey) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	flags := byte(0x01) // UP
	if k.uv {
		flags |= 0x04
	}
	if attested {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
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

func challengeOf(t *testing.T, options json.RawMessage) string {
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

func (k *softKey) create(t *testing.T, options json.RawMessage) []byte {
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": challengeOf(t, options), "origin": k.origin, "crossOrigin": false})
	att, _ := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att)}})
	return out
}

func (k *softKey) get(t *testing.T, options json.RawMessage, userID string) []byte {
	k.count++
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challengeOf(t, options), "origin": k.origin, "crossOrigin": false})
	ad := k.authData(false)
	h := sha256.Sum256(cd)
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, sha256Sum(append(append([]byte{}, ad...), h[:]...)))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString([]byte(userID))}})
	return out
}

func sha256Sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// TestPasskeys: registration with user verification, a login that owes
// its second factor completed with the passkey, a replayed challenge, a
// wrong origin, missing user verification and a cloned authenticator
// (sign count going backwards) all refused (AUTH-3; security test 12).
func TestPasskeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		own, _ := e.Tenant(t, "acme")
		userID := bulwark.FromContext(own).ID
		k := newSoftKey()
		// Without user verification: refused.
		opts, err := e.Auth.BeginPasskeyRegistration(own)
		if err != nil {
			t.Fatal(err)
		}
		k.uv = false
		_, err = e.Auth.FinishPasskeyRegistration(own, "laptop", k.create(t, opts))
		wantCode(t, err, bulwark.EUnauthenticated)
		k.uv = true
		// The challenge was used up by the failed attempt.
		_, err = e.Auth.FinishPasskeyRegistration(own, "laptop", k.create(t, opts))
		wantCode(t, err, bulwark.EFailedPrecondition)
		opts, _ = e.Auth.BeginPasskeyRegistration(own)
		s, err := e.Auth.FinishPasskeyRegistration(own, "laptop", k.create(t, opts))
		if err != nil {
			t.Fatal(err)
		}
		e.mail.next(t, "passkey was added")
		keys, err := e.Auth.Passkeys(e.ctx(t, s))
		if err != nil || len(keys) != 1 || keys[0].Name != "laptop" {
			t.Fatalf("passkeys %+v, %v", keys, err)
		}
		// Login: the password alone owes the passkey.
		l := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		if l.Next != bulwark.StageMFA {
			t.Fatalf("stage %q", l.Next)
		}
		lctx := e.ctx(t, l)
		opts, err = e.Auth.BeginPasskeyLogin(lctx)
		if err != nil {
			t.Fatal(err)
		}
		// Wrong origin (phishing site): refused, and the challenge is spent.
		k.origin = "https://evil.example"
		_, err = e.Auth.FinishPasskeyLogin(lctx, k.get(t, opts, userID))
		wantCode(t, err, bulwark.EUnauthenticated)
		k.origin = "https://localhost:8443"
		_, err = e.Auth.FinishPasskeyLogin(lctx, k.get(t, opts, userID))
		wantCode(t, err, bulwark.EFailedPrecondition)
		opts, _ = e.Auth.BeginPasskeyLogin(lctx)
		full, err := e.Auth.FinishPasskeyLogin(lctx, k.get(t, opts, userID))
		if err != nil {
			t.Fatal(err)
		}
		if full.Next != "" {
			t.Fatalf("after the passkey: %q", full.Next)
		}
		// A cloned authenticator: its counter goes backwards.
		l2 := e.mustLogin(t, "acme", owner("acme"), storetest.Password)
		opts, _ = e.Auth.BeginPasskeyLogin(e.ctx(t, l2))
		k.count = 0
		_, err = e.Auth.FinishPasskeyLogin(e.ctx(t, l2), k.get(t, opts, userID))
		wantCode(t, err, bulwark.EUnauthenticated)
		e.mail.next(t, "may have been copied")
	})
}

// TestOperatorPasskey: an operator enrols a passkey as their second
// factor (phishing-resistant MFA for staff) and signs in with it.
func TestOperatorPasskey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		ctx := context.Background()
		_, inv, err := e.CreateOperator(storetest.System(ctx), "ops@vendor.example", bulwark.OperatorAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s, _ := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		p, _ := e.Auth.Authenticate(ctx, s.Token)
		opID := p.ID
		k := newSoftKey()
		octx := bulwark.NewContext(ctx, p)
		opts, err := e.Auth.BeginPasskeyRegistration(octx)
		if err != nil {
			t.Fatal(err)
		}
		full, err := e.Auth.FinishPasskeyRegistration(octx, "yubikey", k.create(t, opts))
		if err != nil || full.Next != "" {
			t.Fatalf("registration: %+v, %v", full, err)
		}
		s2, _ := e.Auth.OperatorLogin(ctx, "ops@vendor.example", storetest.Password)
		if s2.Next != bulwark.StageMFA {
			t.Fatalf("second login owes %q", s2.Next)
		}
		p2, _ := e.Auth.Authenticate(ctx, s2.Token)
		o2 := bulwark.NewContext(ctx, p2)
		opts, err = e.Auth.BeginPasskeyLogin(o2)
		if err != nil {
			t.Fatal(err)
		}
		done, err := e.Auth.FinishPasskeyLogin(o2, k.get(t, opts, opID))
		if err != nil || done.Next != "" {
			t.Fatalf("passkey login: %+v, %v", done, err)
		}
		p3, err := e.Auth.Authenticate(ctx, done.Token)
		if err != nil || p3.Kind != bulwark.KindOperator || p3.Stage != "" {
			t.Fatalf("operator principal %+v, %v", p3, err)
		}
		if _, err := e.ListTenants(bulwark.NewContext(ctx, p3)); err != nil {
			t.Fatal(err)
		}
	})
}
