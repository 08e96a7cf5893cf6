"""Hands a search to the SQL search compiler, which both backends share.

The compiler (``wardbook.storage.search_sql.run_search(runner, query) -> Page``) turns a
SearchQuery into SQL over the idx_* tables and runs it through a :class:`SqlRunner`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from wardbook.storage.base import Page, SqlRunner

if TYPE_CHECKING:
    from wardbook.search.query import SearchQuery


async def run_search(runner: SqlRunner, query: SearchQuery) -> Page:
    """Run ``query`` on ``runner``'s connection (inside its transaction, if any)."""
    # Looked up at call time so the storage backends do not depend on the compiler's import
    # graph (and work before it lands).
    search_sql = importlib.import_module("wardbook.storage.search_sql")
    page: Page = await search_sql.run_search(runner, query)
    return page


def plan_sensitive(query: SearchQuery) -> bool:
    """Whether ``query``'s plan depends on its values (several or linked criteria)."""
    search_sql = importlib.import_module("wardbook.storage.search_sql")
    return bool(search_sql.plan_sensitive(query))
