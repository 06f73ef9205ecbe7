-- +goose Up
-- Encryption at rest (DATA-3, DATA-4): per-tenant keysets wrapped by the
-- key-encryption key, sealed record values, blind index tags, re-seal jobs.

-- A tenant's keysets: purpose 'data' (AEAD AES256-GCM, seals values) and
-- 'index' (PRF HMAC-SHA256, blind indexes). keyset is Tink's encrypted
-- keyset, wrapped by the KEK with associated data naming env, tenant and
-- purpose; nothing here opens without the KEK. Deleting the rows destroys
-- the keys (crypto-shredding).
CREATE TABLE tenant_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    env        TEXT NOT NULL,
    version    BIGINT NOT NULL,  -- +1 on every change: the cache key
    keyset     BYTEA NOT NULL,
    kek        TEXT NOT NULL,     -- the KEK version that wrapped it
    key_times  TEXT NOT NULL,     -- JSON object: key id -> created_at
    status     TEXT NOT NULL,     -- active | rotating
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    PRIMARY KEY (tenant_id, purpose)
);

-- Background re-seal: moves every sealed value to the primary key and
-- seals values of fields that became sensitive. after_key is the last
-- "collection_id/record_id" done, so a crashed job resumes there.
CREATE TABLE key_jobs (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    after_key    TEXT NOT NULL,
    done         BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, kind)
);

-- Sealed values live apart from data: a JSON object of field name ->
-- base64 ciphertext, all sealed under the data key key_id (0: none).
-- tags holds the blind index tag of each sealed lookup or unique field
-- (field name -> tag), in the row itself: an equality filter on a sealed
-- field costs what one on a clear field does, and a write adds no rows.
ALTER TABLE records ADD COLUMN sealed TEXT NOT NULL DEFAULT '{}';
ALTER TABLE records ADD COLUMN key_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN tags JSONB NOT NULL DEFAULT '{}';

-- Unique entries are found by record when a record is written or deleted
-- (and by the foreign key's cascade); without this index each of those
-- scans every entry of the field.
CREATE INDEX record_uniques_record ON record_uniques (tenant_id, collection_id, record_id);

-- Row-level security, as in 00001.
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_keys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE key_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE key_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON key_jobs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- +goose Down
DROP INDEX record_uniques_record;
ALTER TABLE records DROP COLUMN tags;
ALTER TABLE records DROP COLUMN key_id;
ALTER TABLE records DROP COLUMN sealed;
DROP TABLE key_jobs;
DROP TABLE tenant_keys;
