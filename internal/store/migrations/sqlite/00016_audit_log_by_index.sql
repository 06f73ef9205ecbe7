-- +goose Up
-- On SQLite the audit log is stored in the order of its tree index: idx is
-- the table's key (the rowid), and seq, the search's cursor, is derived
-- from it (idx + 1). The writer numbers every entry as it inserts it
-- (00011), so every row has its index. Before, each audited write
-- changed three B-trees (the table by seq, AUTOINCREMENT's
-- sqlite_sequence and the unique index on idx), and SQLite's WAL rewrote
-- the last page of each whole at every commit; now it changes one. Every
-- lookup by index (the sequencer, the replica, the tenant's blocks, the
-- export) reads the table itself. Cursors handed out before this
-- migration name other entries after it. PostgreSQL keeps seq and idx.
CREATE TABLE audit_log_by_index (
    idx         INTEGER PRIMARY KEY,
    seq         INTEGER GENERATED ALWAYS AS (idx + 1) VIRTUAL,
    tenant_id   TEXT,
    at          INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    fields      TEXT NOT NULL, -- JSON array of changed field names, never values
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    privileged  INTEGER NOT NULL,
    actor_how   TEXT NOT NULL DEFAULT '',
    client      TEXT NOT NULL DEFAULT '', -- sealed
    user_agent  TEXT NOT NULL DEFAULT ''  -- sealed
);
INSERT INTO audit_log_by_index (idx, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields,
        outcome, request_id, privileged, actor_how, client, user_agent)
    SELECT idx, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields,
        outcome, request_id, privileged, actor_how, client, user_agent
    FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_by_index RENAME TO audit_log;

-- +goose Down
CREATE TABLE audit_log_by_seq (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT,
    at          INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    fields      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    privileged  INTEGER NOT NULL,
    actor_how   TEXT NOT NULL DEFAULT '',
    client      TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    idx         INTEGER
);
INSERT INTO audit_log_by_seq (seq, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields,
        outcome, request_id, privileged, actor_how, client, user_agent, idx)
    SELECT idx + 1, tenant_id, at, actor_kind, actor_id, action, target_kind, target_id, fields,
        outcome, request_id, privileged, actor_how, client, user_agent, idx
    FROM audit_log ORDER BY idx;
DROP TABLE audit_log;
ALTER TABLE audit_log_by_seq RENAME TO audit_log;
CREATE UNIQUE INDEX audit_log_idx ON audit_log (idx) WHERE idx IS NOT NULL;
