"""One criterion's OR values as SQL that stays shallow however many values there are.

R4 search.html#combining: the comma-separated values of a parameter OR. A client sent 4,769
``_id`` values in one search; one ``... OR ...`` term per value made SQLite refuse the
statement ("Expression tree is too large (maximum depth 1000)": it parses ``a OR b OR c``
left-deep, one level per term) and gave PostgreSQL one plan arm per value. Here values that
test the same column for equality -- after the same fixed tests (a token's system, a
reference's target type) -- share one ``column IN (?, ...)`` list; whatever else remains
(prefix ranges, ``:contains``, date prefixes) is ORed by :func:`~wardbook.storage.search_sql
._or`, which nests groups so the depth grows with the logarithm of the number of terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wardbook.storage.search_sql import Sql


@dataclass(frozen=True, slots=True)
class Equality:
    """``<fixed> AND <column> = value`` on alias ``i``.

    Values with the same ``fixed`` text and parameters and the same ``column`` share one
    ``IN`` list: ``code=http://loinc.org|a,http://loinc.org|b`` is ``(i.system = ? AND
    i.code IN (?, ?))``, which the ``(res_type, param, code, system)`` index answers with one
    probe per code, as the OR of pairs did.
    """

    column: str
    value: Any
    fixed: str = ""
    fixed_params: tuple[Any, ...] = ()


def any_of(terms: Sequence[Sql | Equality]) -> Sql:
    """The OR of ``terms``: equalities merged into IN lists, the rest ORed shallowly."""
    from wardbook.storage.search_sql import Sql, _or

    groups: dict[tuple[str, tuple[Any, ...], str], dict[Any, None]] = {}
    others: list[Sql] = []
    for term in terms:
        if isinstance(term, Equality):
            key = (term.fixed, term.fixed_params, term.column)
            groups.setdefault(key, {})[term.value] = None  # ordered, without repeats
        else:
            others.append(term)
    parts: list[Sql] = []
    for (fixed, fixed_params, column), found in groups.items():
        values = list(found)
        test = (
            f"{column} = ?" if len(values) == 1 else f"{column} IN ({', '.join('?' * len(values))})"
        )
        if fixed:
            parts.append(Sql(f"({fixed} AND {test})", [*fixed_params, *values]))
        else:
            parts.append(Sql(test, values))
    parts.extend(others)
    if not parts:
        return Sql("(1 = 0)")
    return _or(parts)
