package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// TestSessionClientSealed: the address and User-Agent a session was opened
// from are kept sealed in its row, as in the login's audit entry (DATA-3):
// a database dump does not show them; the user listing their sessions
// sees them.
func TestSessionClientSealed(t *testing.T) {
	const ip, ua = "198.51.100.77", "SealCheck/1.0 (canary)"
	storetest.Each(t, func(t *testing.T, backend string) {
		r := newAuditRig(t, backend)
		system := storetest.System(context.Background())
		_, inv, err := r.CreateTenant(system, bulwark.NewTenant{Slug: "acme", Name: "Acme", AdminEmail: "owner@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ID: "req-s", ClientIP: ip, UserAgent: ua})
		if err := r.Auth.Activate(ctx, inv.Token, storetest.Password); err != nil {
			t.Fatal(err)
		}
		s, err := r.Auth.Login(ctx, bulwark.Credentials{Tenant: "acme", Email: "owner@acme.example", Password: storetest.Password})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := r.raw.Query("SELECT client_ip, user_agent FROM user_secrets WHERE kind = 'bws'")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var gotIP, gotUA string
			if err := rows.Scan(&gotIP, &gotUA); err != nil {
				t.Fatal(err)
			}
			n++
			if !strings.HasPrefix(gotIP, "aead:") || strings.Contains(gotIP, ip) || gotUA != "" {
				t.Errorf("a session row keeps client_ip %q, user_agent %q: want a sealed pair and nothing in clear", gotIP, gotUA)
			}
		}
		rows.Close()
		if n == 0 {
			t.Fatal("no session row")
		}
		p, err := r.Auth.Authenticate(ctx, s.Token)
		if err != nil {
			t.Fatal(err)
		}
		list, err := r.ListSessions(bulwark.NewContext(ctx, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, si := range list {
			if si.Current && (si.ClientIP != ip || si.UserAgent != ua) {
				t.Fatalf("the current session lists client %q, agent %q; want %q, %q", si.ClientIP, si.UserAgent, ip, ua)
			}
		}
	})
}
