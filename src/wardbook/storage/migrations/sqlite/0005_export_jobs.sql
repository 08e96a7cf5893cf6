-- Bulk Data export jobs (HL7 FHIR Bulk Data Access 2.0, $export): kept in the database so
-- a job survives a server restart and any worker process can pick it up. A running job
-- holds a lease (owner, lease_until); a job whose lease ran out is taken over and restarted.

CREATE TABLE export_job (
    id               TEXT    PRIMARY KEY,
    status           TEXT    NOT NULL,  -- accepted | in-progress | completed | failed | cancelled
    request          TEXT    NOT NULL,  -- the kick-off URL, as the manifest reports it
    params           TEXT    NOT NULL,  -- JSON: level, group, types, since, type filters, format
    principal        TEXT    NOT NULL,  -- JSON: who asked: kind, subject, scopes, patient
    created          INTEGER NOT NULL,
    transaction_time INTEGER,
    progress         TEXT,
    output           TEXT,              -- JSON: manifest output entries once completed
    error            TEXT,
    owner            TEXT,
    lease_until      INTEGER
) STRICT;
CREATE INDEX export_job_runnable ON export_job (created) WHERE status IN ('accepted', 'in-progress');
