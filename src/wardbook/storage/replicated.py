"""Read replicas: reads and searches on PostgreSQL streaming replicas, writes on the primary.

``WARDBOOK_DATABASE_REPLICA_URLS`` (comma-separated) names the replicas. This wrapper
around the primary's repository sends ``read``, ``vread``, ``history`` and ``search`` to a
replica when it is safe, and everything else (writes, transactions, migrations, jobs) to
the primary. It is safe when:

* the replica is reachable, still in recovery (a promoted former replica is not a replica
  any more), and its replay lag is within ``max_lag_seconds`` (measured every
  ``probe_interval`` seconds with ``pg_last_xact_replay_timestamp``); and
* **read-your-writes**: the caller's session has no write the replica has not replayed.
  After each committed write the primary's WAL position (``pg_current_wal_lsn()``) is kept
  for the session (the principal's session id, else its subject), and that session's reads
  stay on the primary until the replica's ``pg_last_wal_replay_lsn()`` has passed it.

When no replica is safe, reads go to the primary: replicas shed load, they are never needed
for correctness. Works through pgbouncer in transaction mode (give the URLs
``?statement_cache_size=0``): every statement here is a single transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wardbook.auth.principal import current_principal

if TYPE_CHECKING:
    from wardbook.search.query import SearchQuery
    from wardbook.storage.base import NewVersion, Page, StoredResource, WriteTx
    from wardbook.storage.postgres.repository import PostgresRepository

log = logging.getLogger("wardbook.storage.replicas")

_PROBE = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - "
    "COALESCE(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) END"
)
_SESSIONS_KEPT = 10_000


def parse_lsn(text: str | None) -> int:
    """A pg_lsn ``'16/B374D848'`` as an integer (0 for none)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(slots=True)
class ReplicaState:
    """What the last probe of one replica found."""

    name: str
    repository: PostgresRepository
    healthy: bool = False
    replay_lsn: int = 0
    lag_seconds: float = float("inf")
    probed_at: float = 0.0
    reads: int = 0  # reads and searches served (for tests and metrics)


def session_key() -> str:
    principal = current_principal()
    return principal.session_id or f"{principal.kind}:{principal.subject}"


class ReplicatedRepository:
    """The primary's repository, with reads spread over healthy, caught-up replicas.

    Every attribute not defined here is the primary's, so methods other features add to
    the repository keep working (on the primary) without this class knowing them.
    """

    def __init__(
        self,
        primary: PostgresRepository,
        replicas: list[tuple[str, PostgresRepository]],
        *,
        max_lag_seconds: float = 5.0,
        probe_interval: float = 0.5,
    ) -> None:
        self.primary = primary
        self.replicas = [ReplicaState(name, repo) for name, repo in replicas]
        self.max_lag_seconds = max_lag_seconds
        self.probe_interval = probe_interval
        self.primary_reads = 0
        self._sessions: OrderedDict[str, int] = OrderedDict()
        self._turn = itertools.count()
        self._monitor: asyncio.Task[None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.primary, name)

    @property
    def dialect(self) -> Any:
        return self.primary.dialect

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        await self.primary.open()
        for replica in self.replicas:
            await self._open_replica(replica)
        await self.probe()
        self._monitor = asyncio.create_task(self._watch())

    async def _open_replica(self, replica: ReplicaState) -> None:
        try:
            await replica.repository.open()
        except Exception as error:  # a replica that is down must not stop the server
            log.warning("replica %s unavailable: %s", replica.name, error)

    async def close(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                await replica.repository.close()
        await self.primary.close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.probe_interval)
            await self.probe()

    async def probe(self) -> None:
        """Measure every replica's state now (the monitor does this periodically)."""
        for replica in self.replicas:
            try:
                if replica.repository._pool is None:
                    await replica.repository.open()
                async with replica.repository._connection() as conn:
                    row = await conn.fetchrow(_PROBE)
                if row is None:
                    raise LookupError("no probe row")
                recovering, lsn, lag = row
            except Exception:
                replica.healthy = False
                replica.lag_seconds = float("inf")
                continue
            replica.healthy = bool(recovering)
            replica.replay_lsn = parse_lsn(lsn)
            replica.lag_seconds = float(lag)
            replica.probed_at = time.monotonic()

    def replica_status(self) -> dict[str, float]:
        """Lag in seconds by replica name (infinity when down): for the metrics."""
        return {r.name: (r.lag_seconds if r.healthy else float("inf")) for r in self.replicas}

    # --- routing --------------------------------------------------------------------------

    def _reader(self) -> Any:
        needed = self._sessions.get(session_key(), 0)
        candidates = [
            r
            for r in self.replicas
            if r.healthy and r.lag_seconds <= self.max_lag_seconds and r.replay_lsn >= needed
        ]
        if needed and len(candidates) == sum(r.healthy for r in self.replicas):
            self._sessions.pop(session_key(), None)  # every replica has caught up
        if not candidates:
            self.primary_reads += 1
            return self.primary
        replica = candidates[next(self._turn) % len(candidates)]
        replica.reads += 1
        return replica.repository

    async def _remember_write(self) -> None:
        async with self.primary._connection() as conn:
            lsn = parse_lsn(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))
        key = session_key()
        self._sessions[key] = lsn
        self._sessions.move_to_end(key)
        while len(self._sessions) > _SESSIONS_KEPT:
            self._sessions.popitem(last=False)

    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        result: StoredResource | None = await self._reader().read(resource_type, resource_id)
        return result

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        result: StoredResource | None = await self._reader().vread(
            resource_type, resource_id, version
        )
        return result

    async def history(self, **kwargs: Any) -> Page:
        page: Page = await self._reader().history(**kwargs)
        return page

    async def search(self, query: SearchQuery) -> Page:
        page: Page = await self._reader().search(query)
        return page

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTx]:
        async with self.primary.transaction() as tx:
            yield tx
        await self._remember_write()

    async def write_new(self, version: NewVersion) -> None:
        await self.primary.write_new(version)
        await self._remember_write()

    async def write_many(self, versions: Any) -> None:
        await self.primary.write_many(versions)
        await self._remember_write()
