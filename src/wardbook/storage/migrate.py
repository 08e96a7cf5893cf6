"""Versioned SQL migrations: the numbered files of each dialect, in order.

The files live in ``wardbook/storage/migrations/<dialect>/NNNN_name.sql`` (see the README
there for why plain SQL and not Alembic). Each backend applies the missing ones inside one
locked transaction and records them in ``schema_migrations(version, name, applied_at)``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from wardbook.storage.base import Dialect

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str  # file name without ".sql", e.g. "0001_initial"
    sql: str


def load_migrations(dialect: Dialect) -> list[Migration]:
    """Every migration of ``dialect``, ordered by version; rejects malformed or duplicate names."""
    folder = resources.files("wardbook.storage.migrations").joinpath(dialect.value)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {entry.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two {dialect.value} migrations share version {version}")
        found[version] = Migration(version, entry.name[: -len(".sql")], entry.read_text("utf-8"))
    return [found[v] for v in sorted(found)]


def pending(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """The migrations whose version is not in ``applied``, in order."""
    done = set(applied)
    return [m for m in migrations if m.version not in done]


def split_sqlite_script(script: str) -> list[str]:
    """Split a script into complete statements.

    ``sqlite3.executescript`` commits any open transaction first, so a migration that must
    run inside our ``BEGIN IMMEDIATE`` is executed one statement at a time instead.
    ``sqlite3.complete_statement`` understands quotes, comments and trigger bodies.
    """
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if _has_code(statement):
                statements.append(statement)
            buffer = ""
    if _has_code(buffer):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer[:80]!r}")
    return statements


def _has_code(sql: str) -> bool:
    """True when ``sql`` holds more than comments and whitespace."""
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())
