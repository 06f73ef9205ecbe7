-- +goose Up
-- Single sign-on (AUTH-4, AUTH-5, ISO-2): identity providers per tenant,
-- federated identities keyed by (issuer, subject) within one tenant,
-- logins begun and not yet finished (so any node can finish them), SAML
-- assertion ids seen (replay), and the tenant's SSO-only switch.

CREATE TABLE sso_providers (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL,              -- oidc | saml
    name          TEXT NOT NULL,
    config        TEXT NOT NULL,              -- JSON, no secrets
    client_secret BLOB,            -- OIDC client secret, sealed with the tenant key
    idp_metadata  TEXT NOT NULL DEFAULT '',   -- SAML IdP metadata XML
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One person at one IdP is one row; the same (issuer, subject) in two
-- tenants is two unrelated rows (ISO-2).
CREATE TABLE federated_identities (
    tenant_id     TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, issuer, subject),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX federated_identities_user ON federated_identities (tenant_id, user_id);

CREATE TABLE sso_requests (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,   -- OIDC state or SAML AuthnRequest ID
    provider_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    return_to   TEXT NOT NULL,
    binding     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);

CREATE TABLE sso_seen_assertions (
    tenant_id    TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, issuer, assertion_id),
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);

-- No row = password logins allowed. fallback_users is a JSON list of
-- owner user ids still allowed to use their password.
CREATE TABLE sso_settings (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sso_only       INTEGER NOT NULL,
    fallback_users TEXT NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id)
);

-- +goose Down
DROP TABLE sso_settings;
DROP TABLE sso_seen_assertions;
DROP TABLE sso_requests;
DROP TABLE federated_identities;
DROP TABLE sso_providers;
