package sso

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bulwarkhq/bulwark"
)

const redirectURI = "https://bulwark.test/sso/acme/oidc/p1/callback"

type oidcEnv struct {
	bind string // the browser's binding cookie
	op   *testOP
	rp   *RP
	st   *memState
	pr   *Provider
	now  time.Time
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	e := &oidcEnv{now: time.Now().Truncate(time.Second)}
	clock := func() time.Time { return e.now }
	e.op = newTestOP(t, clock)
	e.rp = &RP{Guard: loopback, Now: clock}
	e.st = newMemState(clock)
	e.pr = &Provider{ID: "p1", TenantID: "tenant-a", Kind: KindOIDC, Issuer: e.op.srv.URL, ClientID: "client-a", ClientSecret: "secret-a"}
	return e
}

// begin starts a login and lets the OP approve it; it returns the query
// the browser would bring back to the callback.
func (e *oidcEnv) begin(t *testing.T) url.Values {
	t.Helper()
	var h string
	e.bind, h = NewBinding()
	authURL, err := e.rp.Begin(context.Background(), e.st, e.pr, redirectURI, "/console/", h)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("nonce") == "" || u.Query().Get("state") == "" {
		t.Fatalf("authorization URL lacks PKCE S256, nonce or state: %s", authURL)
	}
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != 302 {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	return loc.Query()
}

func (e *oidcEnv) finish(q url.Values) (*Identity, error) {
	id, _, err := e.rp.Finish(context.Background(), e.st, e.pr, redirectURI, q, e.bind)
	return id, err
}

func (e *oidcEnv) login(t *testing.T) (*Identity, error) {
	return e.finish(e.begin(t))
}

func mustRefuse(t *testing.T, id *Identity, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("attack succeeded: logged in as %+v", id)
	}
	t.Logf("refused: %v", err)
	if c := bulwark.ErrorCode(err); c != bulwark.EUnauthenticated && c != bulwark.EUnavailable {
		t.Fatalf("code = %s (%v), want unauthenticated", c, err)
	}
}

func TestOIDCLogin(t *testing.T) {
	e := newOIDCEnv(t)
	id, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != e.op.srv.URL || id.Subject != "sub-1" || id.Email != "ada@example.com" || !id.EmailVerified || id.MFA {
		t.Fatalf("identity = %+v", id)
	}
	e.op.claims = func(c map[string]any) { c["amr"] = []string{"pwd", "otp"} }
	if id, err = e.login(t); err != nil || !id.MFA {
		t.Fatalf("amr pwd+otp: mfa=%v err=%v", id != nil && id.MFA, err)
	}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// O1: alg none, HS256 keyed with the RSA public key, unknown kid, and keys
// offered in the header (jku, x5u, jwk) are all refused.
func TestO1AlgorithmAndKeyConfusion(t *testing.T) {
	_, other := testKeys(t)
	cases := map[string]func(e *oidcEnv) func(map[string]any) string{
		"alg none": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string {
				return b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(c) + "."
			}
		},
		"HS256 with the public key": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string {
				pub, _ := x509.MarshalPKIXPublicKey(&e.op.key.PublicKey)
				in := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": e.op.kid}) + "." + b64(c)
				m := hmac.New(sha256.New, pub)
				m.Write([]byte(in))
				return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
			}
		},
		"unknown kid": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string { return signJWT(t, other, "k-evil", jose.RS256, nil, c) }
		},
		"known kid, other key": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string { return signJWT(t, other, e.op.kid, jose.RS256, nil, c) }
		},
		"jku header": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string {
				return signJWT(t, other, "k-evil", jose.RS256, map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}, c)
			}
		},
		"x5u header": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string {
				return signJWT(t, other, "k-evil", jose.RS256, map[jose.HeaderKey]any{"x5u": "https://evil.example/cert"}, c)
			}
		},
		"embedded jwk": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string {
				s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: other}, (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"))
				b, _ := json.Marshal(c)
				jws, _ := s.Sign(b)
				out, _ := jws.CompactSerialize()
				return out
			}
		},
		"RS512 (not in the allow-list)": func(e *oidcEnv) func(map[string]any) string {
			return func(c map[string]any) string { return signJWT(t, e.op.key, e.op.kid, jose.RS512, nil, c) }
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			e := newOIDCEnv(t)
			e.op.sign = mk(e)
			id, err := e.login(t)
			mustRefuse(t, id, err)
		})
	}
}

// O2: a token from another issuer, and a discovery document naming an
// issuer other than the one configured, are refused.
func TestO2Issuer(t *testing.T) {
	t.Run("wrong iss claim", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.op.claims = func(c map[string]any) { c["iss"] = "https://accounts.google.com" }
		id, err := e.login(t)
		mustRefuse(t, id, err)
	})
	t.Run("discovery issuer mismatch", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.op.issuer = "https://evil.example"
		_, err := e.rp.Begin(context.Background(), e.st, e.pr, redirectURI, "/", "x")
		if err == nil {
			t.Fatal("discovery with a foreign issuer accepted")
		}
	})
}

// O3: the audience must be our client id; extra audiences need azp = us.
func TestO3Audience(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"aud is another client":        func(c map[string]any) { c["aud"] = "client-b" },
		"extra audience without azp":   func(c map[string]any) { c["aud"] = []string{"client-a", "client-evil"} },
		"extra audience, azp is other": func(c map[string]any) { c["aud"] = []string{"client-a", "client-evil"}; c["azp"] = "client-evil" },
		"azp is another client":        func(c map[string]any) { c["azp"] = "client-evil" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newOIDCEnv(t)
			e.op.claims = edit
			id, err := e.login(t)
			mustRefuse(t, id, err)
		})
	}
	t.Run("extra audience with azp = us passes", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.op.claims = func(c map[string]any) { c["aud"] = []string{"client-a", "other"}; c["azp"] = "client-a" }
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

// O4: expired tokens and iat/nbf beyond the allowed skew are refused.
func TestO4Time(t *testing.T) {
	for name, edit := range map[string]func(now time.Time) func(map[string]any){
		"expired": func(n time.Time) func(map[string]any) {
			return func(c map[string]any) { c["exp"] = n.Add(-3 * time.Minute).Unix() }
		},
		"iat in future": func(n time.Time) func(map[string]any) {
			return func(c map[string]any) { c["iat"] = n.Add(5 * time.Minute).Unix() }
		},
		"iat long ago": func(n time.Time) func(map[string]any) {
			return func(c map[string]any) { c["iat"] = n.Add(-2 * time.Hour).Unix() }
		},
		"no iat": func(n time.Time) func(map[string]any) { return func(c map[string]any) { delete(c, "iat") } },
		"nbf in 3 minutes": func(n time.Time) func(map[string]any) {
			return func(c map[string]any) { c["nbf"] = n.Add(3 * time.Minute).Unix() }
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newOIDCEnv(t)
			e.op.claims = edit(e.now)
			id, err := e.login(t)
			mustRefuse(t, id, err)
		})
	}
	t.Run("one minute of skew passes", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.op.claims = func(c map[string]any) { c["iat"] = e.now.Add(time.Minute).Unix() }
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

// O5: a missing or different nonce is refused, and so is an ID token
// replayed into a later login (its nonce belongs to the earlier one).
func TestO5Nonce(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"missing nonce": func(c map[string]any) { delete(c, "nonce") },
		"wrong nonce":   func(c map[string]any) { c["nonce"] = "attacker-nonce" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newOIDCEnv(t)
			e.op.claims = edit
			id, err := e.login(t)
			mustRefuse(t, id, err)
		})
	}
	t.Run("ID token replay", func(t *testing.T) {
		e := newOIDCEnv(t)
		var stolen string
		e.op.sign = func(c map[string]any) string {
			tok := signJWT(t, e.op.key, e.op.kid, jose.RS256, nil, c)
			if stolen == "" {
				stolen = tok
			}
			return stolen
		}
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
		id, err := e.login(t)
		mustRefuse(t, id, err)
	})
}

// O6: unknown state, a state used twice, a wrong PKCE verifier and a
// replayed code are refused.
func TestO6StatePKCECode(t *testing.T) {
	t.Run("unknown state", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		q.Set("state", "forged")
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("missing state", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		q.Del("state")
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("state replay", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		if _, err := e.finish(q); err != nil {
			t.Fatal(err)
		}
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("state finished in another browser", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		e.bind, _ = NewBinding()
		id, err := e.finish(q)
		mustRefuse(t, id, err)
		q = e.begin(t)
		e.bind = ""
		id, err = e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("expired state", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		e.now = e.now.Add(RequestTTL + time.Second)
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		r := e.st.reqs[q.Get("state")]
		r.Verifier = "attacker-verifier-attacker-verifier-attacker-verifier"
		e.st.reqs[q.Get("state")] = r
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("code replay with a fresh state", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		if _, err := e.finish(q); err != nil {
			t.Fatal(err)
		}
		q2 := e.begin(t)
		q2.Set("code", q.Get("code"))
		id, err := e.finish(q2)
		mustRefuse(t, id, err)
	})
}

// O7: mix-up. A callback naming another issuer (RFC 9207), or carrying a
// code another provider issued, is refused.
func TestO7MixUp(t *testing.T) {
	t.Run("iss parameter of another provider", func(t *testing.T) {
		e := newOIDCEnv(t)
		q := e.begin(t)
		q.Set("iss", "https://evil.example")
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
	t.Run("code from another provider", func(t *testing.T) {
		e := newOIDCEnv(t)
		evil := newOIDCEnv(t)
		evil.pr.ClientID = e.pr.ClientID
		q := e.begin(t)
		q.Set("code", evil.begin(t).Get("code"))
		q.Del("iss")
		id, err := e.finish(q)
		mustRefuse(t, id, err)
	})
}

// O8: identities are keyed by (iss, sub); email_verified=false is carried
// as unverified (the store never links on it); the Workspace restriction
// is the signed hd claim; allowed domains need a verified email.
func TestO8IdentityNotEmail(t *testing.T) {
	e := newOIDCEnv(t)
	a, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	e.op.subject = "sub-2"
	b, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != b.Email || a.Subject == b.Subject {
		t.Fatalf("same email, different subjects expected: %+v %+v", a, b)
	}
	e.op.claims = func(c map[string]any) { c["email_verified"] = false }
	u, err := e.login(t)
	if err != nil || u.EmailVerified {
		t.Fatalf("email_verified=false: %+v %v", u, err)
	}
	e.op.claims = func(c map[string]any) { c["email_verified"] = "false" }
	if u, err = e.login(t); err != nil || u.EmailVerified {
		t.Fatalf(`email_verified="false": %+v %v`, u, err)
	}

	t.Run("Entra xms_edov counts only without email_verified", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.op.claims = func(c map[string]any) { delete(c, "email_verified"); c["xms_edov"] = true }
		if u, err := e.login(t); err != nil || !u.EmailVerified {
			t.Fatalf("%+v %v", u, err)
		}
		e.op.claims = func(c map[string]any) { c["email_verified"] = false; c["xms_edov"] = true }
		if u, err := e.login(t); err != nil || u.EmailVerified {
			t.Fatalf("%+v %v", u, err)
		}
		e.op.claims = func(c map[string]any) { delete(c, "email_verified") }
		if u, err := e.login(t); err != nil || u.EmailVerified {
			t.Fatalf("%+v %v", u, err)
		}
	})
	t.Run("allowed domain needs a verified email", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.pr.AllowedDomains = []string{"example.com"}
		e.op.claims = func(c map[string]any) { c["email_verified"] = false }
		id, err := e.login(t)
		mustRefuse(t, id, err)
		e.op.claims = func(c map[string]any) { c["email"] = "mallory@evil.com" }
		id, err = e.login(t)
		mustRefuse(t, id, err)
	})
	t.Run("hd from the signed claim, not the email", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.pr.HostedDomain = "example.com"
		id, err := e.login(t) // email in example.com, no hd claim
		mustRefuse(t, id, err)
		e.op.claims = func(c map[string]any) { c["hd"] = "evil.com" }
		id, err = e.login(t)
		mustRefuse(t, id, err)
		e.op.claims = func(c map[string]any) { c["hd"] = "example.com" }
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

// Cross-tenant (ISO-2): tenant B's ID token at tenant A is refused (its
// audience is B's client), and a state begun for tenant B does not finish
// at tenant A's provider.
func TestOIDCCrossTenant(t *testing.T) {
	e := newOIDCEnv(t)
	prB := &Provider{ID: "p2", TenantID: "tenant-b", Kind: KindOIDC, Issuer: e.op.srv.URL, ClientID: "client-b", ClientSecret: "secret-b"}
	t.Run("tenant B's state at tenant A", func(t *testing.T) {
		_, hb := NewBinding()
		authURL, err := e.rp.Begin(context.Background(), e.st, prB, redirectURI, "/", hb)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		id, err := e.finish(loc.Query())
		mustRefuse(t, id, err)
	})
	t.Run("tenant B's ID token at tenant A", func(t *testing.T) {
		q := e.begin(t)
		nonce := e.st.reqs[q.Get("state")].Nonce
		tokB := signJWT(t, e.op.key, e.op.kid, jose.RS256, nil, e.op.baseClaims("client-b", nonce))
		id, err := e.rp.Verify(context.Background(), e.pr, tokB, nonce)
		mustRefuse(t, id, err)
	})
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/console/users":          "/console/users",
		"":                        "/",
		"https://evil.example/":   "/",
		"//evil.example/":         "/",
		"/\\evil.example":         "/",
		"javascript:alert(1)":     "/",
		"/ok?x=1":                 "/ok?x=1",
		"http:/evil":              "/",
		" /x":                     "/",
		"/x\r\nSet-Cookie: a=b":   "/",
		strings.Repeat("/a", 300): "/",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}
