//go:build !hcvault

package keys

import "context"

func openVault(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("HashiCorp Vault transit", "hcvault")
}
