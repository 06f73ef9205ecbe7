package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/console"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestConsoleDenialAudited: a page refusing a signed-in user (a viewer
// saving the tenant settings: EForbidden, 403) writes one authz.deny
// entry naming the console route, as the API's middleware does (DATA-5,
// ASVS V16.3.2); the settings stay as they were.
func TestConsoleDenialAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		fx := storetest.NewFixture(t, backend)
		own, _ := fx.Tenant(t, "acme")
		_, viewerTok := fx.User(t, own, "vic@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		c := console.New(console.Deps{Auth: fx.Auth, Account: fx.Auth, Sessions: fx.DB.DB, Settings: fx.DB.DB, Audit: fx.DB.DB})
		srv := httptest.NewTLSServer(c.Handler())
		defer srv.Close()
		denials := func() []*bulwark.AuditEntry {
			es, _, err := fx.SearchAudit(own, bulwark.AuditFilter{Action: "authz.deny", Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		before := len(denials())
		cur, err := fx.DB.DB.AuthSettings(own)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"mfa": {string(bulwark.MFAEveryone)}, "session_idle_minutes": {strconv.Itoa(cur.SessionIdleMinutes)},
			"session_absolute_minutes": {strconv.Itoa(cur.SessionAbsoluteMinutes)}, "min_length": {strconv.Itoa(cur.PasswordPolicy.MinLength)},
			"history": {strconv.Itoa(cur.PasswordPolicy.History)}, "max_age_days": {strconv.Itoa(cur.PasswordPolicy.MaxAgeDays)}}
		req, _ := http.NewRequest("POST", srv.URL+"/console/settings", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: viewerTok})
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("a viewer saving the settings: %d, want 403", res.StatusCode)
		}
		if s, _ := fx.DB.DB.AuthSettings(own); s.MFA != cur.MFA {
			t.Fatalf("the MFA mode changed to %q", s.MFA)
		}
		es := denials()
		if len(es) != before+1 {
			t.Fatalf("%d authz.deny entries after the refusal, want %d", len(es), before+1)
		}
		if e := es[0]; e.Outcome != bulwark.OutcomeDenied || e.Target.Kind != "route" || e.Target.ID != "POST /console/settings" {
			t.Fatalf("entry %+v", e)
		}
	})
}
