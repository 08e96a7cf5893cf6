-- Users, web sessions, break-the-glass grants and the audit hash chain (wardbook.auth,
-- wardbook.audit). Instants are bigint epoch microseconds.

CREATE TABLE auth_user (
    username            text COLLATE "C" PRIMARY KEY,
    roles               text    NOT NULL,
    password_hash       text,
    totp_secret         text,
    mfa_enrolled        boolean NOT NULL DEFAULT false,
    recovery_codes      text    NOT NULL DEFAULT '[]',
    fhir_user           text,
    wards               text    NOT NULL DEFAULT '',
    disabled            boolean NOT NULL DEFAULT false,
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        bigint  NOT NULL DEFAULT 0,
    last_totp_step      bigint  NOT NULL DEFAULT 0,
    must_change_password boolean NOT NULL DEFAULT false,
    created_at          bigint  NOT NULL,
    password_changed_at bigint  NOT NULL
);

CREATE TABLE auth_session (
    session_hash text COLLATE "C" PRIMARY KEY,
    username     text COLLATE "C" NOT NULL REFERENCES auth_user (username),
    created_at   bigint  NOT NULL,
    last_seen    bigint  NOT NULL,
    mfa_done     boolean NOT NULL DEFAULT false,
    csrf_token   text    NOT NULL,
    source_ip    text
);
CREATE INDEX auth_session_user ON auth_session (username);

CREATE TABLE break_glass (
    grant_id   text COLLATE "C" PRIMARY KEY,
    subject    text COLLATE "C" NOT NULL,
    patient_id text COLLATE "C" NOT NULL,
    reason     text   NOT NULL,
    granted_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX break_glass_subject ON break_glass (subject, patient_id, expires_at);

CREATE TABLE audit_chain (
    seq        bigint PRIMARY KEY,
    event_id   text COLLATE "C" NOT NULL UNIQUE,
    recorded   bigint NOT NULL,
    body_hash  text   NOT NULL,
    prev_hash  text   NOT NULL,
    entry_hash text   NOT NULL
);
CREATE FUNCTION audit_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_chain is append-only';
END;
$$;
CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append_only();
