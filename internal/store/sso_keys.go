package store

import (
	"context"
	"fmt"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// A SAML provider's SP key pairs (AUTH-5). The private keys are sealed
// with the tenant's data key and bound to (sso_providers, column,
// provider id), like OIDC client secrets; the certificates are public and
// stored in clear. Crypto-shredding the tenant's key shreds them too.

// certOnly parses a stored certificate into a key without its private
// half (lists and views). No certificate is nil.
func certOnly(der []byte) (*sso.SPKey, error) {
	if len(der) == 0 {
		return nil, nil
	}
	k, err := sso.ParseSPCert(der)
	if err != nil {
		return nil, fmt.Errorf("stored SP certificate: %w", err)
	}
	return k, nil
}

// sealSPKey seals k's private key for column of provider id.
func (t *tenantTx) sealSPKey(id, column string, k *sso.SPKey) (key, cert []byte, err error) {
	if k == nil {
		return nil, nil, nil
	}
	der, err := k.PrivateDER()
	if err != nil {
		return nil, nil, err
	}
	sealed, err := t.sealSecret("sso_providers", column, id, der)
	if err != nil {
		return nil, nil, fmt.Errorf("seal SP key: %w", err)
	}
	return sealed, k.Cert.Raw, nil
}

// storeSPKeys writes both key slots of provider id.
func (t *tenantTx) storeSPKeys(id string, active, next *sso.SPKey) error {
	k1, c1, err := t.sealSPKey(id, "sp_key", active)
	if err != nil {
		return err
	}
	k2, c2, err := t.sealSPKey(id, "sp_next_key", next)
	if err != nil {
		return err
	}
	_, err = t.exec("UPDATE sso_providers SET sp_key = ?, sp_cert = ?, sp_next_key = ?, sp_next_cert = ? WHERE tenant_id = ? AND id = ?",
		k1, c1, k2, c2, t.tenantID, id)
	return err
}

// openSPKeys opens p's private keys (for signing and decryption).
func (t *tenantTx) openSPKeys(p *sso.Provider) error {
	var k1, c1, k2, c2 []byte
	if err := t.queryRow("SELECT sp_key, sp_cert, sp_next_key, sp_next_cert FROM sso_providers WHERE tenant_id = ? AND id = ?",
		t.tenantID, p.ID).Scan(&k1, &c1, &k2, &c2); err != nil {
		return err
	}
	open := func(column string, sealed, cert []byte) (*sso.SPKey, error) {
		if len(sealed) == 0 {
			return nil, nil
		}
		der, err := t.openSecret("sso_providers", column, p.ID, sealed)
		if err != nil {
			return nil, fmt.Errorf("open SP key: %w", err)
		}
		return sso.ParseSPKey(der, cert)
	}
	var err error
	if p.SPKey, err = open("sp_key", k1, c1); err != nil {
		return err
	}
	p.SPNextKey, err = open("sp_next_key", k2, c2)
	return err
}

// SP key rollover actions.
const (
	// KeyPrepare makes a new next key, published in the SP metadata
	// beside the active one (replacing any next key already there).
	KeyPrepare = "prepare"
	// KeyActivate swaps the two: the next key signs from now on, the
	// old one stays published and decrypts until retired.
	KeyActivate = "activate"
	// KeyRetire drops the second key.
	KeyRetire = "retire"
)

// RolloverSPKey changes a SAML provider's key pairs (tenant.own,
// audited as privileged). A provider made before SP keys existed gets its
// first key from "prepare" followed by "activate".
func (db *DB) RolloverSPKey(ctx context.Context, id, action string) (*sso.Provider, error) {
	var fresh *sso.SPKey
	switch action {
	case KeyPrepare:
		k, err := sso.NewSPKey("bulwark-saml-sp-"+id, db.now())
		if err != nil {
			return nil, err
		}
		fresh = k
	case KeyActivate, KeyRetire:
	default:
		return nil, bulwark.FieldError("action", "must be prepare, activate or retire")
	}
	var out *sso.Provider
	err := db.inTenant(ctx, true, func(t *tenantTx) error {
		if err := t.requireProviderOwner(); err != nil {
			return err
		}
		p, err := t.provider(id)
		if err != nil {
			return err
		}
		if p.Kind != sso.KindSAML {
			return bulwark.FieldError("action", "only SAML providers have service-provider keys")
		}
		switch action {
		case KeyPrepare:
			p.SPNextKey = fresh
		case KeyActivate:
			if p.SPNextKey == nil {
				return bulwark.Errorf(bulwark.EFailedPrecondition, "prepare a next key first")
			}
			p.SPKey, p.SPNextKey = p.SPNextKey, p.SPKey
		case KeyRetire:
			if p.SPNextKey == nil {
				return bulwark.Errorf(bulwark.EFailedPrecondition, "there is no second key to retire")
			}
			p.SPNextKey = nil
		}
		if err := t.storeSPKeys(id, p.SPKey, p.SPNextKey); err != nil {
			return err
		}
		out = redact(p)
		return t.audit(auditEntry{Action: "sso.provider.key_" + action, TargetKind: "sso_provider", TargetID: id, Fields: []string{"sp_key"}, Privileged: true})
	})
	return out, err
}
