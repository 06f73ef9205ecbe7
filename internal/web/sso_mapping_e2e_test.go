package web

import (
	"net/http"
	"slices"
	"testing"

	"github.com/crewjam/saml/samlidp"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// setUser stores user name at the IdP with these groups and common name.
func (idp *testSAMLIdP) setUser(t *testing.T, name, email, password, cn string, groups ...string) {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err := idp.server.Store.Put("/users/"+name, samlidp.User{Name: name, Email: email, HashedPassword: h, CommonName: cn, Groups: groups}); err != nil {
		t.Fatal(err)
	}
}

// TestE2ESAMLRoleMapping: crewjam/saml's IdP sends the user's groups
// (eduPersonAffiliation); the provider's mapping gives the mapped role at
// just-in-time provisioning and re-syncs it at the next login after the
// IdP dropped the group, audited; a role given in Bulwark stays.
func TestE2ESAMLRoleMapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("alpha")
		idp := startSAMLIdP(t)
		idp.setUser(t, "dave", "dave@alpha.example", "hunter2hunter2", "Dave Example", "Engineering", "staff")
		v := decodeInto[map[string]any](t, e.want(e.do("POST", "/api/v1/settings/sso/providers", owner, map[string]any{
			"kind": "saml", "name": "crewjam", "metadata_url": idp.srv.URL + "/metadata", "jit": true, "default_role": "viewer",
			"group_attribute": "eduPersonAffiliation", "name_attribute": "cn",
			"role_mappings": []map[string]string{{"value": "Engineering", "role": "editor"}, {"value": "Audit", "role": "auditor"}},
		}), 201))
		id := v["id"].(string)
		resp, err := e.browser().Get(v["sp_metadata_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		idp.addSP(t, "alpha", []byte(readAll(t, resp)))
		roles := func(tok string) []string {
			t.Helper()
			me := decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", tok, nil), http.StatusOK))
			var out []string
			for _, g := range me.Grants {
				out = append(out, g.Role)
			}
			slices.Sort(out)
			return out
		}

		tok := e.samlLogin(t, idp, "alpha", id, "dave", "hunter2hunter2")
		if got := roles(tok); !slices.Equal(got, []string{"editor"}) {
			t.Fatalf("provisioned with %v", got)
		}
		me := decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", tok, nil), http.StatusOK))
		// An admin adds a role no mapping names.
		e.want(e.do("PATCH", "/api/v1/users/"+me.ID, owner, map[string]any{"grants": []map[string]string{{"role": "editor"}, {"role": "viewer"}}}), http.StatusOK)

		// The IdP moves Dave from Engineering to Audit.
		idp.setUser(t, "dave", "dave@alpha.example", "hunter2hunter2", "Dave Example", "Audit")
		tok = e.samlLogin(t, idp, "alpha", id, "dave", "hunter2hunter2")
		if got := roles(tok); !slices.Equal(got, []string{"auditor", "viewer"}) {
			t.Fatalf("after the IdP changed the groups: %v", got)
		}
		audit := decodeInto[listResponse[map[string]any]](t, e.want(e.do("GET", "/api/v1/audit?action=user.grants.sso_sync", owner, nil), http.StatusOK))
		if len(audit.Items) != 1 {
			t.Fatalf("%d sync audit entries", len(audit.Items))
		}
	})
}
