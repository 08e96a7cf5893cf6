-- Successful backups, newest last: the source of wardbook_backup_last_success_timestamp_seconds.
CREATE TABLE ops_backup_log (
    id          INTEGER PRIMARY KEY,
    finished_at INTEGER NOT NULL,  -- epoch microseconds
    format      TEXT    NOT NULL,  -- sqlite | pg_dump
    bytes       INTEGER NOT NULL,
    verified    INTEGER NOT NULL CHECK (verified IN (0, 1))
) STRICT;
