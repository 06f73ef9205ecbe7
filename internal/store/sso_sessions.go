package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/secret"
	"github.com/bulwarkhq/bulwark/internal/sso"
)

// Sessions opened by a federated login remember the provider and the
// subject (SAML: NameID, its format and the SessionIndex), in columns of
// the session's own row: when the session ends, for whatever reason,
// the reference goes with it.

// rememberFederation records where session s came from.
func (t *tenantTx) rememberFederation(s *bulwark.Session, pr *sso.Provider, id *sso.Identity) error {
	_, err := t.exec("UPDATE user_secrets SET sso_provider_id = ?, sso_name_id = ?, sso_name_id_format = ?, sso_session_index = ? WHERE tenant_id = ? AND id = ? AND kind = ?",
		pr.ID, id.Subject, id.NameIDFormat, id.SessionIndex, t.tenantID, secret.Hash(s.Token), secret.Session)
	return err
}

// endFederatedSessions ends userID's sessions opened through provider
// providerID for subject, only those with one of sessionIndexes if any.
func (t *tenantTx) endFederatedSessions(userID, providerID, subject string, sessionIndexes []string) (int64, error) {
	q := "DELETE FROM user_secrets WHERE tenant_id = ? AND user_id = ? AND kind = ? AND sso_provider_id = ? AND sso_name_id = ?"
	args := []any{t.tenantID, userID, secret.Session, providerID, subject}
	if len(sessionIndexes) > 0 {
		in, indexes := inList(sessionIndexes)
		q += " AND sso_session_index IN (" + in + ")"
		args = append(args, indexes...)
	}
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SAMLSession returns the provider (keys opened) and the reference of the
// caller's session if a federated login opened it, for SP-initiated
// logout; nil, nil, nil otherwise.
func (db *DB) SAMLSession(ctx context.Context) (*sso.Provider, *sso.SessionRef, error) {
	p := bulwark.FromContext(ctx)
	if p == nil || p.Kind != bulwark.KindUser || p.SessionID == "" {
		return nil, nil, nil
	}
	var pr *sso.Provider
	var ref sso.SessionRef
	err := db.inTenant(ctx, false, func(t *tenantTx) error {
		err := t.queryRow("SELECT sso_provider_id, sso_name_id, sso_name_id_format, sso_session_index FROM user_secrets WHERE tenant_id = ? AND id = ? AND kind = ? AND user_id = ?",
			t.tenantID, p.SessionID, secret.Session, p.ID).Scan(&ref.ProviderID, &ref.NameID, &ref.NameIDFormat, &ref.SessionIndex)
		if errors.Is(err, sql.ErrNoRows) || err == nil && ref.ProviderID == "" {
			return nil
		}
		if err != nil {
			return err
		}
		pr, err = t.provider(ref.ProviderID)
		if bulwark.ErrorCode(err) == bulwark.ENotFound {
			return nil // the provider was deleted since
		}
		return err
	})
	if err != nil || pr == nil {
		return nil, nil, err
	}
	return pr, &ref, nil
}
