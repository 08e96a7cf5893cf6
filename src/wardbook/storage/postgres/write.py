"""PostgreSQL write transactions: version check, append, current pointer, index by diff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from wardbook.storage.base import (
    LoadOutcome,
    LoadRow,
    Merge,
    NewVersion,
    Page,
    StoredResource,
    VersionConflict,
    WriteTx,
    merge_into,
)
from wardbook.storage.index_tables import (
    INDEX_TABLES,
    IndexKey,
    IndexSets,
    IndexTable,
    diff_index,
    index_sets,
)
from wardbook.storage.postgres import sql
from wardbook.storage.postgres.connection import PostgresRunner, advisory_key, pg_errors
from wardbook.storage.search_delegate import run_search
from wardbook.storage.version_rows import stored_from_row

if TYPE_CHECKING:
    from wardbook.search.index import IndexRows
    from wardbook.search.query import SearchQuery
    from wardbook.storage.postgres.connection import Connection


class PostgresWriteTx(WriteTx):
    """One READ COMMITTED transaction on one pooled connection."""

    def __init__(self, conn: Connection) -> None:
        self._connection: Connection | None = conn
        self._runner = PostgresRunner(conn)

    def close(self) -> None:
        """Refuse further use once the transaction has ended."""
        self._connection = None

    @property
    def _conn(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the write transaction is already finished")
        return self._connection

    @property
    def runner(self) -> PostgresRunner:
        self._conn  # noqa: B018 - raises once the transaction is finished
        return self._runner

    async def lock_key(self, key: str) -> None:
        """Transaction-scoped advisory lock: released at commit or rollback."""
        with pg_errors():
            await self._conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(key))

    async def current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        with pg_errors():
            row = await self._conn.fetchrow(sql.CURRENT_FOR_UPDATE, resource_type, resource_id)
            if row is not None and row[0] is None:  # waited for a writer: see sql.py
                row = await self._conn.fetchrow(sql.READ, resource_type, resource_id)
        return None if row is None else stored_from_row(row)

    async def write(self, version: NewVersion) -> None:
        with pg_errors():
            await write_version(self._conn, version)

    async def write_many(self, versions: Sequence[NewVersion]) -> None:
        """Many versions in a few statements (new resources go in with arrays)."""
        with pg_errors():
            await write_many(self._conn, versions)

    async def replace_body(
        self,
        resource_type: str,
        resource_id: str,
        version: int,
        body: bytes,
        index: IndexRows | None,
    ) -> None:
        with pg_errors():
            row = await self._conn.fetchrow(
                "SELECT pid, version, deleted FROM resource_entity"
                " WHERE res_type = $1 AND res_id = $2",
                resource_type,
                resource_id,
            )
            if row is None:
                raise VersionConflict(f"{resource_type}/{resource_id} does not exist")
            pid, current, deleted = row
            await self._conn.execute(
                "UPDATE resource_version SET body = $3::jsonb WHERE pid = $1 AND version = $2",
                pid,
                version,
                body,
            )
            if index is not None and version == current and not deleted:
                old = await read_index(self._conn, pid)
                await apply_index_diff(self._conn, pid, resource_type, old, index_sets(index))

    async def search(self, query: SearchQuery) -> Page:
        return await run_search(self._runner, query)


async def write_version(conn: Connection, new: NewVersion) -> None:
    """Append ``new`` inside the caller's transaction (see WriteTx.write)."""
    statement = sql.CREATE if new.version == 1 else sql.UPDATE
    pid = await conn.fetchval(
        statement,
        new.resource_type,
        new.id,
        new.version,
        new.deleted,
        new.last_updated,
        new.method,
        new.body,
    )
    if pid is None:
        current = await conn.fetchval(sql.ENTITY_VERSION, new.resource_type, new.id)
        expected = 1 if current is None else current + 1
        raise VersionConflict(
            f"{new.resource_type}/{new.id}: version {new.version} written,"
            f" but the next version is {expected}"
        )
    if new.deleted:
        if new.version > 1:
            await conn.execute(sql.DELETE_INDEX, pid)
        return
    old = await read_index(conn, pid) if new.version > 1 else {}
    await apply_index_diff(conn, pid, new.resource_type, old, index_sets(new.index))


async def read_index(conn: Connection, pid: int) -> IndexSets:
    """The index rows a resource has now, per table (one round trip)."""
    row = await conn.fetchrow(sql.READ_INDEX, pid)
    if row is None:
        raise RuntimeError("internal error: row is missing")
    sets: IndexSets = {}
    for table, encoded in zip(INDEX_TABLES, row, strict=True):
        if encoded is not None:
            # json renders float8 as the shortest exact text, so values round-trip exactly.
            sets[table.name] = {tuple(values) for values in orjson.loads(encoded)}
    return sets


async def apply_index_diff(
    conn: Connection, pid: int, resource_type: str, old: IndexSets, new: IndexSets
) -> None:
    """Delete the rows that disappeared and insert the new ones, in one statement."""
    diffs = diff_index(old, new)
    deletes = [d for d in diffs if d.removed]
    inserts = [d for d in diffs if d.added]
    if not deletes and not inserts:
        return
    params: list[Any] = [pid, resource_type]
    for diff in deletes:
        params += column_arrays(diff.table, diff.removed)
    for diff in inserts:
        params += column_arrays(diff.table, diff.added)
    statement = sql.apply_index_changes(
        tuple(d.table.name for d in deletes), tuple(d.table.name for d in inserts)
    )
    await conn.execute(statement, *params)


def column_arrays(table: IndexTable, keys: Sequence[IndexKey]) -> list[list[Any]]:
    """Rows to columns: the arrays ``unnest`` turns back into rows."""
    return [[key[i] for key in keys] for i in range(len(table.columns))]


async def write_many(conn: Connection, versions: Sequence[NewVersion]) -> None:
    """Write ``versions`` in order inside the caller's transaction, creating in bulk.

    First versions of resources new to the batch go in with three statements in all (array
    parameters, no per-resource round trips); every other version goes through
    :func:`write_version` afterwards, in the given order.
    """
    seen: set[tuple[str, str]] = set()
    fresh: list[NewVersion] = []
    others: list[NewVersion] = []
    for version in versions:
        key = (version.resource_type, version.id)
        (fresh if version.version == 1 and key not in seen else others).append(version)
        seen.add(key)
    if fresh:
        await _create_many(conn, fresh)
    for version in others:
        await write_version(conn, version)


async def _create_many(conn: Connection, versions: list[NewVersion]) -> None:
    created = await conn.fetch(
        sql.BULK_CREATE_ENTITIES,
        [v.resource_type for v in versions],
        [v.id for v in versions],
        [v.version for v in versions],
        [v.deleted for v in versions],
        [v.last_updated for v in versions],
    )
    pids = {(row[1], row[2]): row[0] for row in created}
    if len(pids) != len(versions):
        taken = next(v for v in versions if (v.resource_type, v.id) not in pids)
        raise VersionConflict(
            f"{taken.resource_type}/{taken.id}: version 1 written, but the resource exists"
        )
    ordered = [pids[(v.resource_type, v.id)] for v in versions]
    await conn.execute(
        sql.BULK_INSERT_VERSIONS,
        ordered,
        [v.resource_type for v in versions],
        [v.id for v in versions],
        [v.version for v in versions],
        [v.deleted for v in versions],
        [v.last_updated for v in versions],
        [v.method for v in versions],
        [v.body for v in versions],
    )
    columns: dict[str, list[list[Any]]] = {}
    for pid, version in zip(ordered, versions, strict=True):
        for name, keys in index_sets(version.index).items():
            arrays = columns.setdefault(name, [[] for _ in range(2 + len(next(iter(keys))))])
            for key in keys:
                arrays[0].append(pid)
                arrays[1].append(version.resource_type)
                for i, value in enumerate(key):
                    arrays[2 + i].append(value)
    if columns:
        tables = tuple(t.name for t in INDEX_TABLES if t.name in columns)
        params = [array for name in tables for array in columns[name]]
        await conn.execute(sql.bulk_insert_index(tables), *params)


async def load_rows(conn: Connection, rows: Sequence[LoadRow], merge: Merge) -> list[LoadOutcome]:
    """The bulk loader's batch inside the caller's transaction (see Repository.load_rows).

    One statement finds (and locks) the rows that already exist; the new ones -- all of
    them on a first load -- go in with one entity INSERT and binary ``COPY`` of their
    versions and index rows. Existing resources and repeats within the batch take the
    per-resource path in order.
    """
    outcomes: list[LoadOutcome | None] = [None] * len(rows)
    first: dict[tuple[str, str], int] = {}
    repeats: list[int] = []
    for number, row in enumerate(rows):
        key = (row.resource_type, row.id)
        if key in first:
            repeats.append(number)
        else:
            first[key] = number
    found = await conn.fetch(sql.LOAD_CURRENT, [key[0] for key in first], [key[1] for key in first])
    existing: dict[tuple[str, str], StoredResource | None] = {}
    for record in found:
        key = (record[7], record[8])
        existing[key] = stored_from_row(record) if record[0] is not None else None
    fresh = [number for key, number in first.items() if key not in existing]
    if fresh:
        await _copy_new(conn, [rows[number] for number in fresh])
        for number in fresh:
            outcomes[number] = LoadOutcome.CREATED
    tx = PostgresWriteTx(conn)
    try:
        for key, number in first.items():
            if key in existing:
                current = existing[key] or await tx.current(*key)
                outcomes[number] = await merge_into(tx, current, rows[number], merge)
        for number in repeats:
            row = rows[number]
            current = await tx.current(row.resource_type, row.id)
            outcomes[number] = await merge_into(tx, current, row, merge)
    finally:
        tx.close()
    return [outcome for outcome in outcomes if outcome is not None]


async def _copy_new(conn: Connection, rows: list[LoadRow]) -> None:
    count = len(rows)
    created = await conn.fetch(
        sql.BULK_CREATE_ENTITIES,
        [r.resource_type for r in rows],
        [r.id for r in rows],
        [1] * count,
        [False] * count,
        [r.last_updated for r in rows],
    )
    if len(created) != count:
        pids_made = {(record[1], record[2]) for record in created}
        taken = next(r for r in rows if (r.resource_type, r.id) not in pids_made)
        raise VersionConflict(f"{taken.resource_type}/{taken.id} was created by another writer")
    pids = {(record[1], record[2]): record[0] for record in created}
    ordered = [pids[(r.resource_type, r.id)] for r in rows]
    await conn.copy_records_to_table(
        "resource_version",
        records=[
            (pid, r.resource_type, r.id, 1, False, r.last_updated, "PUT", r.body)
            for pid, r in zip(ordered, rows, strict=True)
        ],
        columns=sql.VERSION_COPY_COLUMNS,
    )
    for table in INDEX_TABLES:
        records = [
            (pid, r.resource_type, *key)
            for pid, r in zip(ordered, rows, strict=True)
            for key in r.index.get(table.name, ())
        ]
        if records:
            await conn.copy_records_to_table(
                table.name, records=records, columns=("pid", "res_type", *table.columns)
            )
