-- Custom SearchParameters and $reindex jobs (wardbook.service.reindex).
-- custom_search_param: one row per (SearchParameter url, base type): 'indexing' until a
-- reindex job has covered the type, then 'active' (searchable). definition is the JSON of
-- the SearchParameter's url, code, name, type, base, expression and target.
CREATE TABLE custom_search_param (
    url        text   COLLATE "C" NOT NULL,
    res_type   text   COLLATE "C" NOT NULL,
    definition text   NOT NULL,
    status     text   NOT NULL CHECK (status IN ('indexing', 'active')),
    job_id     text,
    updated_at bigint NOT NULL,
    PRIMARY KEY (url, res_type)
);

-- reindex_job: progress survives restarts (last_pid is committed per batch); the lease
-- (owner, until) keeps two processes from running one job.
CREATE TABLE reindex_job (
    id          text    PRIMARY KEY,
    types       text,
    status      text    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    total       bigint  NOT NULL,
    processed   bigint  NOT NULL,
    last_pid    bigint  NOT NULL,
    max_pid     bigint  NOT NULL,
    created_at  bigint  NOT NULL,
    updated_at  bigint  NOT NULL,
    finished_at bigint,
    lease_owner text,
    lease_until bigint,
    error       text,
    notes       text
);
CREATE INDEX reindex_job_status ON reindex_job (status);
