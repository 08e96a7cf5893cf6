"""Applying the SQLite migrations (see wardbook.storage.migrate and migrations/README.md)."""

from __future__ import annotations

import sqlite3
import time

from wardbook.storage.base import Dialect
from wardbook.storage.migrate import Migration, load_migrations, pending, split_sqlite_script

CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"
)


def applied_versions(conn: sqlite3.Connection) -> list[int]:
    """Versions recorded in schema_migrations (none when the table does not exist yet)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return []
    return [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]


def pending_migrations(conn: sqlite3.Connection) -> list[Migration]:
    """The migrations this database still lacks."""
    return pending(load_migrations(Dialect.SQLITE), applied_versions(conn))


def apply_pending(conn: sqlite3.Connection) -> list[str]:
    """Apply what is missing; the caller holds BEGIN IMMEDIATE and commits."""
    conn.execute(CREATE_SCHEMA_MIGRATIONS)
    applied: list[str] = []
    for migration in pending_migrations(conn):
        for statement in split_sqlite_script(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, time.time_ns() // 1000),
        )
        applied.append(migration.name)
    return applied
