package keys

import (
	"context"
	"net/url"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// Keeper holds a key-encryption key (KEK) and encrypts small secrets (the
// tenant keysets) with it. The KEK itself never leaves the keeper: for a
// cloud KMS or Vault it stays in the service, and only the local file
// keeper holds it in this process. Its method set is Tink's
// tink.AEADWithContext, so Tink can wrap keysets with it directly.
//
// Keepers are chosen by URL (OpenKeeper):
//
//	file:///var/lib/bulwark/kek.json   a Tink AEAD keyset file, mode 0600 (default)
//	awskms://arn:aws:kms:REGION:ACCOUNT:key/ID     AWS KMS   (build tag awskms)
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K   GCP KMS (build tag gcpkms)
//	hcvault://HOST:PORT/transit/keys/NAME          Vault transit (build tag hcvault)
type Keeper interface {
	EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)
	DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
	// KeyID names the KEK version that EncryptWithContext uses now, for the
	// inventory and to find keysets still wrapped by an older one. It is
	// never secret.
	KeyID() string
	Close() error
}

// Rotator is a Keeper that can make a new KEK version itself (the file
// keeper). Cloud KMSs and Vault rotate in the service; Bulwark then only
// re-wraps.
type Rotator interface {
	// RotateKEK makes a new primary KEK version; older ones still decrypt.
	RotateKEK(ctx context.Context) error
	// RetireKEK disables every KEK version but the primary, so keysets
	// wrapped by them no longer open. Call it only when nothing uses them.
	RetireKEK(ctx context.Context) error
	// VersionOf names the KEK version that encrypted ct (what KeyID
	// returned while it was primary); false if ct names none.
	VersionOf(ct []byte) (string, bool)
}

// OpenKeeper returns the keeper for rawURL. A file keeper's file is
// created on first use (mode 0600); a file with looser permissions is
// refused.
func OpenKeeper(ctx context.Context, rawURL string) (Keeper, error) {
	// KMS key URIs (an AWS ARN has colons where a port would be) are not
	// all valid URLs: only the scheme is read here, each keeper parses the
	// rest its own way.
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, bulwark.Errorf(bulwark.EInvalid, "the KEK URL needs a scheme: use file:///path/kek.json, awskms://..., gcpkms://... or hcvault://...")
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, bulwark.Errorf(bulwark.EInvalid, "the KEK URL is not a valid file URL: use file:///path/kek.json")
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, bulwark.Errorf(bulwark.EInvalid, "a file KEK URL needs an absolute path: file:///path/kek.json (three slashes)")
		}
		return OpenFile(u.Path)
	case "awskms", "aws-kms":
		return openAWSKMS(ctx, rawURL)
	case "gcpkms", "gcp-kms":
		return openGCPKMS(ctx, rawURL)
	case "hcvault":
		return openVault(ctx, rawURL)
	}
	return nil, bulwark.Errorf(bulwark.EInvalid, "unsupported KEK URL scheme %q: use file:///path/kek.json, awskms://..., gcpkms://... or hcvault://...", scheme)
}

// notBuilt is the error of a KMS keeper left out of this binary.
func notBuilt(name, tag string) error {
	return bulwark.Errorf(bulwark.EFailedPrecondition,
		"this Bulwark binary was built without %s support: rebuild it with `go build -tags %s ./cmd/bulwark` (see docs/encryption.md)", name, tag)
}
