//go:build gcpkms

package keys

import (
	"context"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
)

// openGCPKMS opens gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
// over gRPC, with Application Default Credentials.
func openGCPKMS(ctx context.Context, rawURL string) (Keeper, error) {
	uri := kmsURI(rawURL, "gcp-kms")
	a, err := gcpkms.GetAEADWithContext(ctx, uri)
	if err != nil {
		return nil, kmsUnavailable("GCP KMS", err)
	}
	return &kmsKeeper{aeadWithContext: a, id: uri}, nil
}
