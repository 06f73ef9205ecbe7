//go:build awskms

package keys

import (
	"context"

	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
)

// openAWSKMS opens awskms://arn:aws:kms:REGION:ACCOUNT:key/ID. Credentials
// come from the AWS SDK's default chain (environment, shared files, the
// instance or task role). Associated data travels as the KMS encryption
// context.
func openAWSKMS(ctx context.Context, rawURL string) (Keeper, error) {
	uri := kmsURI(rawURL, "aws-kms")
	a, err := awskms.NewAEADWithContext(ctx, uri[len("aws-kms://"):])
	if err != nil {
		return nil, kmsUnavailable("AWS KMS", err)
	}
	return &kmsKeeper{aeadWithContext: a, id: uri}, nil
}
