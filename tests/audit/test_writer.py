"""The audit writer: event ids, the canonical hash shortcut, failed batches kept buffered."""

from __future__ import annotations

import inspect
import re
import time
import uuid
from typing import Any

import orjson
import pytest

from wardbook.audit.chain import canonical_hash, canonical_hash_of, verify_chain
from wardbook.audit.writer import AuditWriter, _uuid7s
from wardbook.storage.base import Repository

from .test_chain import record


def test_event_ids_are_distinct_time_ordered_uuid7s() -> None:
    before = time.time_ns() // 1_000_000
    first = _uuid7s(500)
    later = _uuid7s(1)
    after = time.time_ns() // 1_000_000
    assert len(set(first)) == 500
    for text in [*first, *later]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", text)  # FHIR id
        assert before <= parsed.int >> 80 <= after  # RFC 9562: Unix time in milliseconds
    # Random below the millisecond: the ids are not guessable from one another.
    assert len({text[15:] for text in first}) == 500
    # Time-ordered from one call to the next (to the millisecond).
    assert uuid.UUID(later[0]).int >> 80 >= uuid.UUID(first[-1]).int >> 80


def test_hash_of_the_dict_equals_hash_of_its_serialized_body() -> None:
    resource = {
        "resourceType": "AuditEvent",
        "id": "x",
        "meta": {"versionId": "1", "lastUpdated": "2026-11-25T13:45:01.123456+00:00"},
        "recorded": "2026-11-25T13:45:01.123456+00:00",
        "outcome": "0",
        "agent": [{"who": {"display": "é ünïcode"}, "requestor": True}],
        "entity": [{"what": {"reference": "Patient/p1"}, "n": 1.5}],
    }
    assert canonical_hash_of(resource) == canonical_hash(orjson.dumps(resource))


@pytest.mark.anyio
async def test_a_failed_batch_stays_buffered_and_is_written_whole_on_retry(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a failed batch is committed, nothing is dropped, the retry writes it all."""
    from wardbook.audit import writer as writer_module
    from wardbook.storage.postgres import write as pg_write

    writer = AuditWriter(repository, max_batch=4)
    for n in range(6):
        await writer.submit(record(n))
    failures = {"left": 1}

    def failing(module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("disk trouble")
            return original(*args, **kwargs)

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("disk trouble")
            return await original(*args, **kwargs)

        is_async = inspect.iscoroutinefunction(original)
        monkeypatch.setattr(module, name, async_wrapper if is_async else wrapper)

    failing(writer_module, "insert_new_versions")  # SQLite batches
    failing(pg_write, "_create_many")  # PostgreSQL batches (write_many)
    with pytest.raises(RuntimeError):
        await writer.flush()
    assert writer.pending == 6 and writer.written == 0
    assert await repository.query("SELECT count(*) FROM audit_chain", ()) == [(0,)]
    await writer.flush()
    assert writer.pending == 0 and writer.written == 6
    report = await verify_chain(repository)
    assert report.intact and report.checked == 6
    await writer.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_shutting_down_during_a_batch_lets_it_finish_once(
    repository: Repository, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Stopping (or cancelling) the writer while a batch is being committed -- on SQLite on
    a thread no cancellation interrupts -- waits for that batch: it is written exactly once,
    and its connection is never closed under it (that crashed a CI run with a segfault)."""
    import asyncio
    import threading
    import time

    from wardbook.audit import writer as writer_module

    in_batch = threading.Event()

    def slow_sqlite(*args: Any) -> None:
        original_sqlite(*args)  # committed; the thread is still busy when shutdown comes
        in_batch.set()
        time.sleep(0.3)

    async def slow_postgres(*args: Any) -> Any:
        head = await original_head(*args)
        in_batch.set()
        await asyncio.sleep(0.3)
        return head

    original_sqlite = writer_module._write_sqlite_batch
    original_head = writer_module._chain_head
    monkeypatch.setattr(writer_module, "_write_sqlite_batch", slow_sqlite)
    monkeypatch.setattr(writer_module, "_chain_head", slow_postgres)
    writer = AuditWriter(repository, max_batch=4)
    await writer.start()
    for n in range(4):
        await writer.submit(record(n))
    for _ in range(500):
        if in_batch.is_set():
            break
        await asyncio.sleep(0.01)
    assert in_batch.is_set()
    if how == "cancel":
        task = writer._task
        assert task is not None
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await writer.stop()
    assert writer.pending == 0 and writer.written == 4
    assert await repository.query("SELECT count(*) FROM audit_chain", ()) == [(4,)]
    report = await verify_chain(repository)
    assert report.intact and report.checked == 4


@pytest.mark.anyio
async def test_sqlite_batches_are_checkpointed_by_the_writer_outside_its_commits(
    tmp_path: Any,
) -> None:
    """The writer's own connection never checkpoints inside a COMMIT (the write lock is
    held then); every few batches it copies the WAL into the database file itself."""
    import sqlite3

    from wardbook.audit import writer as writer_module
    from wardbook.storage.factory import open_repository

    path = tmp_path / "ckpt.db"
    repository = open_repository(f"sqlite:///{path}")
    await repository.open()
    await repository.migrate()
    writer = AuditWriter(repository, max_batch=1)
    try:

        def in_main_file() -> int:
            # immutable=1 reads the database file alone, not the WAL beside it.
            with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
                return int(conn.execute("SELECT count(*) FROM audit_chain").fetchone()[0])

        with sqlite3.connect(path) as conn:  # the schema into the file, for in_main_file
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        base = in_main_file()
        for n in range(writer_module._CHECKPOINT_EVERY - 1):
            await writer.submit(record(n))
            await writer.flush()
        conn = writer._sqlite
        assert conn is not None
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert in_main_file() == base  # all still in the WAL
        await writer.submit(record(99))
        await writer.flush()  # the batch that checkpoints
        assert in_main_file() == base + writer_module._CHECKPOINT_EVERY
        report = await verify_chain(repository)
        assert report.intact and report.checked == writer_module._CHECKPOINT_EVERY
    finally:
        await writer.stop()
        await repository.close()
