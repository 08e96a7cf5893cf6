"""A time limit on one PostgreSQL search: ``SET LOCAL statement_timeout`` in its transaction.

(The same transaction asks for custom plans, see :func:`search_deadline`.)

The search runs in a read-only transaction whose first command sets ``statement_timeout``
(PostgreSQL runtime-config-client: "abort any statement that takes more than the specified
amount of time"); ``SET LOCAL`` ends with the transaction, so the pooled connection keeps
its defaults. BEGIN and SET travel in one round trip (simple query protocol). A cancelled
statement (SQLSTATE 57014) becomes :class:`~wardbook.storage.base.SearchTimeout`: 503 with
Retry-After, and the connection goes back to the pool healthy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from asyncpg import exceptions as pg

from wardbook.storage.base import SearchTimeout, StorageError
from wardbook.storage.postgres.connection import pg_errors

if TYPE_CHECKING:
    from wardbook.storage.postgres.connection import Connection


@asynccontextmanager
async def search_deadline(
    conn: Connection, timeout_ms: int | None, custom_plans: bool = False
) -> AsyncIterator[None]:
    """Run the block's statements in one read-only transaction limited to ``timeout_ms``.

    ``custom_plans``: the transaction also plans every statement for its actual values
    (``plan_cache_mode = force_custom_plan``). asyncpg prepares each search statement,
    and after five runs PostgreSQL may switch a prepared statement to a generic plan,
    which cannot know that ``subject = Patient/123`` selects 100 rows while ``code =
    8302-2`` selects thousands: on 32,000 resources the generic plan of
    ``Observation?subject&code&date`` drove from the code and took 91 ms where the custom
    plan took 0.7 ms. Single-criterion searches keep the cached plan (planning costs
    more than any choice there can save).

    No parallel workers (``max_parallel_workers_per_gather = 0``): a search reads a few
    index ranges, and starting workers costs more than it saves. When PostgreSQL misjudged
    a rare full-text word (no statistics for it: 1,091 rows estimated, 1 found), it
    planned a parallel bitmap scan and `Patient?_content=<MRN>` took 7.3 ms at 507,000
    resources against 1.4 ms at 54,000 (docs/benchmarks.md, search at scale).
    """
    settings = ["SET LOCAL max_parallel_workers_per_gather = 0"]
    if custom_plans:
        settings.append("SET LOCAL plan_cache_mode = force_custom_plan")
    if timeout_ms:
        settings.append(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    with pg_errors():
        await conn.execute(f"BEGIN READ ONLY; {'; '.join(settings)}")
    try:
        yield
    except StorageError as error:
        if timeout_ms and isinstance(error.__cause__, pg.QueryCanceledError):
            raise SearchTimeout(int(timeout_ms)) from error
        raise
    finally:
        if conn.is_in_transaction():
            with pg_errors():
                await conn.execute("ROLLBACK")
