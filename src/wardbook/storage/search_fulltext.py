"""SQL for ``_text`` and ``_content`` (R4 search.html#content): one text for both backends.

Both dialects answer the same statement: ``idx_text_fts(?)`` is, on SQLite, the FTS5 table
over ``idx_text`` (table-valued syntax; migration 0003 keeps it in step with triggers) and,
on PostgreSQL, a SQL function over the GIN index on ``to_tsvector('simple', text)`` that
the planner inlines. Either yields the ``rowid`` of the matching ``idx_text`` rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from wardbook.search.fulltext import FullTextValue

if TYPE_CHECKING:
    from wardbook.search.query import Criterion
    from wardbook.storage.search_sql import Sql


def fulltext_sql(criterion: Criterion, resource_type: str | None) -> Sql:
    """``e.pid IN (...)``: resources whose narrative/content holds every word of a value."""
    from wardbook.storage.search_sql import Sql, _in, _or, _subquery

    values = [cast(FullTextValue, v) for v in criterion.values]
    where = _or(
        [Sql("i.rowid IN (SELECT rowid FROM idx_text_fts(?))", [v.fts_query()]) for v in values]
    )
    return _in(_subquery("idx_text", resource_type, criterion.code, where))
