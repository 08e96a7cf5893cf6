"""The SQLite statements of the resource tables (bodies come back as bytes via CAST)."""

from __future__ import annotations

from wardbook.storage.version_rows import version_columns

BODY = "CAST(v.body AS BLOB)"

READ = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
    " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
    " WHERE e.res_type = ? AND e.res_id = ?"
)

VREAD = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
    " JOIN resource_version v ON v.pid = e.pid"
    " WHERE e.res_type = ? AND e.res_id = ? AND v.version = ?"
)

ENTITY = "SELECT pid, version, deleted FROM resource_entity WHERE res_type = ? AND res_id = ?"

INSERT_ENTITY = (
    "INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
    " VALUES (?, ?, ?, ?, ?)"
)

INSERT_ENTITY_WITH_PID = (
    "INSERT INTO resource_entity (pid, res_type, res_id, version, deleted, last_updated)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

UPDATE_ENTITY = (
    "UPDATE resource_entity SET version = ?, deleted = ?, last_updated = ? WHERE pid = ?"
)

# The body arrives as UTF-8 bytes; CAST stores it as TEXT without a decode in Python.
INSERT_VERSION = (
    "INSERT INTO resource_version"
    " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS TEXT))"
)

STREAM_CURRENT = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)}, e.pid FROM resource_entity e"  # nosec B608
    " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
    " WHERE NOT e.deleted AND e.pid > ?{filters} ORDER BY e.pid LIMIT ?"
)
