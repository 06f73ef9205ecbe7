-- +goose Up
-- SQLite writes whole pages: a commit rewrites every page its batch
-- touched. An index led by tenant_id is written at one place per tenant,
-- so (tenant_id, at) cost each batch of writes about one page per tenant
-- it touched (measured: a third of the commit's pages with the log on).
-- The time index is global instead, written at its right edge only. A
-- tenant's search with a time range reads the tenant's entries through
-- audit_log_tenant (tenant_id, seq) or the window through this index,
-- whichever the planner prefers; the operators' cross-tenant search uses
-- this one. PostgreSQL logs rows, not pages, and keeps (tenant_id, at).
DROP INDEX audit_log_tenant_at;
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose Down
DROP INDEX audit_log_at;
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
