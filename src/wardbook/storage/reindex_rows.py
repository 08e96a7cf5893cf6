"""Rebuilding index rows of stored resources in pid order (the ``$reindex`` job's storage half).

The job scans current, live resources by ascending ``pid`` in batches; for each it asks the
caller's pure ``extract`` for the rows the resource should have and applies the difference
to the rows it has (unchanged rows are left alone, so re-running a batch is harmless and an
interrupted job resumes after its last committed ``pid``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wardbook.search.index import IndexRows

Extract = Callable[[bytes], "IndexRows"]


def batch_sql(
    body: str, resource_types: Sequence[str] | None, *, lock: str = ""
) -> tuple[str, list[Any]]:
    """Live resources with ``after < pid <= upto`` by pid; parameters: after, upto, types, limit."""
    where = ""
    params: list[Any] = []
    if resource_types:
        where = f" AND e.res_type IN ({', '.join('?' * len(resource_types))})"
        params = list(resource_types)
    text = (
        # internal identifiers, values bound:
        f"SELECT e.pid, e.res_type, {body} FROM resource_entity e"  # nosec B608
        " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
        f" WHERE e.pid > ? AND e.pid <= ? AND NOT e.deleted{where} ORDER BY e.pid LIMIT ?{lock}"
    )
    return text, params
