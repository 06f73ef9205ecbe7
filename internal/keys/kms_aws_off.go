//go:build !awskms

package keys

import "context"

func openAWSKMS(ctx context.Context, rawURL string) (Keeper, error) {
	return nil, notBuilt("AWS KMS", "awskms")
}
