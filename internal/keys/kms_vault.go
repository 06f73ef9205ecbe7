//go:build hcvault

package keys

import (
	"context"
	"net/url"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
)

// openVault opens hcvault://HOST:PORT/transit/keys/NAME, a Vault transit
// key, over HTTPS with Vault's own TLS verification. The token comes from
// VAULT_TOKEN (or the other VAULT_* settings the Vault client reads).
// Associated data is sent as transit's associated_data; the legacy
// "context" mode is not used, since Vault silently ignores it for keys
// that are not derived (tink-crypto/tink#712).
func openVault(ctx context.Context, rawURL string) (Keeper, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, notBuilt("HashiCorp Vault transit (a URL such as hcvault://vault:8200/transit/keys/bulwark)", "hcvault")
	}
	cfg := api.DefaultConfig()
	cfg.Address = "https://" + u.Host
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, kmsUnavailable("Vault", err)
	}
	kc, err := hcvault.NewClientWithAEADOptions("hcvault://"+u.Host, client.Logical())
	if err != nil {
		return nil, kmsUnavailable("Vault", err)
	}
	a, err := kc.GetAEAD(rawURL)
	if err != nil {
		return nil, kmsUnavailable("Vault", err)
	}
	return &kmsKeeper{aeadWithContext: contextless{a}, id: rawURL}, nil
}
