-- +goose Up
-- audit_tenant lists, for each tenant, the blocks of 64 consecutive
-- integrated entries that hold at least one of its entries, instead of
-- every entry: the sequencer writes a handful of rows per block rather than
-- one per entry, and a tenant's search reads its blocks, skipping the other
-- tenants' entries in them (sqliteTenantEntries in audit_numbering.go).
CREATE TABLE audit_tenant_blocks (
    tenant TEXT NOT NULL,
    block  INTEGER NOT NULL, -- entries block*64 to block*64+63 (audit_log.idx)
    PRIMARY KEY (tenant, block)
) WITHOUT ROWID;
INSERT INTO audit_tenant_blocks (tenant, block) SELECT DISTINCT tenant, entry / 64 FROM audit_tenant;
DROP TABLE audit_tenant;
ALTER TABLE audit_tenant_blocks RENAME TO audit_tenant;

-- +goose Down
CREATE TABLE audit_tenant_entries (
    tenant TEXT NOT NULL,
    entry  INTEGER NOT NULL, -- audit_log.idx
    PRIMARY KEY (tenant, entry)
) WITHOUT ROWID;
INSERT INTO audit_tenant_entries (tenant, entry)
    SELECT tenant_id, idx FROM audit_log
    WHERE tenant_id IS NOT NULL AND idx < (SELECT size FROM audit_head WHERE id = 1);
DROP TABLE audit_tenant;
ALTER TABLE audit_tenant_entries RENAME TO audit_tenant;
