"""The audit process (``wardbook serve``'s writer): same guarantees as the in-process one.

Every test starts a real audit process (``python -m wardbook.audit.child``) on the test's
database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from wardbook.app import build_app
from wardbook.audit.chain import CHAIN_LOCK, verify_chain
from wardbook.audit.process import AuditProcessWriter
from wardbook.audit.writer import AuditWriter, _uuid7s
from wardbook.config import Settings
from wardbook.storage.base import Repository, StorageError
from wardbook.storage.factory import open_repository
from wardbook.storage.sqlite import SqliteRepository

from .conftest import lifespan, writer_of
from .test_chain import record

pytestmark = pytest.mark.anyio


async def chain_ids(repository: Repository) -> list[str]:
    rows = await repository.query("SELECT event_id FROM audit_chain ORDER BY seq", ())
    return [str(row[0]) for row in rows]


async def until(predicate: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def lender(repository: Repository) -> SqliteRepository | None:
    """As the app wires it: on SQLite the audit process borrows the server's write turn."""
    return repository if isinstance(repository, SqliteRepository) else None


@pytest.fixture
async def writer(repository: Repository, repository_url: str) -> Any:
    writer = AuditProcessWriter(repository_url, flush_ms=50, lend_turns_of=lender(repository))
    await writer.start()
    await until(lambda: writer.healthy)
    yield writer
    await writer.stop()


async def test_records_are_committed_by_another_process_in_one_chain(
    repository: Repository, writer: AuditProcessWriter
) -> None:
    records = [record(n) for n in range(50)]
    for item in records:
        await writer.submit(item)
    assert writer.pid is not None and writer.pid != os.getpid()
    await writer.flush()
    assert writer.pending == 0 and writer.written == 50
    # In order, under the ids the server chose, each with its AuditEvent.
    assert await chain_ids(repository) == [item.event_id for item in records]
    report = await verify_chain(repository)
    assert report.intact and report.checked == 50
    stored = await repository.read("AuditEvent", str(records[7].event_id))
    assert stored is not None


async def test_write_now_returns_after_the_commit(
    repository: Repository, writer: AuditProcessWriter
) -> None:
    earlier = record(1)
    await writer.submit(earlier)
    urgent = record(2)
    urgent.kind = "break-glass"
    urgent.reason = "cardiac arrest on the ward"
    await writer.write_now(urgent)
    # Committed when write_now returns: no waiting for the flush interval.
    assert await chain_ids(repository) == [earlier.event_id, urgent.event_id]


async def test_a_killed_audit_process_is_replaced_and_nothing_is_lost_or_doubled(
    repository: Repository, writer: AuditProcessWriter
) -> None:
    for n in range(30):
        await writer.submit(record(n))
    await writer.flush()
    first = writer.pid
    assert first is not None
    for n in range(30, 70):
        await writer.submit(record(n))
    writer._send()  # in flight: sent, not yet reported committed
    os.kill(first, signal.SIGKILL)
    await until(lambda: writer.restarts == 1 and writer.healthy)
    assert writer.pid not in (None, first)
    await writer.flush()
    assert writer.pending == 0
    ids = await chain_ids(repository)
    assert len(ids) == 70 and len(set(ids)) == 70
    report = await verify_chain(repository)
    assert report.intact and report.checked == 70


async def test_a_nonsense_report_replaces_the_audit_process_without_losing_records(
    repository: Repository, writer: AuditProcessWriter
) -> None:
    """A report the server cannot square with what it sent (a bug, a corrupt message) ends
    that audit process; the next one gets every unreported record, none is doubled."""
    from wardbook.audit import frames

    for n in range(12):
        await writer.submit(record(n))
    writer._send()
    link = writer._link
    assert link is not None
    link.reader.feed_data(frames.encode(("written", 10_000)))
    await until(lambda: writer.restarts == 1 and writer.healthy)
    await writer.flush()
    ids = await chain_ids(repository)
    assert len(ids) == 12 and len(set(ids)) == 12
    assert (await verify_chain(repository)).intact


async def test_records_a_dead_process_committed_are_not_written_again(
    repository: Repository, repository_url: str
) -> None:
    """Sent again after a crash, the records already committed are recognised by id."""
    records = [record(n) for n in range(10)]
    for item, event_id in zip(records, _uuid7s(10), strict=True):
        item.event_id = event_id
    # The dead process had committed the first four without saying so.
    in_process = AuditWriter(repository)
    for item in records[:4]:
        await in_process.submit(item)
    await in_process.flush()
    await in_process.stop()
    writer = AuditProcessWriter(repository_url)
    writer._unsent = [record(n) for n in range(10)]
    for item, original in zip(writer._unsent, records, strict=True):
        item.event_id = original.event_id
    writer._resend = 10
    await writer.start()
    try:
        await writer.flush()
        assert writer.pending == 0 and writer.written == 10
        assert await chain_ids(repository) == [item.event_id for item in records]
        report = await verify_chain(repository)
        assert report.intact and report.checked == 10
    finally:
        await writer.stop()


async def test_requests_wait_while_the_database_holds_the_writer_back(
    repository: Repository, repository_url: str
) -> None:
    writer = AuditProcessWriter(repository_url, flush_ms=20, max_queue=5)
    await writer.start()
    try:
        await until(lambda: writer.healthy)
        async with repository.transaction() as tx:
            await tx.lock_key(CHAIN_LOCK)  # SQLite: the write lock; PostgreSQL: the chain's
            for n in range(5):
                await writer.submit(record(n))
            sixth = asyncio.create_task(writer.submit(record(5)))
            await asyncio.sleep(0.5)
            assert not sixth.done() and writer.pending == 5
        await asyncio.wait_for(sixth, 30)
        await writer.flush()
        assert len(await chain_ids(repository)) == 6
    finally:
        await writer.stop()


async def test_on_sqlite_the_audit_process_writes_only_in_the_servers_write_turn(
    tmp_path: Path,
) -> None:
    """The server's writers queue for their turn instead of polling SQLite's lock: while
    the server holds its turn, the audit process waits for it, then writes at once."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    repository = open_repository(url)
    assert isinstance(repository, SqliteRepository)
    await repository.open()
    await repository.migrate()
    writer = AuditProcessWriter(url, flush_ms=20, lend_turns_of=repository)
    await writer.start()
    try:
        await until(lambda: writer.healthy)
        async with repository.write_turn():
            for n in range(3):
                await writer.submit(record(n))
            flushing = asyncio.create_task(writer.flush())
            await asyncio.sleep(0.5)
            assert not flushing.done()
            assert await chain_ids(repository) == []
        await asyncio.wait_for(flushing, 10)
        assert len(await chain_ids(repository)) == 3
        report = await verify_chain(repository)
        assert report.intact and report.checked == 3
    finally:
        await writer.stop()
        await repository.close()


async def test_stop_commits_everything_and_ends_the_audit_process(
    repository: Repository, repository_url: str
) -> None:
    writer = AuditProcessWriter(repository_url, flush_ms=10_000)  # no timed flush
    await writer.start()
    await until(lambda: writer.healthy)
    pid = writer.pid
    for n in range(20):
        await writer.submit(record(n))
    await writer.stop()
    assert writer.pending == 0 and len(await chain_ids(repository)) == 20
    with pytest.raises(ProcessLookupError):
        os.kill(pid or 0, 0)


async def test_records_received_are_committed_even_if_the_server_dies(
    repository: Repository, repository_url: str
) -> None:
    """The server's socket closing without a flush (kill -9 of the server) loses nothing
    the audit process had received."""
    writer = AuditProcessWriter(repository_url, flush_ms=10_000)
    await writer.start()
    await until(lambda: writer.healthy)
    for n in range(15):
        await writer.submit(record(n))
    writer._send()
    link = writer._link
    assert link is not None
    writer._stopping = True  # no restart: this server is "dead"
    link.stream.close()
    assert await asyncio.wait_for(link.process.wait(), 30) == 0
    assert len(await chain_ids(repository)) == 15
    supervisor = writer._supervisor
    assert supervisor is not None
    await asyncio.wait_for(supervisor, 30)  # ended, no new audit process started


async def test_flush_fails_loudly_when_no_audit_process_runs(repository_url: str) -> None:
    writer = AuditProcessWriter(repository_url)
    await writer.submit(record(1))  # not started: nothing will send it
    with pytest.raises(StorageError):
        await writer.flush()


async def test_the_app_audits_through_the_process_and_readyz_tells_when_it_is_down(
    repository: Repository, repository_url: str
) -> None:
    settings = Settings(env="test", no_auth=True, database_url=repository_url)
    settings = settings.with_overrides(audit_writer="process")
    app = build_app(settings, repository)
    writer = writer_of(app)
    assert isinstance(writer, AuditProcessWriter)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            # Ready as soon as the app has started: startup waits for the audit process.
            assert writer.healthy and writer.pid is not None
            assert (await http.get("/readyz")).status_code == 200
            created = await http.post(
                "/fhir/Patient",
                json={"resourceType": "Patient", "name": [{"family": "Okafor"}]},
                headers={"Content-Type": "application/fhir+json"},
            )
            assert created.status_code == 201
            await writer.flush()
            patient = created.json()["id"]
            events = (await http.get(f"/fhir/AuditEvent?patient={patient}")).json()
            assert [e["resource"]["action"] for e in events["entry"]] == ["C"]
            provenances = await repository.query(
                "SELECT count(*) FROM resource_entity WHERE res_type = 'Provenance'", ()
            )
            assert provenances == [(1,)]
            # The audit process dies: not ready until another one runs.
            pid = writer.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await until(lambda: not writer.healthy)
            answer = await http.get("/readyz")
            assert answer.status_code == 503 and "audit" in answer.json()
            await until(lambda: writer.restarts == 1 and writer.healthy)
            assert (await http.get("/readyz")).status_code == 200
