package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwarkhq/bulwark"
)

// Passkey is a stored WebAuthn credential: go-webauthn's Credential as
// JSON, flags included (a changed backup-eligible flag is refused by the
// library, so the whole credential is kept). Tenant users' passkeys live
// in the tenant table webauthn_credentials, operators' in the
// deployment-level operator_webauthn.
type Passkey struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Credential string `json:"-"`
}

// Passkeys lists the session account's passkeys.
func (db *DB) Passkeys(ctx context.Context) ([]Passkey, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	out := []Passkey{}
	scan := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k Passkey
			if err := rows.Scan(&k.ID, &k.Name, &k.Credential); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	}
	if p.Kind == bulwark.KindOperator {
		err = db.inGlobal(ctx, false, func(t *globalTx) error {
			return scan(t.query("SELECT id, name, credential FROM operator_webauthn WHERE operator_id = ? ORDER BY created_at", p.ID))
		})
		return out, err
	}
	err = db.inTenant(ctx, false, func(t *tenantTx) error {
		return scan(t.query("SELECT id, name, credential FROM webauthn_credentials WHERE tenant_id = ? AND user_id = ? ORDER BY created_at", t.tenantID, p.ID))
	})
	return out, err
}

// AddPasskey stores a new passkey for the session account, ends its
// other sessions and returns the caller's new one, in one transaction
// with its entry (mfa.passkey_add).
func (db *DB) AddPasskey(ctx context.Context, k Passkey) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	conflict := func(err error) error {
		if db.dialect.isUnique(err) {
			return bulwark.Conflict("credential", "is already registered")
		}
		return err
	}
	return db.factorChanged(ctx, p, "mfa.passkey_add", &factorChange{
		op: func(t *globalTx) error {
			_, err := t.exec("INSERT INTO operator_webauthn (id, operator_id, name, credential, created_at) VALUES (?, ?, ?, ?, ?)",
				k.ID, p.ID, k.Name, k.Credential, micros(t.now))
			return conflict(err)
		},
		user: func(t *tenantTx) error {
			_, err := t.exec("INSERT INTO webauthn_credentials (tenant_id, user_id, id, name, credential, created_at) VALUES (?, ?, ?, ?, ?, ?)",
				t.tenantID, p.ID, k.ID, k.Name, k.Credential, micros(t.now))
			return conflict(err)
		},
	})
}

// UpdatePasskey stores a passkey's new state after a login (sign count,
// clone warning).
func (db *DB) UpdatePasskey(ctx context.Context, k Passkey) error {
	p, err := subject(ctx)
	if err != nil {
		return err
	}
	if p.Kind == bulwark.KindOperator {
		return db.inGlobal(ctx, true, func(t *globalTx) error {
			_, err := t.exec("UPDATE operator_webauthn SET credential = ?, last_used_at = ? WHERE operator_id = ? AND id = ?", k.Credential, micros(t.now), p.ID, k.ID)
			return err
		})
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		_, err := t.exec("UPDATE webauthn_credentials SET credential = ?, last_used_at = ? WHERE tenant_id = ? AND user_id = ? AND id = ?",
			k.Credential, micros(t.now), t.tenantID, p.ID, k.ID)
		return err
	})
}

// RemovePasskey deletes one of the session account's passkeys (step-up),
// ends its other sessions and returns the caller's new one, in one
// transaction with its entry (mfa.passkey_remove).
func (db *DB) RemovePasskey(ctx context.Context, id string) (*bulwark.Session, error) {
	p, err := subject(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.RequireRecentAuth(db.now()); err != nil {
		return nil, err
	}
	gone := func(res sql.Result, err error) error {
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.NotFound("passkey")
		}
		return nil
	}
	return db.factorChanged(ctx, p, "mfa.passkey_remove", &factorChange{
		op: func(t *globalTx) error {
			return gone(t.exec("DELETE FROM operator_webauthn WHERE operator_id = ? AND id = ?", p.ID, id))
		},
		user: func(t *tenantTx) error {
			return gone(t.exec("DELETE FROM webauthn_credentials WHERE tenant_id = ? AND user_id = ? AND id = ?", t.tenantID, p.ID, id))
		},
	})
}

// SetChallenge keeps a pending WebAuthn ceremony on the current session.
func (db *DB) SetChallenge(ctx context.Context, data string) error {
	p, err := subject(ctx)
	if err != nil {
		return err
	}
	if p.Kind == bulwark.KindOperator {
		return db.inGlobal(ctx, true, func(t *globalTx) error {
			_, err := t.exec("UPDATE operator_secrets SET challenge = ? WHERE id = ?", data, p.SessionID)
			return err
		})
	}
	return db.inTenant(ctx, true, func(t *tenantTx) error {
		_, err := t.exec("UPDATE user_secrets SET challenge = ? WHERE tenant_id = ? AND id = ?", data, t.tenantID, p.SessionID)
		return err
	})
}

var errNoChallenge = bulwark.Errorf(bulwark.EFailedPrecondition, "no passkey ceremony is pending; start again")

// TakeChallenge returns and clears the session's pending ceremony: each
// challenge is used once.
func (db *DB) TakeChallenge(ctx context.Context) (string, error) {
	p, err := subject(ctx)
	if err != nil {
		return "", err
	}
	var data string
	take := func(row *sql.Row, clear func() error) error {
		err := row.Scan(&data)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && data == "") {
			return errNoChallenge
		}
		if err != nil {
			return err
		}
		return clear()
	}
	if p.Kind == bulwark.KindOperator {
		err = db.inGlobal(ctx, true, func(t *globalTx) error {
			return take(t.queryRow("SELECT challenge FROM operator_secrets WHERE id = ?", p.SessionID), func() error {
				_, err := t.exec("UPDATE operator_secrets SET challenge = '' WHERE id = ?", p.SessionID)
				return err
			})
		})
		return data, err
	}
	err = db.inTenant(ctx, true, func(t *tenantTx) error {
		return take(t.queryRow("SELECT challenge FROM user_secrets WHERE tenant_id = ? AND id = ?", t.tenantID, p.SessionID), func() error {
			_, err := t.exec("UPDATE user_secrets SET challenge = '' WHERE tenant_id = ? AND id = ?", t.tenantID, p.SessionID)
			return err
		})
	})
	return data, err
}
