//go:build !gcpkms

package keys

import "context"

func openGCPKMS(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("GCP KMS", "gcpkms")
}
