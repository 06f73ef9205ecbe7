package keys

import "context"

// The cloud KMS and Vault keepers are not compiled into the default
// binary: each pulls a large SDK (aws-sdk-go-v2, gRPC and Google APIs,
// the Vault client). docs/encryption.md describes how each plugs in: a
// build-tagged file in this package replaces the matching function below
// with one that opens Tink's integration (tink-go-awskms/v3,
// tink-go-gcpkms/v2, tink-go-hcvault/v2), whose AEAD becomes the Keeper.

func openAWSKMS(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("AWS KMS", "awskms")
}

func openGCPKMS(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("GCP KMS", "gcpkms")
}

func openVault(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("HashiCorp Vault transit", "hcvault")
}
