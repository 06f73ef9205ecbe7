-- +goose Up
-- The tree index is set by the sequencer, never at insert: indexing only
-- numbered entries saves every audit insert one B-tree write (an entry is
-- appended in the business transaction, on the single writer). Lookups by
-- index (idx = ?, idx BETWEEN) imply idx IS NOT NULL and still use it.
DROP INDEX audit_log_idx;
CREATE UNIQUE INDEX audit_log_idx ON audit_log (idx) WHERE idx IS NOT NULL;

-- +goose Down
DROP INDEX audit_log_idx;
CREATE UNIQUE INDEX audit_log_idx ON audit_log (idx);
