-- +goose Up
-- The audit tree's stored hashes in runs: a row holds the hashes first,
-- first+1, ... end to end, 32 bytes each (audit_hashes.go). The sequencer
-- writes a few rows a round instead of two per entry. Each existing hash
-- becomes a run of one. The application role's grants follow at startup
-- (auditGrants: SELECT and INSERT only).
CREATE TABLE audit_hash_runs (
    first  BIGINT PRIMARY KEY, -- tlog.StoredHashIndex of the first hash
    hashes BYTEA NOT NULL
);
INSERT INTO audit_hash_runs (first, hashes) SELECT id, hash FROM audit_hashes;
DROP TABLE audit_hashes;

-- +goose Down
CREATE TABLE audit_hashes (
    id   BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
INSERT INTO audit_hashes (id, hash)
    SELECT first + i, substr(hashes, i * 32 + 1, 32)
    FROM audit_hash_runs, generate_series(0, length(hashes) / 32 - 1) AS i;
DROP TABLE audit_hash_runs;
