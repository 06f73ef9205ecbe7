-- +goose Up
-- Times are Unix microseconds (UTC) in both backends, so the store code is
-- the same on SQLite and PostgreSQL.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE operator_secrets (
    id          TEXT PRIMARY KEY,  -- SHA-256 of the secret
    kind        TEXT NOT NULL,     -- session | activation
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    used_at     INTEGER
);

-- Every table below holds one tenant's data: its key starts with tenant_id.

CREATE TABLE users (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    email         TEXT NOT NULL,
    status        TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE roles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,  -- JSON array
    created_at  INTEGER NOT NULL,
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
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    used_at      INTEGER,
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
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, secret_hash)
);

CREATE TABLE collections (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,  -- JSON array of bulwark.Field
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE records (
    tenant_id     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       INTEGER NOT NULL,
    data          TEXT NOT NULL,  -- JSON object
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
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
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT,
    at           INTEGER NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    fields       TEXT NOT NULL,  -- JSON array of changed field names, never values
    outcome      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    privileged   INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);

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
