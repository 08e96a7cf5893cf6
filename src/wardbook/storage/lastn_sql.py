"""``Observation/$lastn``: the latest N observations per code (R4 observation-operation-lastn).

The search's own WHERE clause (:func:`wardbook.storage.search_sql.where_sql`) selects the
candidates; a window over their ``code`` tokens ranks each code's observations by their
clinical date (the ``date`` parameter: ``effective[x]``, latest end first; undated last)
and keeps the first ``max`` of each. An observation with several codings counts in each of
its codes' groups and is returned once.
"""

from __future__ import annotations

from wardbook.search.query import SearchQuery
from wardbook.storage.base import Dialect, Page, SqlRunner
from wardbook.storage.search_sql import where_sql
from wardbook.storage.version_rows import stored_from_row, version_columns

_BODY = {Dialect.SQLITE: "CAST(v.body AS BLOB)", Dialect.POSTGRES: "v.body"}


def lastn_sql(
    query: SearchQuery, max_per_code: int, limit: int, dialect: Dialect
) -> tuple[str, list[object]]:
    where = where_sql(query)
    text = (
        # internal identifiers, values bound:
        f"SELECT {version_columns('v', _BODY[dialect])}, ranked.pid FROM ("  # nosec B608
        " SELECT pid, system, code, ROW_NUMBER() OVER ("
        "  PARTITION BY system, code ORDER BY effective DESC, pid DESC) AS rn FROM ("
        "   SELECT e.pid AS pid, COALESCE(t.system, '') AS system, t.code AS code,"
        "    COALESCE((SELECT MAX(d.high) FROM idx_date d"
        "     WHERE d.pid = e.pid AND d.param = 'date'), -1) AS effective"
        "   FROM resource_entity e"
        "   JOIN idx_token t ON t.pid = e.pid AND t.param = 'code' AND t.code IS NOT NULL"
        f"   WHERE {where.text}) candidates"
        ") ranked"
        " JOIN resource_entity e ON e.pid = ranked.pid"
        " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
        " WHERE ranked.rn <= ?"
        " ORDER BY ranked.system, ranked.code, ranked.rn LIMIT ?"
    )
    return text, [*where.params, max_per_code, limit]


async def lastn_page(runner: SqlRunner, query: SearchQuery, max_per_code: int, limit: int) -> Page:
    """The observations, grouped by code (newest first within a code), each once."""
    text, params = lastn_sql(query, max_per_code, limit, runner.dialect)
    rows = await runner.fetch_all(text, params)
    seen: set[int] = set()
    entries = []
    for row in rows:
        pid = int(row[-1])
        if pid not in seen:
            seen.add(pid)
            entries.append(stored_from_row(row))
    return Page(entries=entries, total=len(entries))
