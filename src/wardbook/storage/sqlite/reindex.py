"""SQLite half of ``$reindex``: rewrite the index rows of one batch inside the write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from wardbook.storage.index_tables import index_sets
from wardbook.storage.reindex_rows import Extract, batch_sql
from wardbook.storage.sqlite import sql
from wardbook.storage.sqlite.write import read_index, replace_index


def reindex_rows(
    conn: sqlite3.Connection,
    resource_types: Sequence[str] | None,
    after: int,
    upto: int,
    limit: int,
    extract: Extract,
) -> tuple[int, int]:
    """(last pid done, resources done) for the next batch; the caller holds the transaction."""
    text, params = batch_sql(sql.BODY, resource_types)
    rows = conn.execute(text, [after, upto, *params, limit]).fetchall()
    for pid, resource_type, body in rows:
        data = body.encode() if isinstance(body, str) else bytes(body)
        replace_index(conn, pid, resource_type, read_index(conn, pid), index_sets(extract(data)))
    return (int(rows[-1][0]) if rows else upto), len(rows)
