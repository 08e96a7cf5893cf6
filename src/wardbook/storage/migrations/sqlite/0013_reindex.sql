-- Custom SearchParameters and $reindex jobs (wardbook.service.reindex).
-- custom_search_param: one row per (SearchParameter url, base type): 'indexing' until a
-- reindex job has covered the type, then 'active' (searchable). definition is the JSON of
-- the SearchParameter's url, code, name, type, base, expression and target.
CREATE TABLE custom_search_param (
    url        TEXT    NOT NULL,
    res_type   TEXT    NOT NULL,
    definition TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('indexing', 'active')),
    job_id     TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (url, res_type)
) STRICT;

-- reindex_job: progress survives restarts (last_pid is committed per batch); the lease
-- (owner, until) keeps two processes from running one job.
CREATE TABLE reindex_job (
    id          TEXT    PRIMARY KEY,
    types       TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    total       INTEGER NOT NULL,
    processed   INTEGER NOT NULL,
    last_pid    INTEGER NOT NULL,
    max_pid     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER,
    error       TEXT,
    notes       TEXT
) STRICT;
CREATE INDEX reindex_job_status ON reindex_job (status);
