package web

import (
	"net/http"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestDenialsAreAudited: every 403, from the route gate or from a service
// (an escalation attempt), leaves an audit entry with outcome denied, the
// actor and the route (ASVS V16.3.2).
func TestDenialsAreAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		_, viewer := e.user(owner, "acme", "v@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		_, admin := e.user(owner, "acme", "a@acme.example", bulwark.Grant{Role: bulwark.RoleAdmin})

		// The route gate refuses a viewer.
		e.want(e.do("POST", "/api/v1/users", viewer, map[string]any{"email": "x@acme.example", "grants": []bulwark.Grant{{Role: bulwark.RoleViewer}}}), http.StatusForbidden)
		// The service refuses an admin who tries to create an owner.
		e.want(e.do("POST", "/api/v1/users", admin, map[string]any{"email": "y@acme.example", "grants": []bulwark.Grant{{Role: bulwark.RoleOwner}}}), http.StatusForbidden)

		ctx := e.fx.As(t, owner)
		entries, _, err := e.fx.SearchAudit(ctx, bulwark.AuditFilter{Action: "authz.deny"})
		if err != nil {
			t.Fatal(err)
		}
		byActor := map[string]*bulwark.AuditEntry{}
		for _, en := range entries {
			byActor[en.Actor.ID] = en
		}
		vp, ap := bulwark.FromContext(e.fx.As(t, viewer)), bulwark.FromContext(e.fx.As(t, admin))
		for who, id := range map[string]string{"viewer": vp.ID, "admin": ap.ID} {
			en := byActor[id]
			if en == nil {
				t.Fatalf("no denial entry for the %s; entries: %+v", who, entries)
			}
			if en.Outcome != bulwark.OutcomeDenied || en.Target.ID != "POST /api/v1/users" {
				t.Errorf("%s's denial entry = %+v", who, en)
			}
		}
	})
}
