"""Applying the PostgreSQL migrations (see wardbook.storage.migrate and migrations/README.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wardbook.storage.base import Dialect
from wardbook.storage.migrate import Migration, load_migrations, pending
from wardbook.storage.postgres.connection import advisory_key

if TYPE_CHECKING:
    from wardbook.storage.postgres.connection import Connection

MIGRATION_LOCK = advisory_key("wardbook.schema_migrations")

CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)"
)


async def applied_versions(conn: Connection) -> list[int]:
    """Versions recorded in schema_migrations (none when the table does not exist yet)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return []
    return [row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")]


async def pending_migrations(conn: Connection) -> list[Migration]:
    """The migrations this database still lacks."""
    return pending(load_migrations(Dialect.POSTGRES), await applied_versions(conn))


async def apply_pending(conn: Connection) -> list[str]:
    """Apply what is missing in one transaction, serialized by an advisory lock."""
    applied: list[str] = []
    async with conn.transaction():
        # Lock first: two processes must not both see the table missing and both create it.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(CREATE_SCHEMA_MIGRATIONS)
        for migration in await pending_migrations(conn):
            await conn.execute(migration.sql)  # simple protocol: many statements at once
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time_ns() // 1000,
            )
            applied.append(migration.name)
    return applied
