-- +goose Up
-- Encryption at rest (DATA-3, DATA-4): per-tenant keysets wrapped by the
-- key-encryption key, sealed record values, blind indexes, re-seal jobs.

-- A tenant's keysets: purpose 'data' (AEAD AES256-GCM, seals values) and
-- 'index' (PRF HMAC-SHA256, blind indexes). keyset is Tink's encrypted
-- keyset, wrapped by the KEK with associated data naming env, tenant and
-- purpose; nothing here opens without the KEK. Deleting the rows destroys
-- the keys (crypto-shredding).
CREATE TABLE tenant_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    env        TEXT NOT NULL,
    version    INTEGER NOT NULL,  -- +1 on every change: the cache key
    keyset     BLOB NOT NULL,
    kek        TEXT NOT NULL,     -- the KEK version that wrapped it
    key_times  TEXT NOT NULL,     -- JSON object: key id -> created_at
    status     TEXT NOT NULL,     -- active | rotating
    created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    PRIMARY KEY (tenant_id, purpose)
);

-- Background re-seal: moves every sealed value to the primary key and
-- seals values of fields that became sensitive. after_key is the last
-- "collection_id/record_id" done, so a crashed job resumes there.
CREATE TABLE key_jobs (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    after_key    TEXT NOT NULL,
    done         INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, kind)
);

-- Sealed values live apart from data: a JSON object of field name ->
-- base64 ciphertext, all sealed under the data key key_id (0: none).
ALTER TABLE records ADD COLUMN sealed TEXT NOT NULL DEFAULT '{}';
ALTER TABLE records ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;

-- Blind index tags of sealed lookup and unique fields, for filters.
CREATE TABLE record_lookups (
    tenant_id     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    field         TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    tag           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id, field, record_id),
    FOREIGN KEY (tenant_id, collection_id, record_id) REFERENCES records (tenant_id, collection_id, id) ON DELETE CASCADE
);
CREATE INDEX record_lookups_tag ON record_lookups (tenant_id, collection_id, field, tag);

-- +goose Down
DROP TABLE record_lookups;
ALTER TABLE records DROP COLUMN key_id;
ALTER TABLE records DROP COLUMN sealed;
DROP TABLE key_jobs;
DROP TABLE tenant_keys;
