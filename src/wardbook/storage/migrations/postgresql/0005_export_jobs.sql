-- Bulk Data export jobs (HL7 FHIR Bulk Data Access 2.0, $export): kept in the database so
-- a job survives a server restart and any worker process can pick it up. A running job
-- holds a lease (owner, lease_until); a job whose lease ran out is taken over and restarted.

CREATE TABLE export_job (
    id               text PRIMARY KEY,
    status           text   NOT NULL,  -- accepted | in-progress | completed | failed | cancelled
    request          text   NOT NULL,  -- the kick-off URL, as the manifest reports it
    params           jsonb  NOT NULL,  -- level, group, types, since, type filters, format
    principal        jsonb  NOT NULL,  -- who asked: kind, subject, scopes, patient
    created          bigint NOT NULL,
    transaction_time bigint,
    progress         text,
    output           jsonb,            -- manifest output entries once completed
    error            text,
    owner            text,
    lease_until      bigint
);
CREATE INDEX export_job_runnable ON export_job (created) WHERE status IN ('accepted', 'in-progress');
