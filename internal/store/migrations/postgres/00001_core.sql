-- +goose Up
-- Times are Unix microseconds (UTC) in both backends, so the store code is
-- the same on SQLite and PostgreSQL.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE operator_secrets (
    id          TEXT PRIMARY KEY,  -- SHA-256 of the secret
    kind        TEXT NOT NULL,     -- session | activation
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    used_at     BIGINT
);

-- Every table below holds one tenant's data: its key starts with tenant_id.

CREATE TABLE users (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    email         TEXT NOT NULL,
    status        TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE roles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,  -- JSON array
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE user_grants (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    collection TEXT NOT NULL DEFAULT '',  -- '' = tenant-wide
    PRIMARY KEY (tenant_id, user_id, role, collection),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE user_secrets (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,  -- SHA-256 of the secret
    kind         TEXT NOT NULL,  -- session | activation
    user_id      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE api_tokens (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL,
    collection   TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, secret_hash)
);

CREATE TABLE collections (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,  -- JSON array of bulwark.Field
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE records (
    tenant_id     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       BIGINT NOT NULL,
    data          JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id, id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE record_uniques (
    tenant_id     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    field         TEXT NOT NULL,
    value_key     TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id, field, value_key),
    FOREIGN KEY (tenant_id, collection_id, record_id) REFERENCES records (tenant_id, collection_id, id) ON DELETE CASCADE
);

-- The audit log. tenant_id is NULL for entries about the deployment itself
-- (operators, tenant creation by the CLI).
CREATE TABLE audit_log (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    TEXT,
    at           BIGINT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    fields       TEXT NOT NULL,  -- JSON array of changed field names, never values
    outcome      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    privileged   BOOLEAN NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);

-- Row-level security: every tenant table is filtered a second time by the
-- database, against a per-transaction setting made with
-- set_config('app.tenant_id', id, true). An unset tenant gives NULL, which
-- matches no row. FORCE makes the policies bind the table owner as well.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE user_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_grants
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE user_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_secrets
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
ALTER TABLE collections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON collections
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
ALTER TABLE records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON records
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE record_uniques ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_uniques FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_uniques
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
-- A tenant transaction sees its own entries; a deployment-level transaction
-- (no tenant set) may only add entries without a tenant.
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
        OR (tenant_id IS NULL AND coalesce(current_setting('app.tenant_id', true), '') = ''));

-- +goose Down
DROP TABLE audit_log;
DROP TABLE record_uniques;
DROP TABLE records;
DROP TABLE collections;
DROP TABLE api_tokens;
DROP TABLE user_secrets;
DROP TABLE user_grants;
DROP TABLE roles;
DROP TABLE users;
DROP TABLE operator_secrets;
DROP TABLE operators;
DROP TABLE tenants;
