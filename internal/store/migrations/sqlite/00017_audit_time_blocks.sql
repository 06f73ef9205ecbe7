-- +goose Up
-- audit_time lists, for each block of 64 consecutive integrated entries,
-- the earliest and the latest of their times, instead of every entry's
-- time: the sequencer writes one row per block rather than one per entry,
-- in the single writer's transaction. An operator's search with a time
-- range reads the blocks newest first, skips those wholly outside the
-- range, and judges each entry in the others by its own time
-- (sqliteTimeEntries in audit_numbering.go).
CREATE TABLE audit_time_blocks (
    block    INTEGER PRIMARY KEY, -- entries block*64 to block*64+63 (audit_log.idx)
    earliest INTEGER NOT NULL, -- the least audit_log.at among them
    latest   INTEGER NOT NULL  -- the greatest
);
INSERT INTO audit_time_blocks (block, earliest, latest)
    SELECT entry / 64, min(time), max(time) FROM audit_time GROUP BY entry / 64;
DROP TABLE audit_time;
ALTER TABLE audit_time_blocks RENAME TO audit_time;

-- +goose Down
CREATE TABLE audit_time_entries (
    time  INTEGER NOT NULL, -- audit_log.at
    entry INTEGER NOT NULL, -- audit_log.idx
    PRIMARY KEY (time, entry)
) WITHOUT ROWID;
INSERT INTO audit_time_entries (time, entry)
    SELECT at, idx FROM audit_log WHERE idx < (SELECT size FROM audit_head WHERE id = 1);
DROP TABLE audit_time;
ALTER TABLE audit_time_entries RENAME TO audit_time;
