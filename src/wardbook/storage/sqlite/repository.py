"""The SQLite backend: one write connection (asyncio.Lock + BEGIN IMMEDIATE), one for reads.

WAL mode lets the read connection see the last commit while a write is in progress, and
``BEGIN IMMEDIATE`` makes several processes on one file safe. ``:memory:`` (tests) uses a
single connection for everything, so there reads also see a still-open write transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from wardbook.storage.base import (
    Dialect,
    LoadOutcome,
    LoadRow,
    Merge,
    NewVersion,
    Page,
    Repository,
    StorageError,
    StoredResource,
    WriteTx,
)
from wardbook.storage.history_query import build_history_query, history_page
from wardbook.storage.search_delegate import run_search
from wardbook.storage.sqlite import schema, sql
from wardbook.storage.sqlite.connection import (
    SqliteRunner,
    begin_immediate,
    connect,
    enable_wal,
    rollback_quietly,
    set_busy_timeout,
    sqlite_errors,
)
from wardbook.storage.sqlite.deadline import search_deadline
from wardbook.storage.sqlite.group import GroupCommitter
from wardbook.storage.sqlite.reindex import reindex_rows
from wardbook.storage.sqlite.write import SqliteWriteTx, load_rows, write_version
from wardbook.storage.version_rows import MAX_VERSION, stored_from_row

if TYPE_CHECKING:
    from wardbook.search.index import IndexRows
    from wardbook.search.query import SearchQuery

MEMORY = ":memory:"
_YIELD_EVERY = 200  # versions written between event-loop turns in write_many


class SqliteRepository(Repository):
    """Versioned resources in one SQLite file (or in memory)."""

    dialect = Dialect.SQLITE

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 10.0,
        stream_batch_size: int = 500,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._stream_batch_size = stream_batch_size
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._committer = GroupCommitter(busy_timeout, enabled=path != MEMORY)
        self._write_lock = self._committer.lock

    @property
    def synchronous(self) -> str:
        """The PRAGMA synchronous level of this repository's connections."""
        return self._synchronous

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    async def open(self) -> None:
        if self._writer is not None:
            return
        writer = connect(self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous)
        if self.in_memory:
            self._writer = self._reader = writer
            return
        try:
            enable_wal(writer)
            # The writer waits for other processes in begin_immediate, with asyncio.sleep;
            # SQLite's own busy wait would block the event loop. Inside BEGIN IMMEDIATE a
            # WAL writer meets no further locks.
            set_busy_timeout(writer, 0)
            reader = connect(
                self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous
            )
            with sqlite_errors():
                reader.execute("PRAGMA query_only = ON")
        except BaseException:
            writer.close()
            raise
        self._writer, self._reader = writer, reader

    async def close(self) -> None:
        async with self._write_lock:
            if self._writer is not None:
                self._committer.commit(self._writer)
            for conn in {id(c): c for c in (self._reader, self._writer) if c}.values():
                conn.close()
            self._writer = self._reader = None

    def _read_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError("the SQLite repository is not open")
        return self._reader

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise StorageError("the SQLite repository is not open")
        return self._writer

    async def migrate(self) -> list[str]:
        async with self._write_lock:
            conn = self._write_conn()
            self._committer.commit(conn)
            await begin_immediate(conn, self._busy_timeout)
            try:
                with sqlite_errors():
                    applied = schema.apply_pending(conn)
                    conn.execute("COMMIT")
            finally:
                rollback_quietly(conn)
        return applied

    async def pending_migrations(self) -> list[str]:
        with sqlite_errors():
            return [m.name for m in schema.pending_migrations(self._read_conn())]

    async def last_backup_time(self) -> int | None:
        with sqlite_errors():
            row = (
                self._read_conn().execute("SELECT max(finished_at) FROM ops_backup_log").fetchone()
            )
        return None if row is None or row[0] is None else int(row[0])

    async def ping(self) -> None:
        with sqlite_errors():
            self._read_conn().execute("SELECT 1").fetchone()

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A side-table read on the read connection: no write lock, no group commit."""
        with sqlite_errors():
            rows: list[tuple[Any, ...]] = self._read_conn().execute(sql, params).fetchall()
        return rows

    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        with sqlite_errors():
            row = self._read_conn().execute(sql.READ, (resource_type, resource_id)).fetchone()
        return None if row is None else stored_from_row(row)

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        if not 1 <= version <= MAX_VERSION:
            return None  # no such version; and the column could not even hold the number
        with sqlite_errors():
            row = (
                self._read_conn()
                .execute(sql.VREAD, (resource_type, resource_id, version))
                .fetchone()
            )
        return None if row is None else stored_from_row(row)

    async def history(
        self,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: int | None = None,
        at: int | None = None,
        count: int = 50,
        cursor: str | None = None,
    ) -> Page:
        query = build_history_query(
            body_column=sql.BODY,
            resource_type=resource_type,
            resource_id=resource_id,
            since=since,
            at=at,
            count=count,
            cursor=cursor,
        )
        conn = self._read_conn()
        with sqlite_errors(), _read_snapshot(conn):
            total = conn.execute(query.count_sql, query.count_params).fetchone()[0]
            rows = conn.execute(query.page_sql, query.page_params).fetchall() if count else []
        entries, next_cursor = history_page(query, rows)
        return Page(entries=entries, total=total, next_cursor=next_cursor)

    async def search(self, query: SearchQuery) -> Page:
        # One read transaction, so the page, its includes and the total agree (it costs
        # two statements of a microsecond each).
        conn = self._read_conn()
        with search_deadline(conn, self.search_timeout_ms), sqlite_errors(), _read_snapshot(conn):
            return await run_search(SqliteRunner(conn), query)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqliteRunner]:
        conn = self._read_conn()
        with sqlite_errors(), _read_snapshot(conn):
            yield SqliteRunner(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTx]:
        """A write transaction; concurrent ones share a COMMIT (see sqlite/group.py)."""
        conn = self._write_conn()
        async with self._committer.member(conn):
            tx = SqliteWriteTx(conn)
            try:
                yield tx
            finally:
                tx.close()

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """This process's write turn, with no transaction left open on our connection.

        For a writer on its own connection (the audit writer's thread): while it holds the
        turn, this repository's writers queue on the asyncio lock instead of polling for
        SQLite's file lock, and they start the moment the turn is given back.
        """
        async with self._write_lock:
            self._committer.commit(self._write_conn())
            yield

    async def write_many(self, versions: Sequence[NewVersion]) -> None:
        """Write many versions in ONE transaction (the loader's bulk path); all or nothing."""
        async with self._write_lock:
            conn = self._write_conn()
            self._committer.commit(conn)
            await begin_immediate(conn, self._busy_timeout)
            try:
                for number, version in enumerate(versions, start=1):
                    with sqlite_errors():
                        write_version(conn, version)
                    if number % _YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # let readers in: a big batch takes a while
                with sqlite_errors():
                    conn.execute("COMMIT")
            finally:
                rollback_quietly(conn)

    async def reindex_batch(
        self,
        resource_types: Sequence[str] | None,
        after_pid: int,
        upto_pid: int,
        limit: int,
        extract: Callable[[bytes], IndexRows],
    ) -> tuple[int, int]:
        async with self._write_lock:
            conn = self._write_conn()
            self._committer.commit(conn)
            await begin_immediate(conn, self._busy_timeout)
            try:
                with sqlite_errors():
                    done = reindex_rows(conn, resource_types, after_pid, upto_pid, limit, extract)
                    conn.execute("COMMIT")
            finally:
                rollback_quietly(conn)
        return done

    async def run_statement(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._write_lock:
            conn = self._write_conn()
            self._committer.commit(conn)
            await begin_immediate(conn, self._busy_timeout)
            try:
                with sqlite_errors():
                    rows = conn.execute(sql, tuple(params)).fetchall()
                    conn.execute("COMMIT")
            finally:
                rollback_quietly(conn)
        return [tuple(row) for row in rows]

    async def load_rows(self, rows: Sequence[LoadRow], merge: Merge) -> list[LoadOutcome]:
        """The bulk loader's batch in ONE transaction (multi-row INSERTs per table).

        In a thread, under the write lock: SQLite releases the GIL while it works, so the
        loader's event loop goes on receiving prepared resources meanwhile.
        """
        async with self._write_lock:
            conn = self._write_conn()
            self._committer.commit(conn)
            await begin_immediate(conn, self._busy_timeout)
            try:
                with sqlite_errors():
                    work = asyncio.ensure_future(
                        asyncio.to_thread(_load_and_commit, conn, rows, merge)
                    )
                    try:
                        outcomes = await asyncio.shield(work)
                    except asyncio.CancelledError:
                        # A thread cannot be stopped: it commits or fails whole before the
                        # connection is touched again (the ROLLBACK below, another writer).
                        await asyncio.wait({work})
                        raise
            finally:
                rollback_quietly(conn)
        return outcomes

    async def stream_current(
        self, resource_types: Sequence[str] | None = None, since: int | None = None
    ) -> AsyncIterator[StoredResource]:
        filters = ""
        params: list[Any] = []
        if resource_types is not None:
            filters += f" AND e.res_type IN ({', '.join('?' * len(resource_types))})"
            params += list(resource_types)
        if since is not None:
            filters += " AND e.last_updated >= ?"
            params.append(since)
        statement = sql.STREAM_CURRENT.format(filters=filters)
        # Its own connection and read transaction: one consistent snapshot for the whole
        # stream (a backup must not mix before/after states), without tying up the reader.
        own = not self.in_memory
        conn = (
            connect(self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous)
            if own
            else self._read_conn()
        )
        try:
            with sqlite_errors():
                if own:
                    conn.execute("BEGIN")
                last_pid = 0
                while True:
                    batch = conn.execute(
                        statement, (last_pid, *params, self._stream_batch_size)
                    ).fetchall()
                    if not batch:
                        break
                    last_pid = batch[-1][7]
                    for row in batch:
                        yield stored_from_row(row)
        finally:
            if own:
                rollback_quietly(conn)
                conn.close()


@contextmanager
def _read_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction around several statements (so a count and its page agree)."""
    if conn.in_transaction:  # :memory: while a write is open: already one transaction
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        rollback_quietly(conn)


def _load_and_commit(
    conn: sqlite3.Connection, rows: Sequence[LoadRow], merge: Merge
) -> list[LoadOutcome]:
    outcomes = load_rows(conn, rows, merge)
    conn.execute("COMMIT")
    return outcomes
