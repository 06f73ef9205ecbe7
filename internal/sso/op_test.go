package sso

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testOP is a minimal OpenID provider signing with go-jose: discovery,
// JWKS, an authorize endpoint that approves at once, and a token endpoint
// that enforces PKCE S256 and single-use codes. Tests change the claims
// and headers it signs to play an attacker.
type testOP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	kid    string
	issuer string // the issuer it claims in discovery (default its URL)
	now    func() time.Time

	mu      sync.Mutex
	codes   map[string]*opCode
	subject string
	email   string
	// claims, if set, edits the ID token's claims before signing.
	claims func(map[string]any)
	// sign, if set, replaces signing (to forge tokens).
	sign func(claims map[string]any) string
}

type opCode struct {
	challenge, nonce, clientID string
	used                       bool
}

var rsaKeys = struct {
	sync.Once
	a, b *rsa.PrivateKey
}{}

func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	rsaKeys.Do(func() {
		var err error
		if rsaKeys.a, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKeys.b, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKeys.a, rsaKeys.b
}

func newTestOP(t *testing.T, now func() time.Time) *testOP {
	a, _ := testKeys(t)
	op := &testOP{t: t, key: a, kid: "k1", now: now, codes: map[string]*opCode{}, subject: "sub-1", email: "ada@example.com"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := op.issuer
		if iss == "" {
			iss = op.srv.URL
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss,
			"authorization_endpoint":                op.srv.URL + "/authorize",
			"token_endpoint":                        op.srv.URL + "/token",
			"jwks_uri":                              op.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported":      []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: op.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "PKCE S256 required", http.StatusBadRequest)
			return
		}
		code := randomToken()
		op.mu.Lock()
		op.codes[code] = &opCode{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), clientID: q.Get("client_id")}
		op.mu.Unlock()
		u, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.srv.URL}}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		c := op.codes[r.PostForm.Get("code")]
		ok := c != nil && !c.used
		if ok {
			c.used = true
		}
		op.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60,
			"id_token": op.idToken(c.clientID, c.nonce)})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *testOP) baseClaims(clientID, nonce string) map[string]any {
	now := op.now()
	return map[string]any{
		"iss": op.srv.URL, "sub": op.subject, "aud": clientID, "nonce": nonce,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": op.email, "email_verified": true, "name": "Ada",
	}
}

func (op *testOP) idToken(clientID, nonce string) string {
	c := op.baseClaims(clientID, nonce)
	if op.claims != nil {
		op.claims(c)
	}
	if op.sign != nil {
		return op.sign(c)
	}
	return signJWT(op.t, op.key, op.kid, jose.RS256, nil, c)
}

func signJWT(t *testing.T, key any, kid string, alg jose.SignatureAlgorithm, extra map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{ExtraHeaders: extra}).WithType("JWT")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// loopback is the operator allow-list the tests use.
var loopback = &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// noRedirect is a client that stops at the first redirect.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
