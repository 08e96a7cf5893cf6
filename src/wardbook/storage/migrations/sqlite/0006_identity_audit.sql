-- Users, web sessions, break-the-glass grants and the audit hash chain (wardbook.auth,
-- wardbook.audit). Instants are INTEGER epoch microseconds; booleans are 0/1.

CREATE TABLE auth_user (
    username            TEXT    PRIMARY KEY,
    roles               TEXT    NOT NULL,             -- space-separated role names
    password_hash       TEXT,                         -- argon2id PHC string; NULL: none set
    totp_secret         TEXT,                         -- base32; NULL: MFA not set up
    mfa_enrolled        INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enrolled IN (0, 1)),
    recovery_codes      TEXT    NOT NULL DEFAULT '[]', -- JSON list of SHA-256 hex digests
    fhir_user           TEXT,                         -- e.g. Practitioner/123
    wards               TEXT    NOT NULL DEFAULT '',  -- space-separated Location ids
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        INTEGER NOT NULL DEFAULT 0,
    last_totp_step      INTEGER NOT NULL DEFAULT 0,   -- a TOTP code is accepted once
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
) STRICT;

CREATE TABLE auth_session (
    session_hash TEXT    PRIMARY KEY,                 -- SHA-256 of the cookie value
    username     TEXT    NOT NULL REFERENCES auth_user (username),
    created_at   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    mfa_done     INTEGER NOT NULL DEFAULT 0 CHECK (mfa_done IN (0, 1)),
    csrf_token   TEXT    NOT NULL,
    source_ip    TEXT
) STRICT;
CREATE INDEX auth_session_user ON auth_session (username);

CREATE TABLE break_glass (
    grant_id   TEXT    PRIMARY KEY,
    subject    TEXT    NOT NULL,                      -- Principal.subject (user name)
    patient_id TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX break_glass_subject ON break_glass (subject, patient_id, expires_at);

-- The AuditEvent hash chain: entry_hash = SHA-256(seq|event_id|recorded|body_hash|prev_hash).
CREATE TABLE audit_chain (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL UNIQUE,
    recorded   INTEGER NOT NULL,
    body_hash  TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    entry_hash TEXT    NOT NULL
) STRICT;
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;
