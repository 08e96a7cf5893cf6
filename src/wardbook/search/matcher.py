"""In-memory search matching: the oracle the SQL compiler is tested against.

``matches(resource, query)`` decides a resource exactly as ``wardbook.storage.search_sql``
does: it extracts the resource's index rows with the same extractor and applies each
criterion's per-type ``matches`` (R4 search.html: criteria AND, values OR).
"""

from __future__ import annotations

from typing import Any, cast

from wardbook.search import fulltext
from wardbook.search.compartment import in_compartment
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows, TokenRow
from wardbook.search.params import (
    composite,
    concepts,
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from wardbook.search.params.date import DateValue, parse_date_range
from wardbook.search.params.token import TokenValue
from wardbook.search.query import Criterion, SearchQuery


def _rows_of(rows: IndexRows, criterion: Criterion) -> list[Any]:
    tables: dict[str, list[Any]] = {
        "string": rows.string,
        "token": rows.token,
        "date": rows.date,
        "number": rows.number,
        "quantity": rows.quantity,
        "uri": rows.uri,
        "reference": rows.reference,
        "composite": rows.composite,
    }
    return [r for r in tables.get(criterion.type, ()) if r.param == criterion.code]


def _identifier_rows(rows: IndexRows, code: str) -> list[TokenRow]:
    name = code + reference.IDENTIFIER_SUFFIX
    return [r for r in rows.token if r.param == name]


def _entity_matches(resource: dict[str, Any], criterion: Criterion, now: int) -> bool:
    if criterion.code == "_id":
        rid = resource.get("id")
        return any(cast(TokenValue, v).code == rid for v in criterion.values)
    meta = resource.get("meta")
    stamp = meta.get("lastUpdated") if isinstance(meta, dict) else None
    bounds = parse_date_range(stamp) if isinstance(stamp, str) else None
    if bounds is None:
        return False
    # An instant is a point: [t, t + 1µs), as stored on the entity table.
    low = bounds[0]
    return any(date.range_matches(low, low + 1, cast(DateValue, v), now) for v in criterion.values)


def criterion_matches(
    resource: dict[str, Any], rows: IndexRows, criterion: Criterion, now: int
) -> bool:
    """Whether one AND term holds for a resource whose index rows are ``rows``."""
    if criterion.on_entity:
        return _entity_matches(resource, criterion, now)
    if criterion.code in fulltext.PARAMS:
        mine = [r for r in rows.text if r.param == criterion.code]
        return fulltext.matches(mine, cast(list[fulltext.FullTextValue], list(criterion.values)))
    found = _rows_of(rows, criterion)
    missing = criterion.missing
    if missing is not None:
        present = bool(found) or bool(
            criterion.type == "reference" and _identifier_rows(rows, criterion.code)
        )
        if any(getattr(v, "missing", None) is True for v in criterion.values) and any(
            getattr(v, "missing", None) is False for v in criterion.values
        ):
            return True
        return present != missing
    values: list[Any] = list(criterion.values)
    ptype = criterion.type
    if ptype == "token":
        if criterion.modifier in concepts.MODIFIERS:
            return concepts.matches(found, values, criterion.modifier)
        return token.matches(found, values, criterion.modifier)
    if ptype == "string":
        return string.matches(found, values, criterion.modifier)
    if ptype == "date":
        return any(date.matches(found, v, now) for v in values)
    if ptype == "number":
        return number.matches(found, values)
    if ptype == "quantity":
        return quantity.matches(found, values)
    if ptype == "uri":
        return uri.matches(found, values, criterion.modifier)
    if ptype == "reference":
        return reference.matches(found, _identifier_rows(rows, criterion.code), values)
    if ptype == "composite":
        return composite.matches(found, values)
    return False


def matches(resource: dict[str, Any], query: SearchQuery, *, rows: IndexRows | None = None) -> bool:
    """Whether ``resource`` is in the result set of ``query`` (paging aside).

    ``rows``: the resource's index rows when already extracted (many queries, one resource).
    """
    rtype = resource.get("resourceType")
    if query.resource_type is not None and rtype != query.resource_type:
        return False
    if query.types and rtype not in query.types:
        return False
    if not query.criteria and query.compartment is None:
        return True
    if rows is None:
        rows = extract_index(resource)
    if query.compartment is not None and not in_compartment(
        resource, query.compartment[0], query.compartment[1], rows=rows
    ):
        return False
    return all(criterion_matches(resource, rows, c, query.now) for c in query.criteria)
