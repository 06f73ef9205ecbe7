-- +goose Up
-- The tamper-evident audit log (DATA-5, DATA-6, PRIV-2; DESIGN.md "Audit
-- log"). Entries are still written in the business transaction; the
-- sequencer then numbers them into a Merkle tree (idx), stores the tree's
-- hashes and signs checkpoints. Leaves are the canonical JSON of a row
-- (internal/audit Entry.Leaf), so any change to a numbered row shows.

-- How the actor authenticated: session, token, sso, break-glass, cli.
ALTER TABLE audit_log ADD COLUMN actor_how TEXT NOT NULL DEFAULT '';
-- Client address and user agent: personal data, stored sealed only.
ALTER TABLE audit_log ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
-- The entry's index in the tree; NULL until the sequencer numbers it.
ALTER TABLE audit_log ADD COLUMN idx BIGINT;
-- One entry per index. Tenants never write idx, so this unique index
-- cannot reveal anything across tenants.
CREATE UNIQUE INDEX audit_log_idx ON audit_log (idx);
-- The sequencer's queue: committed entries not yet numbered.
CREATE INDEX audit_log_pending ON audit_log (seq) WHERE idx IS NULL;
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);

-- The sequencer, the replica shipper and `bulwark audit verify` read every
-- tenant's entries; they alone set app.audit_scope = 'all' (per
-- transaction, like app.tenant_id). Tenant transactions never do, so for
-- them the tenant_isolation policy still decides. The application role
-- may only add entries and set idx (see migratePostgres): no edits, no
-- deletes, whatever the policy.
CREATE POLICY audit_sequencer ON audit_log
    USING (current_setting('app.audit_scope', true) = 'all')
    WITH CHECK (current_setting('app.audit_scope', true) = 'all');

-- The tree's stored hashes, numbered as golang.org/x/mod/sumdb/tlog does
-- (StoredHashIndex). Deployment-level: hashes reveal nothing.
CREATE TABLE audit_hashes (
    id   BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);

-- Every signed checkpoint (C2SP tlog-checkpoint, a signed note).
CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The tree's size and how much of it the replica holds.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       BIGINT NOT NULL,
    replicated BIGINT NOT NULL
);
INSERT INTO audit_head (id, size, replicated) VALUES (1, 0, 0);

-- Leases elect one process per deployment for a job (the audit sequencer
-- first): UPDATE leases SET holder = ?, until = ? WHERE name = ? AND
-- (until < now OR holder = ?), the same SQL on SQLite and PostgreSQL.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
INSERT INTO leases (name, holder, until) VALUES ('audit-sequencer', '', 0);

-- +goose Down
DROP TABLE leases;
DROP TABLE audit_head;
DROP TABLE audit_checkpoints;
DROP TABLE audit_hashes;
DROP POLICY audit_sequencer ON audit_log;
DROP INDEX audit_log_tenant_at;
DROP INDEX audit_log_pending;
DROP INDEX audit_log_idx;
ALTER TABLE audit_log DROP COLUMN idx;
ALTER TABLE audit_log DROP COLUMN user_agent;
ALTER TABLE audit_log DROP COLUMN client;
ALTER TABLE audit_log DROP COLUMN actor_how;
