-- +goose Up
-- The audit log's time index covers integrated entries only, and the
-- sequencer writes it, a batch of entries per transaction, as it writes
-- audit_tenant (00012): an index on audit_log (at) was changed by every
-- audited write, and SQLite's WAL rewrites its last page whole at every
-- commit of a batch. The operators' search with a time range reads the
-- integrated entries through audit_time and the few pending ones from the
-- tail of audit_log_idx (audit_numbering.go, sqliteTimeEntries).
-- PostgreSQL logs rows, not pages, and keeps its indexes.
CREATE TABLE audit_time (
    time  INTEGER NOT NULL, -- audit_log.at
    entry INTEGER NOT NULL, -- audit_log.idx
    PRIMARY KEY (time, entry)
) WITHOUT ROWID;
INSERT INTO audit_time (time, entry)
    SELECT at, idx FROM audit_log WHERE idx < (SELECT size FROM audit_head WHERE id = 1);
DROP INDEX audit_log_at;

-- +goose Down
CREATE INDEX audit_log_at ON audit_log (at);
DROP TABLE audit_time;
