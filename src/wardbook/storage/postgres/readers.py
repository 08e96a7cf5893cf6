"""Dedicated connections for the one-statement reads (read, vread), checked out without
awaiting anything.

asyncpg's pool costs about as much as the query itself on loopback (a queue, a proxy, and
a task per release: ~50 µs against ~45 µs for ``SELECT 1``, measured with
tests/storage/bench_read.py). A read takes an idle dedicated connection with a list
``pop()``; when none is idle it simply uses the pool, so these connections add speed, never
a queue. A connection that breaks is dropped and replaced in the background.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg

from wardbook.storage.postgres.connection import BROKEN_CONNECTION

_REFILL_PAUSE = 1.0  # seconds between attempts to replace lost connections


class AllBusy(Exception):
    """No dedicated connection is idle: use the pool."""


class ReadConnections:
    """A fixed number of connections handed out one statement at a time."""

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection[Any]]], size: int
    ) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[asyncpg.Connection[Any]] = []
        self._live = 0
        self._closed = False
        self._refilling: asyncio.Task[None] | None = None
        self._last_refill = 0.0

    async def open(self) -> None:
        for _ in range(self._size):
            self._idle.append(await self._connect())
            self._live += 1

    def stats(self) -> tuple[int, int]:
        """(idle, live) dedicated read connections."""
        return len(self._idle), self._live

    def take(self) -> asyncpg.Connection[Any] | None:
        """An idle connection, or None (then use the pool)."""
        if self._idle:
            return self._idle.pop()
        if self._live < self._size and not self._closed:
            self._refill_soon()
        return None

    def give_back(self, conn: asyncpg.Connection[Any]) -> None:
        if self._closed:
            self.discard(conn)
        else:
            self._idle.append(conn)

    def discard(self, conn: asyncpg.Connection[Any]) -> None:
        """Drop a connection that failed or was interrupted mid-statement."""
        self._live -= 1
        conn.terminate()

    async def run(self, statement: str, *args: Any) -> asyncpg.Record | None:
        """``fetchrow`` on an idle connection; raises AllBusy when none is idle.

        BROKEN_CONNECTION errors propagate after the connection is dropped, so the caller
        can retry elsewhere; an error the server reported leaves the connection usable.
        """
        conn = self.take()
        if conn is None:
            raise AllBusy
        try:
            row = await conn.fetchrow(statement, *args)
        except asyncpg.PostgresError as error:
            if isinstance(error, BROKEN_CONNECTION):
                self.discard(conn)
            else:
                self.give_back(conn)
            raise
        except BaseException:
            # Cancelled, timed out or broken mid-statement: its state is unknown.
            self.discard(conn)
            raise
        self.give_back(conn)
        return row

    def _refill_soon(self) -> None:
        now = time.monotonic()
        if self._refilling is not None or now - self._last_refill < _REFILL_PAUSE:
            return
        self._last_refill = now
        self._refilling = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        try:
            while self._live < self._size and not self._closed:
                try:
                    conn = await self._connect()
                except (OSError, TimeoutError, asyncpg.PostgresError):
                    return  # the database is down; the next take() tries again later
                self._live += 1
                self.give_back(conn)
        finally:
            self._refilling = None

    async def close(self) -> None:
        self._closed = True
        if self._refilling is not None:
            self._refilling.cancel()
            with suppress(asyncio.CancelledError):
                await self._refilling
        idle, self._idle = self._idle, []
        for conn in idle:
            self._live -= 1
            with suppress(Exception):
                await conn.close(timeout=2)
