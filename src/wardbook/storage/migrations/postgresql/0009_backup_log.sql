-- Successful backups, newest last: the source of wardbook_backup_last_success_timestamp_seconds.
CREATE TABLE ops_backup_log (
    id          bigserial PRIMARY KEY,
    finished_at bigint  NOT NULL,  -- epoch microseconds
    format      text    NOT NULL,  -- sqlite | pg_dump
    bytes       bigint  NOT NULL,
    verified    boolean NOT NULL
);
