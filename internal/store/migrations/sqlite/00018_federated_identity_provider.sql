-- +goose Up
-- A federated identity belongs to the provider that linked it: the key
-- becomes (tenant_id, provider_id, issuer, subject). An issuer or SAML
-- entity id is only a string an administrator typed, and two providers of
-- a tenant may name the same one (every Entra ID application of a
-- directory has one entity id). Keyed by (issuer, subject) alone, a login
-- through one provider found the identity another had linked: a provider
-- that may not vouch for an owner (docs/sso.md section 6) logged in as an
-- owner linked through the real IdP, and a second provider's logout ended
-- nothing. A login through another provider now links anew, through a
-- verified email and its owner check. Existing rows stay as they are,
-- each with the provider that linked it. SQLite cannot change a primary
-- key in place, so the table is rebuilt.
CREATE TABLE federated_identities_by_provider (
    tenant_id     TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, provider_id, issuer, subject),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO federated_identities_by_provider (tenant_id, issuer, subject, provider_id, user_id, created_at, last_login_at, display_name)
    SELECT tenant_id, issuer, subject, provider_id, user_id, created_at, last_login_at, display_name FROM federated_identities;
DROP TABLE federated_identities;
ALTER TABLE federated_identities_by_provider RENAME TO federated_identities;
CREATE INDEX federated_identities_user ON federated_identities (tenant_id, user_id);

-- +goose Down
-- Back to one row per (tenant_id, issuer, subject): where providers of a
-- tenant linked the same one, the identity linked first stays (the one
-- the old key would have kept) and the others go; their next login links
-- again through a verified email.
CREATE TABLE federated_identities_by_issuer (
    tenant_id     TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, issuer, subject),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO federated_identities_by_issuer (tenant_id, issuer, subject, provider_id, user_id, created_at, last_login_at, display_name)
    SELECT f.tenant_id, f.issuer, f.subject, f.provider_id, f.user_id, f.created_at, f.last_login_at, f.display_name
    FROM federated_identities f
    WHERE NOT EXISTS (SELECT 1 FROM federated_identities g
        WHERE g.tenant_id = f.tenant_id AND g.issuer = f.issuer AND g.subject = f.subject
          AND (g.created_at < f.created_at OR g.created_at = f.created_at AND g.provider_id < f.provider_id));
DROP TABLE federated_identities;
ALTER TABLE federated_identities_by_issuer RENAME TO federated_identities;
CREATE INDEX federated_identities_user ON federated_identities (tenant_id, user_id);
