"""How many values one search may carry; larger searches are refused with 400 too-costly.

R4 search.html#errors lets a server refuse a search it will not run. Comma-separated values
OR (#combining); values that test a column for equality (``_id``, token codes, references,
exact strings, uris) compile to one ``IN`` list each (wardbook.storage.value_lists), so
thousands cost about one index probe apiece. Range-shaped values -- string prefixes and
``:contains``, dates, numbers, quantities, ``:text``, ``:below``/``:above`` uris, full text,
``near`` -- stay one OR term each, and SQLite's planner spends time quadratic in their
number (4,000 date prefixes: 5.6 s to prepare on an empty database), so they have a lower
limit. Both limits also keep every statement under the 32,766 bound parameters SQLite
(3.32+) and asyncpg (32,767) accept: a chain binds its values twice (standalone and
contained targets), an exact string criterion paired with another up to three times.
"""

from __future__ import annotations

from dataclasses import dataclass

from wardbook.errors import TooCostly
from wardbook.search.params.concepts import MODIFIERS as CONCEPT_MODIFIERS
from wardbook.search.query import (
    ChainCriterion,
    Criterion,
    HasCriterion,
    ListCriterion,
    SearchQuery,
    Term,
)

# Values of every criterion of one search together (a client sent 4,769 ids in one search).
MAX_VALUES = 10_000
# Of those, values that cannot share an IN list (see the module docstring).
MAX_RANGE_VALUES = 1_000

_LIST_TYPES = frozenset(("reference", "composite"))


@dataclass(slots=True)
class ValueCount:
    """How many values a search carries, and how many of them are range-shaped."""

    values: int = 0
    ranges: int = 0


def _is_list(criterion: Criterion) -> bool:
    """Whether the criterion's values compile to IN lists (equality on a column)."""
    modifier = criterion.modifier
    if criterion.on_entity:
        return criterion.code == "_id"
    if modifier == "missing" or criterion.type in _LIST_TYPES:
        return True
    if criterion.type == "token":
        return modifier != "text"
    if criterion.type == "string":
        return modifier == "exact"
    if criterion.type == "uri":
        return modifier not in ("below", "above")
    return False


def _add(term: Term, count: ValueCount) -> None:
    if isinstance(term, Criterion):
        count.values += len(term.values)
        if not _is_list(term) and term.modifier not in CONCEPT_MODIFIERS:
            count.ranges += len(term.values)
    elif isinstance(term, ChainCriterion):
        for _, inner in term.branches:  # each candidate target type compiles its own copy
            _add(inner, count)
    elif isinstance(term, HasCriterion):
        _add(term.inner, count)
    elif isinstance(term, ListCriterion):
        count.values += len(term.list_ids)


def count_values(query: SearchQuery) -> ValueCount:
    """The values of every criterion of ``query``, chains and ``_has`` included."""
    count = ValueCount()
    for term in query.criteria:
        _add(term, count)
    return count


def check_value_limits(query: SearchQuery) -> None:
    """Raise TooCostly (400) when ``query`` carries more values than a search may."""
    count = count_values(query)
    if count.values > MAX_VALUES:
        raise TooCostly(
            f"this search has {count.values:,} values; a search may have at most"
            f" {MAX_VALUES:,} (comma-separated values of all its parameters together; a"
            " chain without a :Type counts once per possible target type): split it into"
            " several searches"
        )
    if count.ranges > MAX_RANGE_VALUES:
        raise TooCostly(
            f"this search has {count.ranges:,} prefix, range or text values; a search may"
            f" have at most {MAX_RANGE_VALUES:,} (string, date, number, quantity, :text,"
            " :contains, :below and :above values together): split it into several searches"
        )
