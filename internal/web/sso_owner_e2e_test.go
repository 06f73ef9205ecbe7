package web

import (
	"net/http"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestE2ESSOProviderChangesNeedOwner: an identity provider vouches for
// whom it likes (the owner's email marked verified, a second factor
// claimed) and its first login links to that existing account, so
// configuring one is the power to sign in as the owner. An admin, or a
// custom role holding settings.manage, may read the providers but not
// add, change, delete one or roll its key over (403 at the route and in
// the store); an owner may.
func TestE2ESSOProviderChangesNeedOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("alpha")
		e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "sso_admin", Permissions: []bulwark.Permission{bulwark.PermSettingsManage}}), http.StatusCreated)
		_, ssoAdmin := e.user(owner, "alpha", "sso@alpha.example", bulwark.Grant{Role: "sso_admin"})
		_, admin := e.user(owner, "alpha", "admin@alpha.example", bulwark.Grant{Role: bulwark.RoleAdmin})

		m := startMockOIDC(t)
		cfg := m.Config()
		body := map[string]any{"kind": "oidc", "name": "IdP", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret}
		// (e.want fails the test of e, so no subtests here.)
		for _, tok := range []string{ssoAdmin, admin} {
			e.want(e.do("POST", "/api/v1/settings/sso/providers", tok, body), http.StatusForbidden, bulwark.EForbidden)
		}
		id := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, body), http.StatusCreated))["id"].(string)
		p := "/api/v1/settings/sso/providers/" + id
		changed := map[string]any{"kind": "oidc", "name": "IdP", "issuer": "https://attacker.example", "client_id": "c"}
		for _, tok := range []string{ssoAdmin, admin} {
			e.want(e.do("PUT", p, tok, changed), http.StatusForbidden, bulwark.EForbidden)
			e.want(e.do("DELETE", p, tok, nil), http.StatusForbidden, bulwark.EForbidden)
			e.want(e.do("POST", p+"/sp-keys", tok, map[string]string{"action": "prepare"}), http.StatusForbidden, bulwark.EForbidden)
			e.want(e.do("GET", "/api/v1/settings/sso/providers", tok, nil), http.StatusOK)
			e.want(e.do("GET", p, tok, nil), http.StatusOK)
		}
		got := decodeInto[map[string]any](t, e.want(e.do("GET", p, owner, nil), http.StatusOK))
		if got["issuer"] != cfg.Issuer {
			t.Fatalf("issuer = %v", got["issuer"])
		}
		e.want(e.do("PUT", p, owner, map[string]any{"kind": "oidc", "name": "Renamed", "issuer": cfg.Issuer, "client_id": cfg.ClientID}), http.StatusOK)
		e.want(e.do("DELETE", p, owner, nil), http.StatusNoContent)
	})
}
