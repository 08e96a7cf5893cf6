"""The columns every query returning stored versions selects first, and their conversion."""

from __future__ import annotations

from typing import Any, Protocol

from wardbook.storage.base import StoredResource, as_bytes

MAX_VERSION = 2**31 - 1  # version columns are 32-bit (PostgreSQL integer) on both backends


def version_columns(alias: str, body: str) -> str:
    """The select list: res_type, res_id, version, last_updated, deleted, body, method.

    ``body`` is the dialect's expression yielding the JSON as bytes (e.g. SQLite's
    ``CAST(v.body AS BLOB)``).
    """
    a = alias
    return (
        f"{a}.res_type, {a}.res_id, {a}.version, {a}.last_updated, {a}.deleted, {body}, {a}.method"
    )


class Row(Protocol):
    """A result row of either driver (sqlite3 tuple, asyncpg Record)."""

    def __getitem__(self, index: int, /) -> Any: ...


def stored_from_row(row: Row) -> StoredResource:
    """A StoredResource from a row that starts with :func:`version_columns`."""
    body = row[5]
    return StoredResource(
        resource_type=row[0],
        id=row[1],
        version=row[2],
        last_updated=row[3],
        deleted=bool(row[4]),
        body=None if body is None else as_bytes(body),
        method=row[6],
    )
