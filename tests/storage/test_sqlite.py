"""SQLite specifics: durable pragmas, :memory:, and several processes on one file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wardbook.storage.base import Dialect, StorageError
from wardbook.storage.factory import UnsupportedDatabaseUrl, open_repository
from wardbook.storage.migrate import load_migrations
from wardbook.storage.sqlite import SqliteRepository

from .helpers import SECOND, T0, new_version, patient, synthea, write

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sqlite_repo(tmp_path: Path) -> AsyncIterator[SqliteRepository]:
    repo = SqliteRepository(str(tmp_path / "wardbook.db"))
    await repo.open()
    try:
        await repo.migrate()
        yield repo
    finally:
        await repo.close()


async def test_connections_use_wal_normal_sync_and_foreign_keys(
    sqlite_repo: SqliteRepository,
) -> None:
    for conn in (sqlite_repo._writer, sqlite_repo._reader):
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert sqlite_repo._reader is not None
    assert sqlite_repo._reader.execute("PRAGMA busy_timeout").fetchone() == (10_000,)
    assert sqlite_repo._writer is not None  # waits asynchronously instead (begin_immediate)
    assert sqlite_repo._writer.execute("PRAGMA busy_timeout").fetchone() == (0,)


async def test_big_transactions_spill_their_savepoint_journal_and_still_roll_back(
    sqlite_repo: SqliteRepository,
) -> None:
    """temp_store=FILE lets a savepoint's journal spill past 64 KiB to a temp file.

    Each write runs in a savepoint inside the writer's savepoint (group.py); with
    temp_store=MEMORY the journal never spilled and every RELEASE walked it from the start
    (quadratic in the size of a transaction bundle). The spilled journal must still undo
    the whole transaction when it fails, and keep it when it does not.
    """
    assert sqlite_repo._writer is not None
    assert sqlite_repo._writer.execute("PRAGMA temp_store").fetchone() == (1,)  # FILE
    many = [
        new_version({**patient(), "id": f"p{n}"}, 1, T0 + n * SECOND, method="PUT")
        for n in range(600)  # several MiB of journal: far past the spill threshold
    ]
    with pytest.raises(RuntimeError):
        async with sqlite_repo.transaction() as tx:
            await tx.write_many(many)
            raise RuntimeError("the bundle fails after its last entry")
    assert await sqlite_repo.read("Patient", "p0") is None
    assert await sqlite_repo.read("Patient", "p599") is None
    async with sqlite_repo.transaction() as tx:
        await tx.write_many(many)
    assert (await sqlite_repo.read("Patient", "p599")) is not None
    count = await sqlite_repo.query("SELECT count(*) FROM resource_entity", [])
    assert count == [(600,)]


async def test_memory_database_supports_the_whole_contract() -> None:
    repo = open_repository("sqlite:///:memory:")
    await repo.open()
    try:
        assert await repo.migrate() == [m.name for m in load_migrations(Dialect.SQLITE)]
        resource = patient()
        await write(repo, new_version(resource, 1, T0), new_version(resource, 2, T0 + SECOND))
        stored = await repo.read("Patient", resource["id"])
        assert stored is not None and stored.version == 2
        assert (await repo.history()).total == 2
        assert [r.version async for r in repo.stream_current()] == [2]
    finally:
        await repo.close()


async def test_a_writer_waits_for_another_process_without_blocking_the_loop(
    sqlite_repo: SqliteRepository, tmp_path: Path
) -> None:
    other = SqliteRepository(str(tmp_path / "wardbook.db"))  # like a second process
    await other.open()
    first, second = synthea("Observation", 2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    clock = asyncio.create_task(ticker())
    try:
        async with other.transaction() as held:
            await held.write(new_version(first, 1, T0))
            waiting = asyncio.create_task(write(sqlite_repo, new_version(second, 1, T0)))
            await asyncio.sleep(0.01)
            ticks_before = ticks
            await asyncio.sleep(0.3)
            assert not waiting.done()
            # A loop blocked in SQLite's busy handler would hardly have ticked (5 ms each).
            assert ticks - ticks_before > 20
        await asyncio.wait_for(waiting, 5)
        assert await sqlite_repo.read("Observation", first["id"]) is not None
        assert await sqlite_repo.read("Observation", second["id"]) is not None
    finally:
        clock.cancel()
        await other.close()


async def test_a_lock_held_too_long_is_a_503(tmp_path: Path) -> None:
    path = str(tmp_path / "wardbook.db")
    patient_one, patient_two = synthea("Observation", 2)
    holder = SqliteRepository(path)
    impatient = SqliteRepository(path, busy_timeout=0.2)
    await holder.open()
    await holder.migrate()
    await impatient.open()
    try:
        async with holder.transaction() as held:
            await held.write(new_version(patient_one, 1, T0))
            started = time.monotonic()
            with pytest.raises(StorageError) as raised:
                await write(impatient, new_version(patient_two, 1, T0))
            assert time.monotonic() - started >= 0.15  # it waited for the lock first
        assert raised.value.status == 503
        assert await impatient.read("Observation", patient_two["id"]) is None
    finally:
        await impatient.close()
        await holder.close()


async def test_a_closed_repository_raises_storage_error(sqlite_repo: SqliteRepository) -> None:
    await sqlite_repo.close()
    with pytest.raises(StorageError):
        await sqlite_repo.read("Patient", "example")


@pytest.mark.parametrize(("url_option", "level"), [("", 1), ("?synchronous=full", 2)])
async def test_synchronous_level_comes_from_the_url(
    tmp_path: Path, url_option: str, level: int
) -> None:
    repo = open_repository(f"sqlite:///{tmp_path}/sync.db{url_option}")
    await repo.open()
    try:
        assert isinstance(repo, SqliteRepository)
        assert repo._writer is not None
        assert repo._writer.execute("PRAGMA synchronous").fetchone() == (level,)
    finally:
        await repo.close()


def test_unknown_sqlite_url_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedDatabaseUrl):
        open_repository(f"sqlite:///{tmp_path}/x.db?synchronous=off")


def _all_rows(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the resource tables, by table, in a stable order (pids included)."""
    from wardbook.storage.index_tables import INDEX_TABLES

    tables = ["resource_entity", "resource_version", *(t.name for t in INDEX_TABLES)]
    return {
        name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in tables
    }


async def test_insert_new_versions_writes_the_rows_write_version_writes(tmp_path: Path) -> None:
    """The audit writer's bulk path for brand-new resources equals one write per version."""
    from wardbook.storage.sqlite.write import insert_new_versions, write_version

    observations = synthea("Observation", 40)  # index rows past one multi-row INSERT
    for number, resource in enumerate(observations):
        resource["id"] = f"obs-{number}"
    versions = [new_version(patient(), 1, T0)] + [
        new_version(r, 1, T0 + SECOND) for r in observations
    ]
    found = []
    for bulk in (False, True):
        repo = SqliteRepository(str(tmp_path / f"bulk-{bulk}.db"))
        await repo.open()
        try:
            await repo.migrate()
            await write(repo, new_version({**patient(), "id": "existing"}, 1, T0))
            async with repo.write_turn():
                conn = repo._write_conn()
                conn.execute("BEGIN IMMEDIATE")
                if bulk:
                    insert_new_versions(conn, versions)
                else:
                    for version in versions:
                        write_version(conn, version)
                conn.execute("COMMIT")
            found.append(_all_rows(repo._read_conn()))
            assert (await repo.read("Observation", "obs-39")) is not None
        finally:
            await repo.close()
    assert found[0] == found[1]
    assert sum(len(r) for r in found[1].values()) > 2 * len(versions)


async def test_insert_new_versions_refuses_an_existing_resource(
    sqlite_repo: SqliteRepository,
) -> None:
    from wardbook.storage.sqlite.write import insert_new_versions

    await write(sqlite_repo, new_version(patient(), 1, T0))
    async with sqlite_repo.write_turn():
        conn = sqlite_repo._write_conn()
        conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.IntegrityError):
            insert_new_versions(conn, [new_version(patient(), 1, T0 + SECOND)])
        conn.execute("ROLLBACK")
    assert (await sqlite_repo.read("Patient", patient()["id"])).version == 1  # type: ignore[union-attr]


async def test_write_turn_holds_back_this_process_writers_until_it_ends(
    sqlite_repo: SqliteRepository,
) -> None:
    """Writers queue on the turn (not on SQLite's file lock) and run when it is given back."""
    order: list[str] = []

    async def writer() -> None:
        await write(sqlite_repo, new_version(patient(), 1, T0))
        order.append("writer")

    async with sqlite_repo.write_turn():
        assert not sqlite_repo._write_conn().in_transaction  # nothing left open
        task = asyncio.create_task(writer())
        for _ in range(5):
            await asyncio.sleep(0)
        order.append("turn ends")
    await task
    assert order == ["turn ends", "writer"]
