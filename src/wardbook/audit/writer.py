"""The buffered audit writer: records are queued on the request path, written in batches.

Why buffered: writing each AuditEvent in its own transaction would add a commit to every
read. Instead requests append a small :class:`AuditRecord` to an in-memory buffer and a
background task writes everything buffered every ``flush_ms`` (default 100 ms) in ONE
transaction: the AuditEvents (indexed, so ``AuditEvent?patient=&date=`` works), their
hash-chain rows and a Provenance for each successful write.

Durability trade-off (docs/security.md): a record is in memory for up to ``flush_ms``
before it is committed; a crash of the process (``kill -9``, power cut) in that window
loses those records. A clean shutdown (SIGINT/SIGTERM -> lifespan end) flushes the
buffer. Security-critical events (break-the-glass) use :meth:`AuditWriter.write_now`,
which returns only after their commit. The buffer is bounded (``max_queue``): when the
database cannot keep up, requests wait for room instead of memory growing or records
being dropped. If the database is down, the batch stays buffered and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from wardbook.audit.chain import CHAIN_LOCK, GENESIS, canonical_hash_of, entry_hash
from wardbook.audit.events import audit_event, patients_in, provenance
from wardbook.audit.index import audit_index, provenance_index
from wardbook.audit.records import AuditRecord
from wardbook.fhir import jsonio
from wardbook.fhir.meta import stamp
from wardbook.ops import metrics
from wardbook.storage.base import NewVersion, Repository, WriteTx
from wardbook.storage.sqlite import SqliteRepository
from wardbook.storage.sqlite.connection import connect, rollback_quietly, sqlite_errors
from wardbook.storage.sqlite.write import insert_new_versions, insert_rows

log = logging.getLogger("wardbook.audit")

_CHAIN_INSERT_ROW = "(?, ?, ?, ?, ?, ?)"
_CHAIN_INSERT_CHUNK = 100
_SQLITE_BATCH = 200
_CHECKPOINT_EVERY = 16  # SQLite batches between two checkpoints of the audit connection


class _Prepared:
    __slots__ = ("body", "body_hash", "event_id", "extra", "recorded", "resource")

    def __init__(self, event_id: str, recorded: int, resource: dict[str, Any]) -> None:
        self.event_id = event_id
        self.recorded = recorded
        self.resource = resource
        self.body = b""
        self.body_hash = ""
        self.extra: dict[str, Any] | None = None


def _uuid7s(count: int) -> list[str]:
    """``count`` time-ordered UUIDs (version 7, RFC 9562 5.7) from one ``os.urandom`` call.

    48 bits of Unix milliseconds, then 74 random bits. Time-ordered rather than random
    (version 4): AuditEvent and Provenance ids go into unique B-tree indexes (the
    resource's type and id, the chain's event id), and random keys dirtied one index page
    per event in every batch; ids of one batch now share a few pages. Measured on SQLite:
    a third less time per batch with the write lock held (docs/benchmarks.md). The ids
    reveal when the event was recorded -- which the AuditEvent says anyway.
    """
    head = ((time.time_ns() // 1_000_000) << 4 | 7) << 12
    data = os.urandom(10 * count)
    ids: list[str] = []
    for i in range(count):
        bits = int.from_bytes(data[10 * i : 10 * i + 10], "big")
        value = (head | bits >> 68) << 64 | _VARIANT | (bits & _RAND_B)
        text = f"{value:032x}"
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


_VARIANT = 0b10 << 62
_RAND_B = (1 << 62) - 1


class AuditSink(Protocol):
    """What the request path needs of an audit writer (this module's, or the process one)."""

    @property
    def running(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    @property
    def healthy(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, record: AuditRecord) -> None: ...

    async def write_now(self, record: AuditRecord) -> None: ...

    async def flush(self) -> None: ...


def _now() -> int:
    return time.time_ns() // 1000


class AuditWriter:
    """Batches audit records into AuditEvents with a hash chain (see module docstring)."""

    def __init__(
        self,
        repository: Repository,
        *,
        flush_ms: int = 100,
        max_queue: int = 20_000,
        max_batch: int = 1_000,
        on_written: Callable[[int], None] | None = None,
        report_metrics: bool = True,
        inline: bool = False,
        write_turn: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self.repository = repository
        # Called after each committed batch with its size (the audit process's acks).
        self.on_written = on_written
        # Off in the audit process: the server process counts what it hands over.
        self.report_metrics = report_metrics
        # Build and write batches on the event loop's thread: in the audit process nothing
        # else needs the loop meanwhile, and a thread hop per batch is pure cost there.
        self.inline = inline
        # SQLite: whose turn it is to write (default: this process's repository's turn; the
        # audit process borrows its server's, so the server's writers queue, not poll).
        self.write_turn = write_turn
        self.interval = flush_ms / 1000
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._buffer: list[AuditRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0
        self.dropped = 0
        self._sqlite: sqlite3.Connection | None = None
        self._batches = 0
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def healthy(self) -> bool:
        """Whether records can be committed (this writer needs nothing but the database)."""
        return True

    async def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="wardbook-audit-writer")

    async def stop(self) -> None:
        """Stop the background task and write everything still buffered.

        The task is asked to stop, not cancelled: a SQLite batch runs on a thread that no
        cancellation can interrupt, and closing its connection under it crashed the
        process (a segfault in CI); a batch cancelled after its commit would also be
        written twice. The task finishes the batch in hand, then ends.
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait([task])  # it may already have ended (cancelled, failed)
            finally:
                self._stopping = False
        try:
            await self.flush()
        finally:
            self._drop_sqlite_connection()

    async def submit(self, record: AuditRecord) -> None:
        """Queue a record; waits only when the bounded buffer is full."""
        if self.report_metrics:
            count_security_event(record)
        while len(self._buffer) >= self.max_queue:
            if not self.running:
                # Nobody will flush (an app used without its lifespan, e.g. in tests):
                # keep the newest records rather than block forever.
                del self._buffer[0]
                self.dropped += 1
                break
            self._wake.set()
            self._room.clear()
            await self._room.wait()
        self._buffer.append(record)
        if len(self._buffer) >= self.max_batch:
            self._wake.set()

    async def write_now(self, record: AuditRecord) -> None:
        """Queue a record and return once it (and everything before it) is committed."""
        if self.report_metrics:
            count_security_event(record)
        self._buffer.append(record)
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # never let the writer die; the batch stays buffered
                log.exception("audit flush failed; will retry")
                if not self._stopping:
                    await asyncio.sleep(self.interval)

    async def flush(self) -> None:
        """Write everything buffered now (in batches of ``max_batch``)."""
        async with self._lock:
            size = self.max_batch
            if isinstance(self.repository, SqliteRepository):
                # Each batch holds this process's write turn while it commits: smaller ones
                # let a create in between them instead of behind a thousand events.
                size = min(size, _SQLITE_BATCH)
            while self._buffer:
                batch = self._buffer[:size]
                # Shielded: if the flushing task is cancelled (event-loop shutdown), the
                # batch in hand still ends -- committed and accounted, or failed and kept
                # buffered -- before the cancellation goes on; never a connection closed
                # under a thread, never a committed batch left in the buffer.
                unit = asyncio.ensure_future(self._write_and_account(batch))
                try:
                    await asyncio.shield(unit)
                except asyncio.CancelledError:
                    await asyncio.wait([unit])
                    if not unit.cancelled() and unit.exception() is not None:
                        log.error("audit batch failed during shutdown: %s", unit.exception())
                    raise

    async def _write_and_account(self, batch: list[AuditRecord]) -> None:
        await self._write_batch(batch)
        del self._buffer[: len(batch)]
        self.written += len(batch)
        self._room.set()
        if self.report_metrics:
            metrics.AUDIT_WRITTEN.inc(len(batch))
        if self.on_written is not None:
            self.on_written(len(batch))

    # -- one batch -------------------------------------------------------------------------

    def _prepare(self, records: list[AuditRecord], micros: int) -> list[_Prepared]:
        prepared: list[_Prepared] = []
        # Ids for the events the server did not name, and for a Provenance per write.
        ids: list[str] = []

        def fresh_id() -> str:
            if not ids:
                ids.extend(_uuid7s(min(len(records), 256)))
            return ids.pop()

        for record in records:
            if record.body is not None and record.resource_type:
                record.patients |= patients_in(record.resource_type, record.body)
                record.body = None
            item = _Prepared(record.event_id or fresh_id(), record.recorded, {})
            item.resource = stamp(audit_event(record, item.event_id), item.event_id, 1, micros)
            item.body = jsonio.dumps(item.resource)
            # The body is this dict serialized: hash the dict (as canonical_hash(body) would).
            item.body_hash = canonical_hash_of(item.resource)
            prov = provenance(record, "")
            if prov is not None:
                prov["id"] = fresh_id()
                item.extra = stamp(prov, prov["id"], 1, micros)
            prepared.append(item)
        return prepared

    def _prepare_versions(
        self, records: list[AuditRecord], micros: int
    ) -> tuple[list[_Prepared], list[NewVersion]]:
        """The batch's AuditEvents and Provenances as new versions, index rows included."""
        prepared = self._prepare(records, micros)
        versions: list[NewVersion] = []
        for item in prepared:
            index = audit_index(item.resource, item.recorded)
            versions.append(
                NewVersion("AuditEvent", item.event_id, 1, micros, "POST", item.body, index)
            )
            if item.extra is not None:
                versions.append(
                    NewVersion(
                        "Provenance",
                        item.extra["id"],
                        1,
                        micros,
                        "POST",
                        jsonio.dumps(item.extra),
                        provenance_index(item.extra, item.recorded),
                    )
                )
        return prepared, versions

    async def _write_batch(self, records: list[AuditRecord]) -> None:
        micros = _now()
        # Building resources and index rows is pure Python; on a thread the interpreter
        # switches back to the event loop every few ms instead of stalling it for a batch.
        if self.inline:
            prepared, versions = self._prepare_versions(records, micros)
        else:
            prepared, versions = await asyncio.to_thread(self._prepare_versions, records, micros)
        repository = self.repository
        if isinstance(repository, SqliteRepository) and not repository.in_memory:
            # SQLite statements run in C with the GIL released: on a thread with its own
            # connection, the batch's B-tree work overlaps the event loop serving requests.
            # The repository's write turn is held meanwhile, so this process's own writers
            # queue behind the batch (no lock polling on either side) and go right after.
            async with (self.write_turn or repository.write_turn)():
                conn = self._sqlite_connection(repository)
                try:
                    if self.inline:
                        _write_sqlite_batch(conn, prepared, versions)
                    else:
                        await asyncio.to_thread(_write_sqlite_batch, conn, prepared, versions)
                except BaseException:
                    self._drop_sqlite_connection()
                    raise
            self._batches += 1
            if self._batches % _CHECKPOINT_EVERY == 0:
                # After the turn: copying the WAL into the database (and its fsync) no
                # longer holds up the server's writers. SQLite's automatic checkpoint ran
                # inside our COMMIT, with the write lock held.
                if self.inline:
                    _checkpoint(conn)
                else:
                    await asyncio.to_thread(_checkpoint, conn)
            return
        async with repository.transaction() as tx:
            await tx.lock_key(CHAIN_LOCK)
            seq, prev = await _chain_head(tx)
            rows = _chain_rows(prepared, seq, prev)
            # Every event and Provenance is new: a few array statements for the whole batch
            # (PostgreSQL: entities, versions, index rows) instead of two round trips each.
            await tx.write_many(versions)
            for start in range(0, len(rows), _CHAIN_INSERT_CHUNK):
                chunk = rows[start : start + _CHAIN_INSERT_CHUNK]
                values = ", ".join([_CHAIN_INSERT_ROW] * len(chunk))
                await tx.runner.fetch_all(
                    # constant SQL, values bound:
                    "INSERT INTO audit_chain (seq, event_id, recorded, body_hash, prev_hash,"  # nosec B608
                    f" entry_hash) VALUES {values}",
                    [value for row in chunk for value in row],
                )

    def _sqlite_connection(self, repository: SqliteRepository) -> sqlite3.Connection:
        """The writer's own connection to the SQLite file, kept open between batches."""
        if self._sqlite is None:
            self._sqlite = connect(
                repository.path, busy_timeout=30.0, synchronous=repository.synchronous
            )
            # This connection checkpoints after its batches, outside the write lock.
            self._sqlite.execute("PRAGMA wal_autocheckpoint = 0")
        return self._sqlite

    def _drop_sqlite_connection(self) -> None:
        conn, self._sqlite = self._sqlite, None
        if conn is not None:
            conn.close()


def _chain_rows(prepared: list[_Prepared], seq: int, prev: str) -> list[tuple[Any, ...]]:
    """The chain rows that link ``prepared`` after the entry (``seq``, ``prev``)."""
    rows: list[tuple[Any, ...]] = []
    for item in prepared:
        seq += 1
        link = entry_hash(seq, item.event_id, item.recorded, item.body_hash, prev)
        rows.append((seq, item.event_id, item.recorded, item.body_hash, prev, link))
        prev = link
    return rows


def _write_sqlite_batch(
    conn: sqlite3.Connection, prepared: list[_Prepared], versions: list[NewVersion]
) -> None:
    """One batch in one SQLite transaction on the writer's own connection (on a thread)."""
    with sqlite_errors():
        conn.execute("BEGIN IMMEDIATE")  # waits (on this thread) for other processes' writers
        try:
            head = conn.execute(
                "SELECT seq, entry_hash FROM audit_chain ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
            insert_new_versions(conn, versions)
            insert_rows(
                conn,
                "INSERT INTO audit_chain (seq, event_id, recorded, body_hash, prev_hash,"
                " entry_hash)",
                "(?, ?, ?, ?, ?, ?)",
                _chain_rows(prepared, seq, prev),
            )
            conn.execute("COMMIT")
        finally:
            rollback_quietly(conn)


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy committed WAL frames into the database file, as far as readers allow.

    PASSIVE: takes no write lock and waits for nobody; a failure only leaves the frames
    for the next checkpoint (ours, or SQLite's automatic one on the server's connection).
    """
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


async def _chain_head(tx: WriteTx) -> tuple[int, str]:
    rows = await tx.runner.fetch_all(
        "SELECT seq, entry_hash FROM audit_chain ORDER BY seq DESC LIMIT 1", ()
    )
    if not rows:
        return 0, GENESIS
    return int(rows[0][0]), str(rows[0][1])


_LOGIN_OUTCOMES = {"login": "success", "login-failed": "failure", "mfa-failed": "mfa_failure"}


def count_security_event(record: AuditRecord) -> None:
    """Sign-ins and break-the-glass also feed the metrics the alerts watch."""
    outcome = _LOGIN_OUTCOMES.get(record.kind)
    if outcome is not None:
        metrics.LOGINS.labels(outcome).inc()
    elif record.kind == "break-glass":
        metrics.BREAK_GLASS.inc()
