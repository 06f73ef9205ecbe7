-- +goose Up
-- The audit tree's stored hashes in runs: a row holds the hashes first,
-- first+1, ... end to end, 32 bytes each (audit_hashes.go). The sequencer
-- writes a few rows a round instead of two per entry. Each existing hash
-- becomes a run of one.
CREATE TABLE audit_hash_runs (
    first  INTEGER PRIMARY KEY, -- tlog.StoredHashIndex of the first hash
    hashes BLOB NOT NULL
);
INSERT INTO audit_hash_runs (first, hashes) SELECT id, hash FROM audit_hashes;
DROP TABLE audit_hashes;

-- +goose Down
CREATE TABLE audit_hashes (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 256)
INSERT INTO audit_hashes (id, hash)
    SELECT first + i, substr(hashes, i * 32 + 1, 32) FROM audit_hash_runs JOIN n ON i < length(hashes) / 32;
DROP TABLE audit_hash_runs;
