-- Wardbook schema v1 for SQLite (see wardbook.storage.base for the model).
-- Instants are INTEGER epoch microseconds; booleans are 0/1; body is UTF-8 JSON text.
-- STRICT tables make SQLite enforce the declared types like PostgreSQL does.

CREATE TABLE resource_entity (
    pid          INTEGER PRIMARY KEY,
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    last_updated INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX resource_entity_type_id ON resource_entity (res_type, res_id);
CREATE INDEX resource_entity_type_updated ON resource_entity (res_type, last_updated);

CREATE TABLE resource_version (
    vid          INTEGER PRIMARY KEY,
    pid          INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    last_updated INTEGER NOT NULL,
    method       TEXT    NOT NULL,
    body         TEXT
) STRICT;
CREATE UNIQUE INDEX resource_version_pid_version ON resource_version (pid, version);
-- History keyset order is (last_updated, vid); vid is the rowid, so it rides in every index.
CREATE INDEX resource_version_updated ON resource_version (last_updated);
CREATE INDEX resource_version_type_updated ON resource_version (res_type, last_updated);

-- Index tables: one per SearchParameter type, columns = wardbook.search.index row types.
-- Prefix search on text: use range predicates (value_norm >= ? AND value_norm < ?), which
-- the BINARY-collated index answers; LIKE is case-insensitive in SQLite and skips it.

CREATE TABLE idx_string (
    pid         INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type    TEXT    NOT NULL,
    param       TEXT    NOT NULL,
    value_norm  TEXT    NOT NULL,
    value_exact TEXT    NOT NULL
) STRICT;
CREATE INDEX idx_string_value ON idx_string (res_type, param, value_norm);
CREATE INDEX idx_string_pid ON idx_string (pid);

CREATE TABLE idx_token (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    system   TEXT,
    code     TEXT,
    text     TEXT
) STRICT;
CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system);
CREATE INDEX idx_token_pid ON idx_token (pid);

CREATE TABLE idx_date (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    low      INTEGER NOT NULL,
    high     INTEGER NOT NULL
) STRICT;
CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high);
CREATE INDEX idx_date_pid ON idx_date (pid);

CREATE TABLE idx_number (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    value    REAL    NOT NULL,
    low      REAL    NOT NULL,
    high     REAL    NOT NULL
) STRICT;
CREATE INDEX idx_number_value ON idx_number (res_type, param, value);
CREATE INDEX idx_number_pid ON idx_number (pid);

CREATE TABLE idx_quantity (
    pid             INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type        TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    value           REAL    NOT NULL,
    low             REAL    NOT NULL,
    high            REAL    NOT NULL,
    system          TEXT,
    code            TEXT,
    unit            TEXT,
    canonical_value REAL,
    canonical_code  TEXT
) STRICT;
CREATE INDEX idx_quantity_code ON idx_quantity (res_type, param, code, value);
CREATE INDEX idx_quantity_canonical ON idx_quantity (res_type, param, canonical_code, canonical_value);
CREATE INDEX idx_quantity_pid ON idx_quantity (pid);

CREATE TABLE idx_uri (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    uri      TEXT    NOT NULL
) STRICT;
CREATE INDEX idx_uri_uri ON idx_uri (res_type, param, uri);
CREATE INDEX idx_uri_pid ON idx_uri (pid);

CREATE TABLE idx_reference (
    pid            INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type       TEXT    NOT NULL,
    param          TEXT    NOT NULL,
    target_type    TEXT,
    target_id      TEXT,
    target_version TEXT,
    url            TEXT
) STRICT;
CREATE INDEX idx_reference_target ON idx_reference (res_type, param, target_type, target_id);
CREATE INDEX idx_reference_url ON idx_reference (res_type, param, url);
-- Compartments ($everything, _revinclude:*) look up by target across source types.
CREATE INDEX idx_reference_any_source ON idx_reference (target_type, target_id);
CREATE INDEX idx_reference_pid ON idx_reference (pid);

CREATE TABLE idx_composite (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    key      TEXT    NOT NULL
) STRICT;
CREATE INDEX idx_composite_key ON idx_composite (res_type, param, key);
CREATE INDEX idx_composite_pid ON idx_composite (pid);
