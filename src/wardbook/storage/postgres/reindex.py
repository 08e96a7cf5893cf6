"""PostgreSQL half of ``$reindex``: rewrite the index rows of one batch in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wardbook.storage.index_tables import index_sets
from wardbook.storage.postgres import sql
from wardbook.storage.postgres.connection import to_dollar_params
from wardbook.storage.postgres.write import apply_index_diff, read_index
from wardbook.storage.reindex_rows import Extract, batch_sql

if TYPE_CHECKING:
    from wardbook.storage.postgres.connection import Connection


async def reindex_rows(
    conn: Connection,
    resource_types: Sequence[str] | None,
    after: int,
    upto: int,
    limit: int,
    extract: Extract,
) -> tuple[int, int]:
    """(last pid done, resources done) for the next batch; the caller holds the transaction."""
    # Row locks, as writers take them: a concurrent update waits, then diffs against our rows.
    text, params = batch_sql(sql.BODY, resource_types, lock=" FOR UPDATE OF e")
    rows = await conn.fetch(to_dollar_params(text), after, upto, *params, limit)
    for pid, resource_type, body in rows:
        old = await read_index(conn, pid)
        await apply_index_diff(conn, pid, resource_type, old, index_sets(extract(bytes(body))))
    return (int(rows[-1][0]) if rows else upto), len(rows)
