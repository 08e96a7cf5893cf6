"""In-memory search matching: the oracle the SQL compiler is tested against.

``matches(resource, query)`` decides a resource exactly as ``wardbook.storage.search_sql``
does: it extracts the resource's index rows with the same extractor and applies each
criterion's per-type ``matches`` (R4 search.html: criteria AND, values OR). Terms that
look at other resources -- chains (search.html#chaining), ``_has`` (#has), compartments
and ``_list`` -- need a :class:`Universe` of every current resource; so do
:func:`included` (``_include``/``_revinclude``, #include) and :func:`sort_value` (#sort).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from wardbook.search import fulltext
from wardbook.search.compartment import in_compartment
from wardbook.search.extract import (
    CONTAINED_ID,
    contained_param,
    extract_index,
    local_link_scope,
)
from wardbook.search.index import IndexRows, TokenRow
from wardbook.search.params import (
    composite,
    concepts,
    date,
    near,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from wardbook.search.params.date import DateValue, parse_date_range
from wardbook.search.params.token import TokenValue
from wardbook.search.query import (
    ChainCriterion,
    CompartmentCriterion,
    Criterion,
    HasCriterion,
    IncludeSpec,
    ListCriterion,
    SearchQuery,
    SortKey,
    Term,
    follows_into_contained,
)

Key = tuple[str, str]  # (resource type, id)


class Universe:
    """Every current resource with its index rows: what chained terms and includes see."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.rows = [extract_index(r) for r in resources]
        self.by_key: dict[Key, int] = {
            (r["resourceType"], r["id"]): i for i, r in enumerate(resources)
        }
        self._refs = [
            [
                (r.param, (r.target_type, r.target_id))
                for r in rows.reference
                if r.target_type is not None and r.target_id is not None
            ]
            for rows in self.rows
        ]
        self._referrers: dict[Key, list[tuple[int, str]]] = {}
        for i, refs in enumerate(self._refs):
            for param, target in refs:
                self._referrers.setdefault(target, []).append((i, param))

    def get(self, key: Key) -> tuple[dict[str, Any], IndexRows] | None:
        i = self.by_key.get(key)
        return None if i is None else (self.resources[i], self.rows[i])

    def references(self, rows: IndexRows, param: str | None = None) -> list[tuple[str, Key]]:
        """(param, target key) of every local reference row (optionally of one param)."""
        return [
            (r.param, (r.target_type, r.target_id))
            for r in rows.reference
            if r.target_type is not None
            and r.target_id is not None
            and (param is None or r.param == param)
        ]

    def references_of(self, index: int, param: str | None = None) -> list[tuple[str, Key]]:
        """:meth:`references` of the resource at ``index`` (precomputed)."""
        return [(p, k) for p, k in self._refs[index] if param is None or p == param]

    def referring(self, target: Key, source_type: str | None, param: str | None) -> list[int]:
        """Indexes of the resources whose ``param`` reference points at ``target``."""
        found = {
            i
            for i, p in self._referrers.get(target, ())
            if (param is None or p == param)
            and (source_type is None or self.resources[i]["resourceType"] == source_type)
        }
        return sorted(found)


_ROW_LISTS = frozenset(("string", "token", "date", "number", "quantity", "uri", "reference"))


def _rows_of(rows: IndexRows, criterion: Criterion) -> list[Any]:
    if criterion.type == "composite":
        name = composite.index_list(criterion.component_types)
    elif criterion.type in _ROW_LISTS:
        name = criterion.type
    else:
        return []
    code = criterion.code
    if criterion.type == "token" and criterion.modifier == "of-type":
        code += token.OF_TYPE_SUFFIX
    return [r for r in getattr(rows, name) if r.param == code]


def _identifier_rows(rows: IndexRows, code: str) -> list[TokenRow]:
    name = code + reference.IDENTIFIER_SUFFIX
    return [r for r in rows.token if r.param == name]


def _entity_matches(resource: dict[str, Any], criterion: Criterion, now: int) -> bool:
    if criterion.missing is not None:
        return not criterion.missing  # every resource has an id and a lastUpdated
    if criterion.code == "_id":
        rid = resource.get("id")
        found = any(cast(TokenValue, v).code == rid for v in criterion.values)
        return not found if criterion.modifier == "not" else found
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
    if criterion.type == "special" and criterion.code == "near":
        return near.matches(rows.number, cast(list[near.NearValue], list(criterion.values)))
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
        if composite.ordered_type(criterion.component_types) is not None:
            return composite.ordered_matches(found, values, now)
        return composite.matches(found, values)
    return False


def _contained_chain_matches(
    resource: dict[str, Any], rows: IndexRows, term: ChainCriterion, now: int, universe: Universe
) -> bool:
    """The chain's next link inside the contained resources its references point to
    (``#id``; R4 search.html#contained), each checked on its own rows; a further chain
    continues from there to standalone resources."""
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return False
    by_id = {c.get("id"): c for c in contained if isinstance(c, dict)}
    for target_type, inner in term.branches:
        if not follows_into_contained(inner):
            continue
        marker = contained_param(local_link_scope(term.param.code, target_type), CONTAINED_ID)
        for row in rows.token:
            item = by_id.get(row.code) if row.param == marker else None
            if (
                item is not None
                and item.get("resourceType") == target_type
                and term_matches(item, extract_index(item), inner, now, universe)
            ):
                return True
    return False


def term_matches(
    resource: dict[str, Any],
    rows: IndexRows,
    term: Term,
    now: int,
    universe: Universe | None,
) -> bool:
    """Whether one AND term (plain, chained, ``_has``, compartment, ``_list``) holds."""
    if isinstance(term, Criterion):
        return criterion_matches(resource, rows, term, now)
    if universe is None:
        raise ValueError("chains, _has, compartments and _list need a Universe")
    key = (resource["resourceType"], resource["id"])
    if isinstance(term, ChainCriterion):
        branches = dict(term.branches)
        for _, target in universe.references(rows, term.param.code):
            inner = branches.get(target[0])
            found = universe.get(target) if inner is not None else None
            if (
                inner is not None
                and found is not None
                and term_matches(found[0], found[1], inner, now, universe)
            ):
                return True
        return _contained_chain_matches(resource, rows, term, now, universe)
    if isinstance(term, HasCriterion):
        for i in universe.referring(key, term.source_type, term.param.code):
            source, source_rows = universe.resources[i], universe.rows[i]
            if term_matches(source, source_rows, term.inner, now, universe):
                return True
        return False
    if isinstance(term, CompartmentCriterion):
        links = dict(term.links).get(key[0], ())
        owner = (term.compartment, term.owner_id)
        if "{def}" in links and key == owner:
            return True
        return any(p in links and target == owner for p, target in universe.references(rows))
    if isinstance(term, ListCriterion):
        for list_id in term.list_ids:
            found = universe.get(("List", list_id))
            if found is not None and key in {t for _, t in universe.references(found[1], "item")}:
                return True
        return False
    raise TypeError(term)


def matches(
    resource: dict[str, Any],
    query: SearchQuery,
    *,
    rows: IndexRows | None = None,
    universe: Universe | None = None,
) -> bool:
    """Whether ``resource`` is in the result set of ``query`` (paging aside).

    ``rows``: the resource's index rows when already extracted (many queries, one resource).
    ``universe``: every current resource, needed by chained and reverse-chained terms.
    """
    if query.searches_contained:
        plain = replace(query, contained=None, contained_type=None)
        if query.contained == "both" and matches(resource, plain, rows=rows, universe=universe):
            return True
        return bool(contained_matches(resource, plain))
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
    return all(term_matches(resource, rows, c, query.now, universe) for c in query.criteria)


def contained_matches(resource: dict[str, Any], query: SearchQuery) -> list[dict[str, Any]]:
    """The resources contained in ``resource`` that satisfy ``query`` (R4 search.html#contained).

    Each is matched on its own, as a standalone resource of its type would be, so two
    contained resources never combine to satisfy one query. Authorization's compartment
    and limits are the container's business and are not applied here.
    """
    contained = resource.get("contained")
    if not isinstance(contained, list) or query.resource_type is None:
        return []
    plain = replace(query, contained=None, contained_type=None, compartment=None, limits=())
    return [
        item
        for item in contained
        if isinstance(item, dict)
        and item.get("resourceType") == query.resource_type
        and matches(item, plain)
    ]


def _include_targets(spec: IncludeSpec, index: int, universe: Universe) -> list[int]:
    resource = universe.resources[index]
    if spec.source_type is not None and resource["resourceType"] != spec.source_type:
        return []
    out = []
    for _, target in universe.references_of(index, spec.param):
        if spec.target_type is not None and target[0] != spec.target_type:
            continue
        found = universe.by_key.get(target)
        if found is not None:
            out.append(found)
    return out


def _revinclude_sources(spec: IncludeSpec, index: int, universe: Universe) -> list[int]:
    resource = universe.resources[index]
    key = (resource["resourceType"], resource["id"])
    if spec.target_type is not None and key[0] != spec.target_type:
        return []
    return universe.referring(key, spec.source_type, spec.param)


def included(matched: list[int], includes: list[IncludeSpec], universe: Universe) -> set[int]:
    """Indexes of the resources ``_include``/``_revinclude`` add to a page of matches.

    R4 search.html#include: every directive applies to the matches; ``:iterate`` ones also
    to what was included, until nothing new appears. Matches are never included again.
    """
    seen = set(matched)
    out: set[int] = set()
    frontier = list(matched)
    first = True
    while frontier:
        found: set[int] = set()
        for spec in includes:
            if not first and not spec.iterate:
                continue
            follow = _revinclude_sources if spec.reverse else _include_targets
            for index in frontier:
                found.update(follow(spec, index, universe))
        new = found - seen
        seen |= new
        out |= new
        frontier = sorted(new)
        first = False
    return out


def sort_value(rows: IndexRows, resource: dict[str, Any], key: SortKey) -> Any:
    """The value a resource sorts by for one key (None: it has none and sorts last).

    R4 search.html#sort: the lowest value for ascending, the highest for descending; the
    same choices as ``wardbook.storage.search_sql.sort_column``.
    """
    if key.param == "_id":
        return resource["id"]
    if key.param == "_lastUpdated":
        return resource["meta"]["lastUpdated"]
    ptype = key.definition.type if key.definition is not None else ""
    pick = max if key.descending else min
    values: list[Any]
    if key.point is not None:
        return near.sort_value(rows.number, key.point)
    if ptype == "string":
        values = [r.value_norm for r in rows.string if r.param == key.param]
    elif ptype == "token":
        values = [r.code for r in rows.token if r.param == key.param and r.code is not None]
    elif ptype == "date":
        values = [r.high if key.descending else r.low for r in rows.date if r.param == key.param]
    elif ptype == "number":
        values = [r.value for r in rows.number if r.param == key.param]
    elif ptype == "quantity":
        values = [
            r.canonical_value if r.canonical_value is not None else r.value
            for r in rows.quantity
            if r.param == key.param
        ]
    elif ptype == "uri":
        values = [r.uri for r in rows.uri if r.param == key.param]
    elif ptype == "reference":
        values = [
            f"{r.target_type}/{r.target_id}"
            if r.target_type is not None and r.target_id is not None
            else r.url
            for r in rows.reference
            if r.param == key.param
        ]
        values = [v for v in values if v is not None]
    else:
        values = []
    return pick(values) if values else None
