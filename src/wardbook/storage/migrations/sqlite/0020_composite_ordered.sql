-- Composite search parameters whose last component is ordered (quantity, number, date).
--
-- R4 search.html#composite: `code-value-quantity=http://loinc.org|8480-6$gt140` matches when
-- one element pairs the code with a value above 140. idx_composite holds exact keys only,
-- which cannot answer a prefix or a range. These tables keep the leading components' exact
-- keys joined (`key`, as in idx_composite) next to the last component's value with exactly
-- the columns of idx_quantity / idx_number / idx_date, so a search is `key = ?` plus the
-- same range condition as the plain parameter (wardbook.storage.search_sql). Existing rows
-- of such composites in idx_composite are dropped by `wardbook reindex` (docs/release-notes.md).
CREATE TABLE idx_composite_quantity (
    pid             INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type        TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    value           REAL    NOT NULL,
    low             REAL    NOT NULL,
    high            REAL    NOT NULL,
    system          TEXT,
    code            TEXT,
    unit            TEXT,
    canonical_value REAL,
    canonical_code  TEXT
) STRICT;
CREATE INDEX idx_composite_quantity_key ON idx_composite_quantity (res_type, param, key, value, pid);
CREATE INDEX idx_composite_quantity_pid ON idx_composite_quantity (pid, param);

CREATE TABLE idx_composite_number (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    value    REAL    NOT NULL,
    low      REAL    NOT NULL,
    high     REAL    NOT NULL
) STRICT;
CREATE INDEX idx_composite_number_key ON idx_composite_number (res_type, param, key, value, pid);
CREATE INDEX idx_composite_number_pid ON idx_composite_number (pid, param);

CREATE TABLE idx_composite_date (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    low      INTEGER NOT NULL,
    high     INTEGER NOT NULL
) STRICT;
CREATE INDEX idx_composite_date_key ON idx_composite_date (res_type, param, key, low, high, pid);
CREATE INDEX idx_composite_date_pid ON idx_composite_date (pid, param);
