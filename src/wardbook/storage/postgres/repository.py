"""The PostgreSQL backend: an asyncpg pool, prepared statements, READ COMMITTED writes.

``read``/``vread`` are one prepared statement each -- one round trip -- since they are the
hot path, run on a few dedicated connections when one is idle (see readers.py).

Pooled connections go back to the pool without asyncpg's reset query (another round trip
per checkout): Wardbook keeps no session state -- advisory locks are transaction scoped,
cursors live inside transactions, settings are ``SET LOCAL`` -- and asyncpg still rolls
back any transaction left open. Writes lock the entity row (FOR UPDATE) or move it
conditionally, and unique keys catch the remaining races (VersionConflict).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import asyncpg

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
    VersionConflict,
    WriteTx,
)
from wardbook.storage.history_query import build_history_query, history_page
from wardbook.storage.index_tables import TABLES_BY_NAME, diff_index, index_sets
from wardbook.storage.postgres import schema, sql
from wardbook.storage.postgres.connection import (
    BROKEN_CONNECTION,
    PostgresRunner,
    init_connection,
    keep_session,
    pg_errors,
    to_dollar_params,
)
from wardbook.storage.postgres.deadline import search_deadline
from wardbook.storage.postgres.readers import AllBusy, ReadConnections
from wardbook.storage.postgres.reindex import reindex_rows
from wardbook.storage.postgres.write import (
    PostgresWriteTx,
    column_arrays,
    load_rows,
    write_many,
)
from wardbook.storage.search_delegate import plan_sensitive, run_search
from wardbook.storage.version_rows import MAX_VERSION, stored_from_row

if TYPE_CHECKING:
    from wardbook.search.index import IndexRows
    from wardbook.search.query import SearchQuery
    from wardbook.storage.postgres.connection import Connection


class PostgresRepository(Repository):
    """Versioned resources in PostgreSQL."""

    dialect = Dialect.POSTGRES

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        command_timeout: float = 30.0,
        acquire_timeout: float = 10.0,
        statement_cache_size: int = 512,
        stream_batch_size: int = 500,
        read_connections: int = 2,
    ) -> None:
        self.dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._acquire_timeout = acquire_timeout
        self._statement_cache_size = statement_cache_size
        self._stream_batch_size = stream_batch_size
        self._read_connections = read_connections
        self._pool: asyncpg.Pool[Any] | None = None
        self._readers: ReadConnections | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        with pg_errors():
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=self._command_timeout,
                statement_cache_size=self._statement_cache_size,
                init=init_connection,
                reset=keep_session,
                timeout=self._acquire_timeout,
            )
            if self._read_connections > 0:
                self._readers = ReadConnections(self._connect, self._read_connections)
                try:
                    await self._readers.open()
                except BaseException:
                    await self.close()
                    raise

    async def _connect(self) -> asyncpg.Connection[Any]:
        """A connection outside the pool, set up like the pool's."""
        conn: asyncpg.Connection[Any] = await asyncpg.connect(
            self.dsn,
            command_timeout=self._command_timeout,
            statement_cache_size=self._statement_cache_size,
            timeout=self._acquire_timeout,
        )
        await init_connection(conn)
        return conn

    async def close(self) -> None:
        readers, self._readers = self._readers, None
        if readers is not None:
            await readers.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise StorageError("the PostgreSQL repository is not open")
        with pg_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                try:
                    yield conn
                except BROKEN_CONNECTION:
                    # The pool opens a fresh one on the next acquire. (asyncpg may already
                    # have detached a connection that closed under it.)
                    with suppress(asyncpg.InterfaceError):
                        conn.terminate()
                    raise

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A side-table read on a pooled connection, outside any explicit transaction."""
        async with self._connection() as conn:
            return await PostgresRunner(conn).fetch_all(sql, params)

    async def _fetchrow(self, statement: str, *args: Any) -> asyncpg.Record | None:
        """Run one read: on an idle dedicated connection, else on the pool.

        Pooled connections die silently when the server restarts or fails over; a read is
        safe to repeat, so a dead connection is dropped and the read retried once, and
        clients see no error for what the pool can fix itself.
        """
        if self._readers is not None:
            with pg_errors():
                try:
                    return await self._readers.run(statement, *args)
                except AllBusy:
                    pass  # every dedicated connection is busy
                except BROKEN_CONNECTION:
                    pass  # dropped (and being replaced): retry on the pool
        try:
            async with self._connection() as conn:
                return await conn.fetchrow(statement, *args)
        except StorageError as error:
            if not isinstance(error.__cause__, BROKEN_CONNECTION):
                raise
        async with self._connection() as conn:
            return await conn.fetchrow(statement, *args)

    async def migrate(self) -> list[str]:
        async with self._connection() as conn:
            return await schema.apply_pending(conn)

    async def pending_migrations(self) -> list[str]:
        async with self._connection() as conn:
            return [m.name for m in await schema.pending_migrations(conn)]

    def pool_stats(self) -> dict[str, int]:
        idle = busy = 0
        if self._pool is not None:
            size, free = self._pool.get_size(), self._pool.get_idle_size()
            idle, busy = free, size - free
        if self._readers is not None:
            free, live = self._readers.stats()
            idle, busy = idle + free, busy + live - free
        return {"idle": idle, "busy": busy}

    async def last_backup_time(self) -> int | None:
        async with self._connection() as conn:
            value = await conn.fetchval("SELECT max(finished_at) FROM ops_backup_log")
        return None if value is None else int(value)

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    async def refresh_statistics(self) -> None:
        """ANALYZE the resource and index tables. Right after a bulk load autovacuum has not
        analyzed them yet (it wakes once a minute), and the planner took a freshly loaded
        demo database's 104,302 resources for a few: a two-criterion search took 480 ms
        instead of 2 (docs/benchmarks.md, "the driver chosen from the data")."""
        tables = ", ".join(["resource_entity", "resource_version", *TABLES_BY_NAME])
        async with self._connection() as conn:
            await conn.execute(f"ANALYZE {tables}")  # internal identifiers  # nosec B608

    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        row = await self._fetchrow(sql.READ, resource_type, resource_id)
        return None if row is None else stored_from_row(row)

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        if not 1 <= version <= MAX_VERSION:
            return None  # no such version; and the column could not even hold the number
        row = await self._fetchrow(sql.VREAD, resource_type, resource_id, version)
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
        async with self._connection() as conn:
            total = await conn.fetchval(to_dollar_params(query.count_sql), *query.count_params)
            rows = (
                await conn.fetch(to_dollar_params(query.page_sql), *query.page_params)
                if count
                else []
            )
        entries, next_cursor = history_page(query, rows)
        return Page(entries=entries, total=total, next_cursor=next_cursor)

    async def search(self, query: SearchQuery) -> Page:
        custom = plan_sensitive(query)
        async with (
            self._connection() as conn,
            search_deadline(conn, self.search_timeout_ms, custom),
        ):
            return await run_search(PostgresRunner(conn), query)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PostgresRunner]:
        async with self._connection() as conn:
            yield PostgresRunner(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTx]:
        async with self._connection() as conn:
            tx = PostgresWriteTx(conn)
            try:
                async with conn.transaction(isolation="read_committed"):
                    yield tx
            finally:
                tx.close()

    async def write_new(self, version: NewVersion) -> None:
        """A brand-new resource (version 1) in one atomic statement: no explicit transaction."""
        if version.version != 1 or version.index is None or version.body is None:
            await super().write_new(version)
            return
        diffs = diff_index({}, index_sets(version.index))
        params: list[Any] = [
            version.resource_type,
            version.id,
            version.version,
            False,
            version.last_updated,
            version.method,
            version.body,
        ]
        for diff in diffs:
            params += column_arrays(diff.table, diff.added)
        statement = sql.create_with_index(tuple(d.table.name for d in diffs))
        async with self._connection() as conn:
            with pg_errors():
                pid = await conn.fetchval(statement, *params)
        if pid is None:
            raise VersionConflict(f"{version.resource_type}/{version.id} already exists")

    async def write_many(self, versions: Sequence[NewVersion]) -> None:
        """Write many versions in ONE transaction (the loader's bulk path); all or nothing."""
        async with self._connection() as conn, conn.transaction(isolation="read_committed"):
            await write_many(conn, versions)

    async def reindex_batch(
        self,
        resource_types: Sequence[str] | None,
        after_pid: int,
        upto_pid: int,
        limit: int,
        extract: Callable[[bytes], IndexRows],
    ) -> tuple[int, int]:
        async with self._connection() as conn, conn.transaction(isolation="read_committed"):
            with pg_errors():
                return await reindex_rows(conn, resource_types, after_pid, upto_pid, limit, extract)

    async def run_statement(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            with pg_errors():
                records = await conn.fetch(to_dollar_params(sql), *params)
        return [tuple(record) for record in records]

    async def load_rows(self, rows: Sequence[LoadRow], merge: Merge) -> list[LoadOutcome]:
        """The bulk loader's batch in ONE transaction: lookup, entity INSERT, COPY."""
        async with self._connection() as conn, conn.transaction(isolation="read_committed"):
            with pg_errors():
                return await load_rows(conn, rows, merge)

    async def stream_current(
        self, resource_types: Sequence[str] | None = None, since: int | None = None
    ) -> AsyncIterator[StoredResource]:
        params: list[Any] = []
        if resource_types is not None:
            params.append(list(resource_types))
        if since is not None:
            params.append(since)
        statement = sql.stream_current(resource_types, since)
        # A server-side cursor in a read-only REPEATABLE READ transaction: constant memory
        # and one consistent snapshot for the whole stream (backups must not mix states).
        async with (
            self._connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            async for row in conn.cursor(statement, *params, prefetch=self._stream_batch_size):
                yield stored_from_row(row)
