package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// newSSO makes the single sign-on service. Its endpoints live under
// BULWARK_PUBLIC_URL (default: the listen address). Outbound requests to
// identity providers go through the SSRF guard, which refuses loopback,
// private and link-local addresses; BULWARK_SSO_ALLOW_CIDRS (comma
// separated, such as 10.0.0.0/8) is the operator's allow-list for an IdP
// on an internal network. Tenant admins cannot widen it.
func newSSO(e *env, cfg *Config, db *store.DB) (*sso.Service, error) {
	g := &sso.Guard{}
	for _, c := range strings.Split(e.getenv("BULWARK_SSO_ALLOW_CIDRS"), ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("BULWARK_SSO_ALLOW_CIDRS: %q is not a CIDR prefix", c)
		}
		g.Allow = append(g.Allow, p)
	}
	base := e.getenv("BULWARK_PUBLIC_URL")
	if base == "" {
		base = publicURL(cfg.Addr)
	}
	return sso.NewService(db, g, base), nil
}

// refreshSSOMetadata re-fetches SAML IdP metadata from its URL every
// interval, so certificate rollovers published by the IdP arrive by
// themselves. Every node may run it: the update is idempotent.
func refreshSSOMetadata(ctx context.Context, s *sso.Service, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.RefreshMetadata(systemContext(ctx))
			if err != nil {
				log.Warn("SSO metadata refresh", "err", err, "updated", n)
			} else if n > 0 {
				log.Info("SSO metadata refreshed", "updated", n)
			}
		}
	}
}
