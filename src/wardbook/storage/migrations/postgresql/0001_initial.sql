-- Wardbook schema v1 for PostgreSQL (see wardbook.storage.base for the model).
-- Instants are bigint epoch microseconds. Text columns use COLLATE "C": comparisons are by
-- code point like SQLite's BINARY (same sort order on both backends), cheaper than a
-- locale, and a plain B-tree then answers both LIKE 'abc%' and range prefix searches.

CREATE TABLE resource_entity (
    pid          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    res_type     text COLLATE "C" NOT NULL,
    res_id       text COLLATE "C" NOT NULL,
    version      integer NOT NULL,
    deleted      boolean NOT NULL,
    last_updated bigint  NOT NULL
);
CREATE UNIQUE INDEX resource_entity_type_id ON resource_entity (res_type, res_id);
CREATE INDEX resource_entity_type_updated ON resource_entity (res_type, last_updated);

CREATE TABLE resource_version (
    vid          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pid          bigint  NOT NULL REFERENCES resource_entity (pid),
    res_type     text COLLATE "C" NOT NULL,
    res_id       text COLLATE "C" NOT NULL,
    version      integer NOT NULL,
    deleted      boolean NOT NULL,
    last_updated bigint  NOT NULL,
    method       text    NOT NULL,
    body         jsonb
);
CREATE UNIQUE INDEX resource_version_pid_version ON resource_version (pid, version);
-- History pages by keyset (last_updated, vid), newest first.
CREATE INDEX resource_version_updated ON resource_version (last_updated, vid);
CREATE INDEX resource_version_type_updated ON resource_version (res_type, last_updated, vid);

-- Index tables: one per SearchParameter type, columns = wardbook.search.index row types.

CREATE TABLE idx_string (
    pid         bigint NOT NULL REFERENCES resource_entity (pid),
    res_type    text COLLATE "C" NOT NULL,
    param       text COLLATE "C" NOT NULL,
    value_norm  text COLLATE "C" NOT NULL,
    value_exact text COLLATE "C" NOT NULL
);
CREATE INDEX idx_string_value ON idx_string (res_type, param, value_norm);
CREATE INDEX idx_string_pid ON idx_string (pid);

CREATE TABLE idx_token (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    system   text COLLATE "C",
    code     text COLLATE "C",
    text     text COLLATE "C"
);
CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system);
CREATE INDEX idx_token_pid ON idx_token (pid);

CREATE TABLE idx_date (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    low      bigint NOT NULL,
    high     bigint NOT NULL
);
CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high);
CREATE INDEX idx_date_pid ON idx_date (pid);

CREATE TABLE idx_number (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    value    double precision NOT NULL,
    low      double precision NOT NULL,
    high     double precision NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (res_type, param, value);
CREATE INDEX idx_number_pid ON idx_number (pid);

CREATE TABLE idx_quantity (
    pid             bigint NOT NULL REFERENCES resource_entity (pid),
    res_type        text COLLATE "C" NOT NULL,
    param           text COLLATE "C" NOT NULL,
    value           double precision NOT NULL,
    low             double precision NOT NULL,
    high            double precision NOT NULL,
    system          text COLLATE "C",
    code            text COLLATE "C",
    unit            text COLLATE "C",
    canonical_value double precision,
    canonical_code  text COLLATE "C"
);
CREATE INDEX idx_quantity_code ON idx_quantity (res_type, param, code, value);
CREATE INDEX idx_quantity_canonical ON idx_quantity (res_type, param, canonical_code, canonical_value)
    WHERE canonical_code IS NOT NULL;
CREATE INDEX idx_quantity_pid ON idx_quantity (pid);

CREATE TABLE idx_uri (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    uri      text COLLATE "C" NOT NULL
);
CREATE INDEX idx_uri_uri ON idx_uri (res_type, param, uri);
CREATE INDEX idx_uri_pid ON idx_uri (pid);

CREATE TABLE idx_reference (
    pid            bigint NOT NULL REFERENCES resource_entity (pid),
    res_type       text COLLATE "C" NOT NULL,
    param          text COLLATE "C" NOT NULL,
    target_type    text COLLATE "C",
    target_id      text COLLATE "C",
    target_version text COLLATE "C",
    url            text COLLATE "C"
);
CREATE INDEX idx_reference_target ON idx_reference (res_type, param, target_type, target_id);
-- Most references are local; only absolute/canonical ones carry a url.
CREATE INDEX idx_reference_url ON idx_reference (res_type, param, url) WHERE url IS NOT NULL;
-- Compartments ($everything, _revinclude:*) look up by target across source types.
CREATE INDEX idx_reference_any_source ON idx_reference (target_type, target_id)
    WHERE target_id IS NOT NULL;
CREATE INDEX idx_reference_pid ON idx_reference (pid);

CREATE TABLE idx_composite (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    key      text COLLATE "C" NOT NULL
);
CREATE INDEX idx_composite_key ON idx_composite (res_type, param, key);
CREATE INDEX idx_composite_pid ON idx_composite (pid);
