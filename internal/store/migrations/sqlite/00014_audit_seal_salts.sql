-- +goose Up
-- A random salt per tenant for the audit log's fallback seal: when a
-- tenant's keys cannot be had (the KMS is unreachable and they are not
-- cached), its entries' client address and user agent are HMACs under the
-- deployment key and this salt (audit_seal.go). Deleting the tenant
-- deletes the salt, so those HMACs can no longer be recomputed from a
-- guess: they are shredded with the tenant's keys.
CREATE TABLE audit_seal_salts (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    salt      BLOB NOT NULL
);

-- +goose Down
DROP TABLE audit_seal_salts;
