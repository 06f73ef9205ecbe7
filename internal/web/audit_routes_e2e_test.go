package web

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/pquerna/otp/totp"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/passkeytest"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// auditCase is one mutating route's request, made to succeed, and the
// one audit entry it must leave.
type auditCase struct {
	do         func() resp // the request (after any setup of its own)
	status     int
	action     string
	actorKind  string
	actorID    string // "" = not checked (a new principal)
	targetKind string
	targetID   string // "" = not checked (an id the request makes)
	// also are further actions the request records, each once: a
	// request that does several things records each (a tenant's creation
	// also invites its owner).
	also []string
	// none, when set, says why a successful request of this route
	// records nothing; the test checks that it records nothing.
	none string
}

// TestE2EEveryMutatingRouteAudited is DATA-5 and PRIV-2 driven by the
// route table: every route that changes something, made to succeed,
// leaves exactly one audit entry of its own request (found by its
// X-Request-Id), with the right actor, action and target; no personal
// value seeded through the requests appears in any entry. A mutating
// route this test does not know fails it: a new route must come with its
// case here, or an exemption naming the test that covers it.
func TestE2EEveryMutatingRouteAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		const (
			canaryEmail = "canary.route@acme.example"
			canaryValue = "canary-route-value-4417"
		)
		owner := e.tenant("acme")
		ownerID := decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", owner, nil), 200)).ID
		_, sec := e.operatorSession("sec@vendor.example", bulwark.OperatorSecurity)
		admID, adm := e.operatorSession("adm@vendor.example", bulwark.OperatorAdmin)
		fields := []bulwark.Field{
			{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal},
			{Name: "email", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal},
		}
		e.collection(owner, "notes", fields...)
		rec := e.record(owner, "notes", map[string]any{"title": "x", "email": canaryValue})

		// Fresh objects for the cases that change or delete one.
		invite := func(email string) (string, string) {
			out := decodeInto[inviteUserResponse](t, e.want(e.do("POST", "/api/v1/users", owner, inviteUserRequest{Email: email, Grants: []grantRequest{{Role: bulwark.RoleViewer}}}), 201))
			return out.User.ID, out.Invitation.Token
		}
		userWithSession := func(email string) (string, string) {
			return e.user(owner, "acme", email, bulwark.Grant{Role: bulwark.RoleViewer})
		}
		provider := func() string {
			v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner,
				`{"kind":"oidc","name":"IdP","issuer":"https://idp.acme.example","client_id":"c","client_secret":"s"}`), 201))
			return v["id"].(string)
		}
		// A user with an authenticator app enrolled, logged in completely.
		totpUser := func(email string) (id, tok, secret string) {
			id, tok = userWithSession(email)
			en := decodeInto[bulwark.TOTPEnrolment](t, e.want(e.do("POST", "/api/v1/auth/mfa/totp", tok, nil), 200))
			code, _ := totp.GenerateCode(en.Secret, e.fx.Clock.Now())
			r := decodeInto[totpConfirmResponse](t, e.want(e.do("POST", "/api/v1/auth/mfa/totp/confirm", tok, codeRequest{Code: code}), 200))
			return id, r.Token, en.Secret
		}

		// A user with a passkey, and a new login of theirs that owes it.
		passkeyUser := func(email string) (string, *passkeytest.Key, string) {
			id, tok := userWithSession(email)
			k := passkeytest.New()
			opts := e.want(e.do("POST", "/api/v1/auth/mfa/passkey/register", tok, nil), 200).body
			e.want(e.do("POST", "/api/v1/auth/mfa/passkey/register/finish", tok, passkeyFinishRequest{Name: "key", Credential: k.Create(t, opts)}), 200)
			s := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: email, Password: storetest.Password}), 200))
			if s.Next != bulwark.StageMFA {
				t.Fatalf("a login with a passkey enrolled owes %q", s.Next)
			}
			return id, k, s.Token
		}

		// A SAML provider at an in-process IdP with a user, made once.
		var idp *testSAMLIdP
		var samlID, samlSLO string
		samlProvider := func() {
			if idp != nil {
				return
			}
			idp = startSAMLIdP(t)
			idp.addUser(t, "carol", "carol@acme.example", "hunter2hunter2")
			v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
				"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer",
			}), 201))
			r, err := e.browser().Get(v["sp_metadata_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			idp.addSP(t, "acme", []byte(readAll(t, r)))
			samlID, samlSLO = v["id"].(string), v["sp_slo_url"].(string)
		}
		asResp := func(r *http.Response) resp {
			r.Body.Close()
			return resp{status: r.StatusCode, header: r.Header}
		}

		cases := map[string]func() auditCase{
			"POST /api/v1/auth/login": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password})
				}, status: 200, action: "auth.login", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: ownerID}
			},
			"POST /api/v1/auth/activate": func() auditCase {
				id, tok := invite("activate@acme.example")
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: tok, Password: storetest.Password})
				}, status: 204, action: "auth.activate", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/logout": func() auditCase {
				tok := e.login("acme", "owner@acme.example")
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/logout", tok, nil) },
					status: 204, action: "auth.logout", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: ownerID}
			},
			"POST /api/v1/auth/password": func() auditCase {
				id, tok := userWithSession("pw@acme.example")
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/password", tok, passwordChangeRequest{CurrentPassword: storetest.Password, NewPassword: "saffron kettle drum parade"})
				}, status: 200, action: "auth.password_change", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/reauth": func() auditCase {
				tok := e.login("acme", "owner@acme.example") // reauth replaces the session
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/reauth", tok, reauthRequest{Password: storetest.Password})
				},
					status: 200, action: "auth.reauth", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: ownerID}
			},
			"POST /api/v1/auth/mfa/totp": func() auditCase {
				id, tok := userWithSession("totp-begin@acme.example")
				_ = id
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/totp", tok, nil) }, status: 200,
					none: "it only stores a pending secret, which authenticates nothing until confirmed; the confirmation is recorded (mfa.totp_enrol)"}
			},
			"POST /api/v1/auth/mfa/totp/confirm": func() auditCase {
				id, tok := userWithSession("totp-confirm@acme.example")
				en := decodeInto[bulwark.TOTPEnrolment](t, e.want(e.do("POST", "/api/v1/auth/mfa/totp", tok, nil), 200))
				code, _ := totp.GenerateCode(en.Secret, e.fx.Clock.Now())
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/totp/confirm", tok, codeRequest{Code: code}) },
					status: 200, action: "mfa.totp_enrol", actorKind: "user", actorID: id, targetKind: "user", targetID: id, also: []string{"mfa.recovery_codes"}}
			},
			"POST /api/v1/auth/mfa/verify": func() auditCase {
				id, _, secret := totpUser("verify@acme.example")
				s := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: "verify@acme.example", Password: storetest.Password}), 200))
				e.fx.Clock.Advance(31e9) // a new TOTP step: a code is used once
				code, _ := totp.GenerateCode(secret, e.fx.Clock.Now())
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/verify", s.Token, codeRequest{Code: code}) },
					status: 200, action: "auth.mfa", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/auth/mfa/totp": func() auditCase {
				id, tok, _ := totpUser("totp-remove@acme.example")
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/auth/mfa/totp", tok, nil) },
					status: 200, action: "mfa.totp_remove", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/mfa/recovery-codes": func() auditCase {
				id, tok, _ := totpUser("recovery@acme.example")
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/recovery-codes", tok, nil) },
					status: 200, action: "mfa.recovery_codes", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/auth/sessions/{id}": func() auditCase {
				id, _ := userWithSession("two-sessions@acme.example")
				second := e.login("acme", "two-sessions@acme.example")
				ss := decodeInto[struct{ Sessions []bulwark.SessionInfo }](t, e.want(e.do("GET", "/api/v1/auth/sessions", second, nil), 200))
				var target string
				for _, s := range ss.Sessions {
					if !s.Current {
						target = s.ID
					}
				}
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/auth/sessions/"+target, second, nil) },
					status: 204, action: "session.revoke", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/password/reset-request": func() auditCase {
				userWithSession("reset-request@acme.example")
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/password/reset-request", "", resetRequestRequest{Tenant: "acme", Email: "reset-request@acme.example"})
				}, status: 202, action: "auth.password_reset_request", actorKind: "user", targetKind: "user"}
			},
			"POST /api/v1/auth/password/reset": func() auditCase {
				id, _ := userWithSession("reset@acme.example")
				r, err := e.fx.CreatePasswordReset(context.Background(), "acme", "reset@acme.example", time.Hour)
				if err != nil || r == nil {
					t.Fatalf("reset token: %v", err)
				}
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/password/reset", "", resetRequest{Token: r.Token, Password: "saffron kettle drum parade 3"})
				}, status: 204, action: "auth.password_reset", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/mfa/passkey/register": func() auditCase {
				_, tok := userWithSession("pk-begin@acme.example")
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/passkey/register", tok, nil) }, status: 200,
					none: "it only issues a challenge; the registration is recorded when it finishes"}
			},
			"POST /api/v1/auth/mfa/passkey/register/finish": func() auditCase {
				id, tok := userWithSession("pk-add@acme.example")
				opts := e.want(e.do("POST", "/api/v1/auth/mfa/passkey/register", tok, nil), 200).body
				cred := passkeytest.New().Create(t, opts)
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/mfa/passkey/register/finish", tok, passkeyFinishRequest{Name: "laptop", Credential: cred})
				}, status: 200, action: "mfa.passkey_add", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /api/v1/auth/mfa/passkey/login": func() auditCase {
				_, _, login := passkeyUser("pk-login-begin@acme.example")
				return auditCase{do: func() resp { return e.do("POST", "/api/v1/auth/mfa/passkey/login", login, nil) }, status: 200,
					none: "it only issues a challenge; the login is recorded when it finishes"}
			},
			"POST /api/v1/auth/mfa/passkey/login/finish": func() auditCase {
				id, k, login := passkeyUser("pk-login@acme.example")
				opts := e.want(e.do("POST", "/api/v1/auth/mfa/passkey/login", login, nil), 200).body
				cred := k.Get(t, opts, id)
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/auth/mfa/passkey/login/finish", login, passkeyFinishRequest{Credential: cred})
				}, status: 200, action: "auth.mfa", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/auth/mfa/passkeys/{id}": func() auditCase {
				id, tok := userWithSession("pk-remove@acme.example")
				opts := e.want(e.do("POST", "/api/v1/auth/mfa/passkey/register", tok, nil), 200).body
				s := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/mfa/passkey/register/finish", tok, passkeyFinishRequest{Name: "old", Credential: passkeytest.New().Create(t, opts)}), 200))
				pks := decodeInto[struct{ Passkeys []bulwark.PasskeyInfo }](t, e.want(e.do("GET", "/api/v1/auth/mfa/passkeys", s.Token, nil), 200))
				if len(pks.Passkeys) != 1 {
					t.Fatalf("passkeys: %+v", pks)
				}
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/auth/mfa/passkeys/"+pks.Passkeys[0].ID, s.Token, nil) },
					status: 200, action: "mfa.passkey_remove", actorKind: "user", actorID: id, targetKind: "user", targetID: id}
			},
			"POST /sso/{tenant}/saml/{provider}/acs": func() auditCase {
				samlProvider()
				c := e.browser()
				r, err := c.Get(e.srv.URL + "/sso/acme/" + samlID + "/start")
				if err != nil {
					t.Fatal(err)
				}
				r = submitForm(t, c, idp.srv.URL, readAll(t, r), url.Values{"user": {"carol"}, "password": {"hunter2hunter2"}})
				acsPage := readAll(t, r)
				return auditCase{do: func() resp { return asResp(submitForm(t, c, idp.srv.URL, acsPage, nil)) },
					status: http.StatusSeeOther, action: "auth.login", actorKind: "user", targetKind: "user",
					also: []string{"sso.identity.link", "user.provision"}} // the first login provisions carol
			},
			"POST /sso/{tenant}/saml/{provider}/slo": func() auditCase {
				samlProvider()
				e.samlLogin(t, idp, "acme", samlID, "carol", "hunter2hunter2")
				// The IdP's logout request by the HTTP-POST binding, signed.
				sp := idp.messages(idp.key, samlSLO)
				sp.IDPMetadata.IDPSSODescriptors[0].SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPPostBinding, Location: samlSLO}}
				form, err := sp.MakePostLogoutRequest("carol@acme.example", "")
				if err != nil {
					t.Fatal(err)
				}
				nc := e.srv.Client()
				nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				return auditCase{do: func() resp { return asResp(submitForm(t, nc, "", string(form), nil)) },
					// The IdP ends the session: no principal of ours acts.
					status: http.StatusSeeOther, action: "auth.logout", actorKind: "anonymous", targetKind: "user"}
			},
			"POST /api/v1/operator/login": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/operator/login", "", operatorLoginRequest{Email: "adm@vendor.example", Password: storetest.Password})
				}, status: 200, action: "auth.login", actorKind: "operator", actorID: admID, targetKind: "operator", targetID: admID}
			},
			"POST /api/v1/operator/tenants": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/operator/tenants", adm, createTenantRequest{Slug: "globex", Name: "Globex", AdminEmail: canaryEmail})
				}, status: 201, action: "tenant.create", actorKind: "operator", actorID: admID, targetKind: "tenant", also: []string{"user.invite"}}
			},
			"POST /api/v1/operator/operators": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/operator/operators", adm, createOperatorRequest{Email: "new-op@vendor.example", Roles: []bulwark.OperatorRole{bulwark.OperatorSecurity}})
				}, status: 201, action: "operator.create", actorKind: "operator", actorID: admID, targetKind: "operator"}
			},
			"POST /api/v1/users": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/users", owner, inviteUserRequest{Email: canaryEmail, Grants: []grantRequest{{Role: bulwark.RoleViewer}}})
				}, status: 201, action: "user.invite", actorKind: "user", actorID: ownerID, targetKind: "user"}
			},
			"PATCH /api/v1/users/{id}": func() auditCase {
				id, _ := invite("patch@acme.example")
				return auditCase{do: func() resp {
					return e.do("PATCH", "/api/v1/users/"+id, owner, `{"grants":[{"role":"editor"}]}`)
				}, status: 200, action: "user.update", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/users/{id}": func() auditCase {
				id, _ := invite("delete@acme.example")
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/users/"+id, owner, nil) },
					status: 204, action: "user.delete", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/users/{id}/sessions": func() auditCase {
				id, _ := userWithSession("sessions@acme.example")
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/users/"+id+"/sessions", owner, nil) },
					status: 204, action: "session.revoke_all", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: id}
			},
			"DELETE /api/v1/users/{id}/mfa": func() auditCase {
				id, _, _ := totpUser("mfa-reset@acme.example")
				tok := e.login("acme", "owner@acme.example")
				re := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/auth/reauth", tok, reauthRequest{Password: storetest.Password}), 200))
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/users/"+id+"/mfa", re.Token, nil) },
					status: 204, action: "mfa.reset", actorKind: "user", actorID: ownerID, targetKind: "user", targetID: id}
			},
			"PUT /api/v1/settings/password-policy": func() auditCase {
				return auditCase{do: func() resp { return e.do("PUT", "/api/v1/settings/password-policy", owner, `{"min_length":16}`) },
					status: 200, action: "settings.update", actorKind: "user", actorID: ownerID, targetKind: "tenant"}
			},
			"PUT /api/v1/settings/authentication": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("PUT", "/api/v1/settings/authentication", owner, `{"password_policy":{"min_length":15},"mfa":"optional","session_idle_minutes":30,"session_absolute_minutes":720}`)
				}, status: 200, action: "settings.update", actorKind: "user", actorID: ownerID, targetKind: "tenant"}
			},
			"PUT /api/v1/settings/sso": func() auditCase {
				return auditCase{do: func() resp { return e.do("PUT", "/api/v1/settings/sso", owner, `{"sso_only":false}`) },
					status: 200, action: "settings.sso", actorKind: "user", actorID: ownerID, targetKind: "tenant"}
			},
			"POST /api/v1/settings/sso/providers": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/settings/sso/providers", owner, `{"kind":"oidc","name":"IdP2","issuer":"https://idp2.acme.example","client_id":"c","client_secret":"s"}`)
				}, status: 201, action: "sso.provider.create", actorKind: "user", actorID: ownerID, targetKind: "sso_provider"}
			},
			"PUT /api/v1/settings/sso/providers/{id}": func() auditCase {
				id := provider()
				return auditCase{do: func() resp {
					return e.do("PUT", "/api/v1/settings/sso/providers/"+id, owner, `{"kind":"oidc","name":"IdP renamed","issuer":"https://idp.acme.example","client_id":"c"}`)
				}, status: 200, action: "sso.provider.update", actorKind: "user", actorID: ownerID, targetKind: "sso_provider", targetID: id}
			},
			"DELETE /api/v1/settings/sso/providers/{id}": func() auditCase {
				id := provider()
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/settings/sso/providers/"+id, owner, nil) },
					status: 204, action: "sso.provider.delete", actorKind: "user", actorID: ownerID, targetKind: "sso_provider", targetID: id}
			},
			"POST /api/v1/settings/sso/providers/{id}/sp-keys": func() auditCase {
				idp := startSAMLIdP(t)
				v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
					"kind": "saml", "name": "SAML IdP", "metadata_url": idp.srv.URL + "/metadata"}), 201))
				id := v["id"].(string)
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/settings/sso/providers/"+id+"/sp-keys", owner, `{"action":"prepare"}`)
				}, status: 200, action: "sso.provider.key_prepare", actorKind: "user", actorID: ownerID, targetKind: "sso_provider", targetID: id}
			},
			"POST /api/v1/roles": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "reader", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}})
				}, status: 201, action: "role.create", actorKind: "user", actorID: ownerID, targetKind: "role", targetID: "reader"}
			},
			"DELETE /api/v1/roles/{name}": func() auditCase {
				e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "gone", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}), 201)
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/roles/gone", owner, nil) },
					status: 204, action: "role.delete", actorKind: "user", actorID: ownerID, targetKind: "role", targetID: "gone"}
			},
			"POST /api/v1/tokens": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/tokens", owner, createTokenRequest{Name: "ci", Grant: grantRequest{Role: bulwark.RoleViewer}})
				}, status: 201, action: "token.create", actorKind: "user", actorID: ownerID, targetKind: "token"}
			},
			"DELETE /api/v1/tokens/{id}": func() auditCase {
				tk := decodeInto[*bulwark.CreatedToken](t, e.want(e.do("POST", "/api/v1/tokens", owner, createTokenRequest{Name: "gone", Grant: grantRequest{Role: bulwark.RoleViewer}}), 201))
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/tokens/"+tk.ID, owner, nil) },
					status: 204, action: "token.revoke", actorKind: "user", actorID: ownerID, targetKind: "token", targetID: tk.ID}
			},
			"POST /api/v1/collections": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/collections", owner, createCollectionRequest{Name: "more", Fields: []fieldRequest{{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal}}})
				}, status: 201, action: "collection.create", actorKind: "user", actorID: ownerID, targetKind: "collection", targetID: "more"}
			},
			"PATCH /api/v1/collections/{collection}": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("PATCH", "/api/v1/collections/notes", owner, updateCollectionRequest{AddFields: []fieldRequest{{Name: "extra", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal}}})
				}, status: 200, action: "collection.update", actorKind: "user", actorID: ownerID, targetKind: "collection", targetID: "notes"}
			},
			"DELETE /api/v1/collections/{collection}": func() auditCase {
				e.collection(owner, "doomed", fields...)
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/collections/doomed", owner, nil) },
					status: 204, action: "collection.delete", actorKind: "user", actorID: ownerID, targetKind: "collection", targetID: "doomed"}
			},
			"POST /api/v1/collections/{collection}/records": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("POST", "/api/v1/collections/notes/records", owner, map[string]any{"title": "y", "email": canaryValue})
				}, status: 201, action: "record.create", actorKind: "user", actorID: ownerID, targetKind: "record"}
			},
			"PATCH /api/v1/collections/{collection}/records/{id}": func() auditCase {
				return auditCase{do: func() resp {
					return e.do("PATCH", "/api/v1/collections/notes/records/"+rec.ID, owner, map[string]any{"email": canaryValue + "2"})
				}, status: 200, action: "record.update", actorKind: "user", actorID: ownerID, targetKind: "record", targetID: "notes/" + rec.ID}
			},
			"DELETE /api/v1/collections/{collection}/records/{id}": func() auditCase {
				r := e.record(owner, "notes", map[string]any{"title": "doomed"})
				return auditCase{do: func() resp { return e.do("DELETE", "/api/v1/collections/notes/records/"+r.ID, owner, nil) },
					status: 204, action: "record.delete", actorKind: "user", actorID: ownerID, targetKind: "record", targetID: "notes/" + r.ID}
			},
		}
		// Routes whose success needs a ceremony this test cannot run with
		// plain requests; each names the test that covers its audit entry.
		exempt := map[string]string{}

		var entries strings.Builder
		for _, rt := range e.api.routes {
			if rt.method == http.MethodGet {
				continue
			}
			p := rt.pattern()
			if why, ok := exempt[p]; ok {
				t.Logf("%s: exempt: %s", p, why)
				continue
			}
			mk, ok := cases[p]
			if !ok {
				t.Errorf("%s: mutating route without an audit case: add one to this test", p)
				continue
			}
			c := mk() // setup, in the parent test
			t.Run(p, func(t *testing.T) {
				r := c.do()
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				id := r.header.Get("X-Request-Id")
				list := decodeInto[listResponse[*bulwark.AuditEntry]](t, e.want(e.do("GET", "/api/v1/operator/audit?limit=100&request="+id, sec, nil), 200))
				var got *bulwark.AuditEntry
				also := map[string]int{}
				for _, it := range list.Items {
					fmt.Fprintf(&entries, "%+v\n", *it)
					if it.Action == c.action && got == nil {
						got = it
						continue
					}
					also[it.Action]++
				}
				if c.none != "" {
					if len(list.Items) != 0 {
						t.Fatalf("%d entries, want none (%s)", len(list.Items), c.none)
					}
					return
				}
				want := map[string]int{}
				for _, a := range c.also {
					want[a]++
				}
				if got == nil || !maps.Equal(also, want) {
					for _, it := range list.Items {
						t.Logf("entry %+v", *it)
					}
					t.Fatalf("want one %s entry and %v, have %d entries", c.action, c.also, len(list.Items))
				}
				if got.Action != c.action || got.Actor.Kind != c.actorKind || (c.actorID != "" && got.Actor.ID != c.actorID) ||
					got.Target.Kind != c.targetKind || (c.targetID != "" && got.Target.ID != c.targetID) || got.Outcome != bulwark.OutcomeSuccess {
					t.Fatalf("entry %+v, want action %s by %s %s on %s %s", got, c.action, c.actorKind, c.actorID, c.targetKind, c.targetID)
				}
			})
		}
		for p := range cases {
			if !servedPattern(e.api.routes, p) {
				t.Errorf("case %s names no served route", p)
			}
		}
		logs := e.logs.String()
		for _, canary := range []string{canaryEmail, canaryValue, "127.0.0.1"} {
			if strings.Contains(entries.String(), canary) {
				t.Errorf("an audit entry shows %q", canary)
			}
			if canary != "127.0.0.1" && strings.Contains(logs, canary) {
				t.Errorf("the application log shows %q", canary)
			}
		}
	})
}

func servedPattern(routes []route, p string) bool {
	for _, rt := range routes {
		if rt.pattern() == p {
			return true
		}
	}
	return false
}

// TestE2EAuditFaultFailsTheWrite is DATA-5's fault case over HTTP: while
// the audit log cannot be written (a trigger refuses every insert), a
// write answers 500 and leaves nothing; once it can, writes succeed.
func TestE2EAuditFaultFailsTheWrite(t *testing.T) {
	e := newE2E(t, "sqlite")
	owner := e.tenant("acme")
	e.collection(owner, "notes", bulwark.Field{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal})
	raw, err := sql.Open("sqlite", "file:"+e.fx.DB.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("CREATE TRIGGER audit_fault BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END"); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("POST", "/api/v1/collections/notes/records", owner, map[string]any{"title": "must not exist"}), 500, bulwark.EInternal)
	e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "ghost", Permissions: []bulwark.Permission{bulwark.PermRecordsRead}}), 500, bulwark.EInternal)
	if list := decodeInto[listResponse[*bulwark.Record]](t, e.want(e.do("GET", "/api/v1/collections/notes/records", owner, nil), 200)); len(list.Items) != 0 {
		t.Fatalf("the record was kept without its audit entry: %+v", list.Items)
	}
	e.want(e.do("DELETE", "/api/v1/roles/ghost", owner, nil), 404, bulwark.ENotFound)
	if _, err := raw.Exec("DROP TRIGGER audit_fault"); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("POST", "/api/v1/collections/notes/records", owner, map[string]any{"title": "now fine"}), 201)
}
