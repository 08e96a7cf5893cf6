"""The PostgreSQL statements (``$n`` placeholders; asyncpg prepares and caches each one).

Writes are shaped to need few round trips: entity and version rows go in one statement
(a data-modifying CTE), and all of a resource's index changes in one more.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from wardbook.storage.index_tables import INDEX_TABLES, TABLES_BY_NAME, IndexTable
from wardbook.storage.version_rows import version_columns

BODY = "v.body"  # jsonb, decoded to bytes by the connection's codec

READ = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
    " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
    " WHERE e.res_type = $1 AND e.res_id = $2"
)

# Locks the entity row. When it had to wait for another writer, READ COMMITTED re-checks
# the locked row but joins it to version rows of the statement's older snapshot, so the
# new current version is not visible: the LEFT JOIN then yields NULL version columns and
# the caller re-reads with READ (a new snapshot; the lock keeps it stable).
CURRENT_FOR_UPDATE = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
    " LEFT JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
    " WHERE e.res_type = $1 AND e.res_id = $2 FOR UPDATE OF e"
)

VREAD = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
    " JOIN resource_version v ON v.pid = e.pid"
    " WHERE e.res_type = $1 AND e.res_id = $2 AND v.version = $3"
)

ENTITY_VERSION = "SELECT version FROM resource_entity WHERE res_type = $1 AND res_id = $2"

_INSERT_VERSION_FROM_E = (
    " INSERT INTO resource_version"
    " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
    " SELECT pid, $1::text, $2::text, $3::int, $4::bool, $5::bigint, $6::text, $7::jsonb FROM e"
    " RETURNING pid"
)

# Version 1: a new entity. ON CONFLICT keeps the transaction usable when another writer
# created the resource first (no row comes back -> VersionConflict).
CREATE = (
    # internal identifiers, values bound:
    "WITH e AS (INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"  # nosec B608
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (res_type, res_id) DO NOTHING RETURNING pid)"
    + _INSERT_VERSION_FROM_E
)

# Version n > 1: move the pointer only from n - 1. A concurrent writer's update makes this
# one wait for its row lock, re-check the condition on the new row, and match nothing.
UPDATE = (
    # internal identifiers, values bound:
    "WITH e AS (UPDATE resource_entity SET version = $3, deleted = $4, last_updated = $5"  # nosec B608
    " WHERE res_type = $1 AND res_id = $2 AND version = $3 - 1 RETURNING pid)"
    + _INSERT_VERSION_FROM_E
)

# A resource's index rows, one JSON array per table, in one round trip.
READ_INDEX = "SELECT " + ", ".join(
    # internal identifiers, values bound:
    f"(SELECT json_agg(json_build_array({', '.join(t.columns)})) FROM {t.name} WHERE pid = $1)"  # nosec B608
    for t in INDEX_TABLES
)

DELETE_INDEX = (
    "WITH "
    # internal identifiers, values bound:
    + ", ".join(f"d_{t.name} AS (DELETE FROM {t.name} WHERE pid = $1)" for t in INDEX_TABLES)  # nosec B608
    + " SELECT 1"
)

_ARRAY_TYPES = {"str": "text[]", "int": "bigint[]", "float": "float8[]"}


def _unnest(table: IndexTable, first: int, alias: str) -> str:
    arrays = ", ".join(f"${first + i}::{_ARRAY_TYPES[kind]}" for i, kind in enumerate(table.kinds))
    return f"unnest({arrays}) AS {alias}({', '.join(table.columns)})"


@functools.lru_cache(maxsize=512)
def apply_index_changes(deletes: tuple[str, ...], inserts: tuple[str, ...]) -> str:
    """One statement deleting and inserting index rows of one resource in several tables.

    Parameters: $1 pid, $2 res_type, then for each named table (deletes first, then
    inserts, in the given order) one array per column. Sibling CTEs share one snapshot, so
    a delete never sees a row inserted beside it -- the diff's removed and added sets are
    disjoint anyway.
    """
    parts: list[str] = []
    number = 3
    for name in deletes:
        table = TABLES_BY_NAME[name]
        match = " AND ".join(
            f"t.{c} IS NOT DISTINCT FROM d.{c}" if nullable else f"t.{c} = d.{c}"
            for c, nullable in zip(table.columns, table.nullable, strict=True)
        )
        parts.append(
            # internal identifiers, values bound:
            f"del_{name} AS (DELETE FROM {name} t USING {_unnest(table, number, 'd')}"  # nosec B608
            f" WHERE t.pid = $1 AND {match})"
        )
        number += len(table.columns)
    for name in inserts:
        table = TABLES_BY_NAME[name]
        parts.append(
            # internal identifiers, values bound:
            f"ins_{name} AS (INSERT INTO {name} ({table.insert_columns})"  # nosec B608
            f" SELECT $1::bigint, $2::text, d.* FROM {_unnest(table, number, 'd')})"
        )
        number += len(table.columns)
    # $2 is typed here too: a statement that only deletes would otherwise leave it untyped.
    return "WITH " + ", ".join(parts) + " SELECT 1 WHERE $2::text IS NOT NULL OR TRUE"


@functools.lru_cache(maxsize=256)
def create_with_index(tables: tuple[str, ...]) -> str:
    """A new resource, its first version and its index rows in ONE statement.

    A single statement is atomic on its own, so a plain create needs no BEGIN/COMMIT round
    trips: one round trip instead of four. Parameters: $1-$7 as for CREATE, then for each
    named table one array per column. No row back means the resource already existed.
    """
    parts = [
        "e AS (INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (res_type, res_id) DO NOTHING RETURNING pid)",
        "v AS (INSERT INTO resource_version"
        " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
        " SELECT pid, $1::text, $2::text, $3::int, $4::bool, $5::bigint, $6::text, $7::jsonb"
        " FROM e)",
    ]
    number = 8
    for name in tables:
        table = TABLES_BY_NAME[name]
        parts.append(
            # internal identifiers, values bound:
            f"ins_{name} AS (INSERT INTO {name} ({table.insert_columns})"  # nosec B608
            f" SELECT e.pid, $1::text, d.* FROM e, {_unnest(table, number, 'd')})"
        )
        number += len(table.columns)
    return "WITH " + ", ".join(parts) + " SELECT pid FROM e"  # internal identifiers, values bound  # nosec B608


@functools.lru_cache(maxsize=64)
def bulk_insert_index(tables: tuple[str, ...]) -> str:
    """Index rows of many resources into several tables in one statement.

    Parameters, per named table in order: a pid array, a res_type array, then one array
    per column.
    """
    parts: list[str] = []
    number = 1
    for name in tables:
        table = TABLES_BY_NAME[name]
        arrays = [f"${number}::bigint[]", f"${number + 1}::text[]"]
        arrays += [f"${number + 2 + i}::{_ARRAY_TYPES[kind]}" for i, kind in enumerate(table.kinds)]
        parts.append(
            # internal identifiers, values bound:
            f"ins_{name} AS (INSERT INTO {name} ({table.insert_columns})"  # nosec B608
            f" SELECT * FROM unnest({', '.join(arrays)}))"
        )
        number += 2 + len(table.columns)
    return "WITH " + ", ".join(parts) + " SELECT 1"


BULK_CREATE_ENTITIES = (
    "INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bool[], $5::bigint[])"
    " ON CONFLICT (res_type, res_id) DO NOTHING RETURNING pid, res_type, res_id"
)

BULK_INSERT_VERSIONS = (
    "INSERT INTO resource_version"
    " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::bool[],"
    " $6::bigint[], $7::text[], $8::jsonb[])"
)


def stream_current(resource_types: Sequence[str] | None, since: int | None) -> str:
    """Current, live versions; $1 the type list and/or $2 the since instant when given."""
    where = ["NOT e.deleted"]
    number = 1
    if resource_types is not None:
        where.append(f"e.res_type = ANY(${number}::text[])")
        number += 1
    if since is not None:
        where.append(f"e.last_updated >= ${number}::bigint")
    return (
        # internal identifiers, values bound:
        f"SELECT {version_columns('v', BODY)} FROM resource_entity e"  # nosec B608
        " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
        f" WHERE {' AND '.join(where)} ORDER BY e.pid"
    )


# The bulk loader's lookup: the current version of many resources at once, locked. A row
# whose version columns come back NULL had to wait for another writer (see
# CURRENT_FOR_UPDATE) and is re-read with READ.
LOAD_CURRENT = (
    # internal identifiers, values bound:
    f"SELECT {version_columns('v', BODY)}, e.res_type, e.res_id FROM resource_entity e"  # nosec B608
    " LEFT JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
    " WHERE (e.res_type, e.res_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
    " FOR UPDATE OF e"
)

VERSION_COPY_COLUMNS = (
    "pid",
    "res_type",
    "res_id",
    "version",
    "deleted",
    "last_updated",
    "method",
    "body",
)
