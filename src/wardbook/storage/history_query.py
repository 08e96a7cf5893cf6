"""History queries over ``resource_version`` (R4 http.html#history), shared by both backends.

Newest first by (last_updated, vid); pages continue from an opaque keyset cursor, so a page
never shifts when new versions arrive. SQL uses ``?`` placeholders (the PostgreSQL runner
numbers them).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wardbook.errors import BadRequest
from wardbook.storage.base import StoredResource
from wardbook.storage.version_rows import stored_from_row, version_columns

_CURSOR = struct.Struct(">qq")


def encode_cursor(last_updated: int, vid: int) -> str:
    """Opaque, URL-safe position after the version (last_updated, vid)."""
    return base64.urlsafe_b64encode(_CURSOR.pack(last_updated, vid)).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (last_updated, vid) inside a cursor; 400 when it was not made by encode_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_updated, vid = _CURSOR.unpack(raw)
    except (binascii.Error, struct.error, ValueError) as exc:
        raise BadRequest(f"invalid history page cursor: {cursor!r}") from exc
    return last_updated, vid


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """The page and total-count statements of one history request."""

    page_sql: str
    page_params: list[Any]
    count_sql: str
    count_params: list[Any]
    limit: int


def build_history_query(
    *,
    body_column: str,
    resource_type: str | None,
    resource_id: str | None,
    since: int | None,
    at: int | None,
    count: int,
    cursor: str | None,
) -> HistoryQuery:
    """Compile filters to SQL; rows are the version columns then ``vid``.

    ``body_column`` is the dialect's expression for ``v.body`` as bytes. The page query
    fetches ``count + 1`` rows to learn whether a next page exists.
    """
    if resource_id is not None and resource_type is None:
        raise ValueError("instance history needs the resource type")
    where: list[str] = []
    params: list[Any] = []
    if resource_id is not None:
        where.append("v.pid = (SELECT pid FROM resource_entity WHERE res_type = ? AND res_id = ?)")
        params += [resource_type, resource_id]
    elif resource_type is not None:
        where.append("v.res_type = ?")
        params.append(resource_type)
    if since is not None:
        # R4 _since: versions created at or after the instant.
        where.append("v.last_updated >= ?")
        params.append(since)
    if at is not None:
        # R4 _at: the version that was current at the instant -- the newest one of its
        # resource created at or before it.
        where.append(
            "v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM resource_version n"
            " WHERE n.pid = v.pid AND n.version > v.version AND n.last_updated <= ?)"
        )
        params += [at, at]
    count_where = " AND ".join(where) or "1 = 1"
    page_where = list(where)
    page_params = list(params)
    if cursor is not None:
        page_where.append("(v.last_updated, v.vid) < (?, ?)")
        page_params += list(decode_cursor(cursor))
    page_sql = (
        # internal identifiers, values bound:
        f"SELECT {version_columns('v', body_column)}, v.vid FROM resource_version v"  # nosec B608
        f" WHERE {' AND '.join(page_where) or '1 = 1'}"
        " ORDER BY v.last_updated DESC, v.vid DESC LIMIT ?"
    )
    limit = max(count, 0)
    page_params.append(limit + 1)
    # internal identifiers, values bound:
    count_sql = f"SELECT count(*) FROM resource_version v WHERE {count_where}"  # nosec B608
    return HistoryQuery(page_sql, page_params, count_sql, list(params), limit)


def history_page(
    query: HistoryQuery, rows: Sequence[Sequence[Any]]
) -> tuple[list[StoredResource], str | None]:
    """The entries of one page and the cursor of the next (None on the last page)."""
    entries = [stored_from_row(row) for row in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit and query.limit > 0:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(last[3], last[7])
    return entries, next_cursor
