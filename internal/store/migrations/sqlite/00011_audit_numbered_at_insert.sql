-- +goose Up
-- On SQLite the writer numbers each audit entry as it inserts it: there is
-- one writer, so the next index is the last one plus one (audit_queue.go).
-- The sequencer integrates into the tree the entries at and beyond
-- audit_head.size, the tail of audit_log_idx, and no longer rewrites every
-- row to number it (the row, the pending index and the index on idx were a
-- quarter of the log's cost per entry). audit_tenant replaces the tenant
-- index of 00010: the sequencer writes it, a batch of integrated entries
-- at a time, rather than every audited write changing one page per tenant.
-- PostgreSQL keeps numbering in the sequencer.
UPDATE audit_log
    SET idx = seq + coalesce((SELECT idx - seq FROM audit_log WHERE idx IS NOT NULL ORDER BY idx DESC LIMIT 1), -1)
    WHERE idx IS NULL;
DROP INDEX audit_log_pending;
DROP INDEX audit_log_tenant;
CREATE TABLE audit_tenant (
    tenant TEXT NOT NULL,
    entry  INTEGER NOT NULL, -- audit_log.idx
    PRIMARY KEY (tenant, entry)
) WITHOUT ROWID;
INSERT INTO audit_tenant (tenant, entry)
    SELECT tenant_id, idx FROM audit_log
    WHERE tenant_id IS NOT NULL AND idx < (SELECT size FROM audit_head WHERE id = 1);

-- +goose Down
UPDATE audit_log SET idx = NULL WHERE idx >= (SELECT size FROM audit_head WHERE id = 1);
DROP TABLE audit_tenant;
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq) WHERE idx IS NOT NULL;
CREATE INDEX audit_log_pending ON audit_log (seq) WHERE idx IS NULL;
