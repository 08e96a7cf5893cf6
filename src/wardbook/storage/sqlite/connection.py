"""SQLite connections: durable pragmas, the cross-process write lock, and error mapping.

Statements take microseconds, so they run synchronously on the event loop (no thread hop).
The one thing that can wait long is taking the write lock while another *process* holds
it; :func:`begin_immediate` waits for that with ``asyncio.sleep`` instead of blocking the
loop inside SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from wardbook.storage.base import Dialect, StorageError, VersionConflict

SYNCHRONOUS_LEVELS = frozenset({"NORMAL", "FULL"})
TEMP_STORE = "FILE"


def connect(
    target: str, *, uri: bool = False, busy_timeout: float = 10.0, synchronous: str = "NORMAL"
) -> sqlite3.Connection:
    """Open a connection in autocommit mode (we issue BEGIN/COMMIT) with our pragmas.

    In WAL mode ``synchronous=NORMAL`` writes every commit to the WAL file before COMMIT
    returns, so a write acknowledged to a client survives kill -9 of the process (tested);
    only an OS crash or power cut can lose the last commits. ``FULL`` also fsyncs the WAL
    on every commit (about 6 ms on this project's CI disk), for power-loss durability.
    ``foreign_keys`` is per connection and off by default.
    """
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise StorageError(f"SQLite synchronous must be normal or full, not {synchronous!r}")
    with sqlite_errors():
        conn = sqlite3.connect(
            target,
            uri=uri,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        set_busy_timeout(conn, busy_timeout)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # Savepoint sub-journals (group.py, write.py) stay in memory up to SQLite's 64 KiB
        # statement-journal spill, then go to an unlinked temp file. With temp_store=MEMORY
        # they never spill, and each RELEASE of a nested savepoint walks the in-memory
        # journal's 1 KiB chunks from the start to truncate it: a 2,000-entry transaction
        # bundle spent 29% of its time there, growing with the square of its size
        # (docs/benchmarks.md, "Transaction bundles on SQLite").
        conn.execute(f"PRAGMA temp_store = {TEMP_STORE}")
        ensure_math_functions(conn)
    return conn


_MATH_FUNCTIONS = {"sin": math.sin, "cos": math.cos, "radians": math.radians}


def ensure_math_functions(conn: sqlite3.Connection) -> None:
    """``sin``, ``cos``, ``radians`` for ``Location?near`` (storage/search_near.py).

    SQLite has them only when built with SQLITE_ENABLE_MATH_FUNCTIONS (3.35+); on other
    builds the Python ones are registered, so the same SQL text runs everywhere.
    """
    try:
        conn.execute("SELECT sin(0.0), cos(0.0), radians(0.0)").fetchone()
    except sqlite3.OperationalError:
        for name, function in _MATH_FUNCTIONS.items():
            conn.create_function(name, 1, _null_safe(function), deterministic=True)


def _null_safe(function: Callable[[float], float]) -> Callable[[float | None], float | None]:
    def run(value: float | None) -> float | None:
        return None if value is None else function(value)

    return run


def set_busy_timeout(conn: sqlite3.Connection, seconds: float) -> None:
    """How long SQLite itself retries a locked database -- blocking the calling thread."""
    with sqlite_errors():
        conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the database file to write-ahead logging (persistent; readers never block)."""
    with sqlite_errors():
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"SQLite could not enable WAL mode (journal_mode={mode})")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


async def begin_immediate(conn: sqlite3.Connection, max_wait: float) -> None:
    """BEGIN IMMEDIATE, waiting (asynchronously) up to ``max_wait`` s for other processes."""
    deadline = time.monotonic() + max_wait
    delay = 0.001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise StorageError(f"SQLite: {exc}") from exc
            if time.monotonic() >= deadline:
                raise StorageError("SQLite database is locked by another writer") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.005)


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; never masks the error being handled."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@contextmanager
def sqlite_errors() -> Iterator[None]:
    """Map SQLite failures: unique keys -> VersionConflict (409), I/O, locks -> 503."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE constraint failed" in str(exc):
            raise VersionConflict(f"concurrent write: {exc}") from exc
        raise
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise StorageError("SQLite database is locked") from exc
        raise StorageError(f"SQLite: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        # Exactly DatabaseError: a corrupt or unreadable file. Its subclasses
        # (ProgrammingError, ...) are bugs and propagate unchanged.
        if type(exc) is not sqlite3.DatabaseError:
            raise
        raise StorageError(f"SQLite: {exc}") from exc


class SqliteRunner:
    """SqlRunner over one SQLite connection; the search compiler's ``?`` SQL runs as is."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return Dialect.SQLITE

    async def fetch_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with sqlite_errors():
            rows: list[tuple[Any, ...]] = self._conn.execute(sql, params).fetchall()
        return rows
