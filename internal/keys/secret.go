package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkhq/bulwark"
)

const adSecret = "bulwark/deployment-secret/v1"

// SealSecret seals a secret of the deployment itself, one that belongs to
// no tenant (the audit log's signing and sealing keys, operators' TOTP
// secrets), directly under the KEK. The associated data binds it to the
// environment and to label, which names what it is and whose (such as
// "operator_totp/<id>"): a sealed secret moved to another label or
// environment does not open. Each call asks the keeper, so use it for
// secrets read rarely (at start, at an operator's login), not per request.
func (r *Ring) SealSecret(ctx context.Context, label string, pt []byte) ([]byte, error) {
	ct, err := r.keeper.EncryptWithContext(ctx, pt, ad(adSecret, r.env, label))
	if err != nil {
		return nil, keeperError("seal deployment secret", err)
	}
	return ct, nil
}

// OpenSecret opens what SealSecret sealed with the same label.
func (r *Ring) OpenSecret(ctx context.Context, label string, ct []byte) ([]byte, error) {
	pt, err := r.keeper.DecryptWithContext(ctx, ct, ad(adSecret, r.env, label))
	if err != nil && !errors.Is(err, ErrOpen) {
		return nil, keeperError("open deployment secret", err)
	}
	if err != nil {
		return nil, &bulwark.Error{Code: bulwark.EInternal,
			Message: "a deployment secret does not open under this key-encryption key in this environment: it was altered, moved, or sealed elsewhere",
			Err:     fmt.Errorf("%s: %w: %w", label, ErrOpen, err)}
	}
	return pt, nil
}

// SealedBy names the KEK version that sealed ct (a secret SealSecret
// sealed, or a keyset's wrapping), as the keeper's KeyID names versions.
// A keeper that rotates itself (the key file) names it in the ciphertext;
// "" if it names none. A KMS or Vault rotates in the service and names no
// version here: its KeyID is returned.
func (r *Ring) SealedBy(ct []byte) string {
	rot, ok := r.keeper.(Rotator)
	if !ok {
		return r.keeper.KeyID()
	}
	v, _ := rot.VersionOf(ct)
	return v
}

// WrappedBy names the KEK version that wrapped w, like SealedBy; "" if w
// is not a wrapped keyset.
func (r *Ring) WrappedBy(w Wrapped) string {
	ek, err := readEncrypted(w)
	if err != nil {
		return ""
	}
	return r.SealedBy(ek.GetEncryptedKeyset())
}

// KEK names the KEK version that seals and wraps now (the keeper's
// KeyID).
func (r *Ring) KEK() string { return r.keeper.KeyID() }
