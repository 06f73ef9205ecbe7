package keys

import (
	"context"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// The cloud KMS and Vault keepers are not compiled into the default binary:
// each pulls a large SDK (aws-sdk-go-v2; gRPC and Google APIs; the Vault
// client). Each lives in a build-tagged file (kms_aws.go, kms_gcp.go,
// kms_vault.go) that opens Tink's integration, whose AEAD becomes the
// Keeper; without its tag, a stub (kms_*_off.go) refuses the URL with an
// error that says how to build it in. docs/encryption.md.

// aeadWithContext is Tink's tink.AEADWithContext.
type aeadWithContext interface {
	EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)
	DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
}

// aeadOnly is Tink's tink.AEAD, for integrations without contexts.
type aeadOnly interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// contextless gives an AEAD without contexts the Keeper's method set.
type contextless struct{ a aeadOnly }

func (c contextless) EncryptWithContext(_ context.Context, pt, ad []byte) ([]byte, error) {
	return c.a.Encrypt(pt, ad)
}

func (c contextless) DecryptWithContext(_ context.Context, ct, ad []byte) ([]byte, error) {
	return c.a.Decrypt(ct, ad)
}

// kmsKeeper is a KEK held by a KMS: every wrap and unwrap is a call to it.
// Rotation happens in the service (its key versions); KeyID is the key's
// name, which does not change when the service rotates it.
type kmsKeeper struct {
	aeadWithContext
	id string
}

func (k *kmsKeeper) KeyID() string  { return k.id }
func (k *kmsKeeper) Close() error   { return nil }
func (k *kmsKeeper) String() string { return "keys.kmsKeeper(" + k.id + ")" }

// kmsURI returns rawURL with its scheme replaced by the one Tink's
// integration expects.
func kmsURI(rawURL, scheme string) string {
	_, rest, _ := strings.Cut(rawURL, "://")
	return scheme + "://" + rest
}

func kmsUnavailable(name string, err error) error {
	return &bulwark.Error{Code: bulwark.EUnavailable, Message: "cannot reach " + name + " for the key-encryption key; check its URL and credentials", Err: err}
}
