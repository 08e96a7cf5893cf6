"""A time limit on one PostgreSQL search: ``SET LOCAL statement_timeout`` in its transaction.

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
async def search_deadline(conn: Connection, timeout_ms: int | None) -> AsyncIterator[None]:
    """Run the block's statements in one read-only transaction limited to ``timeout_ms``."""
    if not timeout_ms:
        yield
        return
    with pg_errors():
        await conn.execute(f"BEGIN READ ONLY; SET LOCAL statement_timeout = {int(timeout_ms)}")
    try:
        yield
    except StorageError as error:
        if isinstance(error.__cause__, pg.QueryCanceledError):
            raise SearchTimeout(int(timeout_ms)) from error
        raise
    finally:
        if conn.is_in_transaction():
            with pg_errors():
                await conn.execute("ROLLBACK")
