"""Compile a SearchQuery to SQL over the idx_* tables and run it (both dialects).

One statement finds the page's ids: every AND criterion is an ``e.pid [NOT] IN (SELECT
i.pid FROM idx_<type> i WHERE i.res_type = ? AND i.param = ? AND (<OR of values>))``
subquery (HAPI's layout, R4 search.html: parameters AND, comma values OR), ordered by the
sort keys then ``pid`` so the order is total and stable; keyset paging continues after the
last row of the previous page (the opaque ``_cursor``); ``count + 1`` rows are fetched so
a next cursor is given only when another page exists. A second statement fetches the
current bodies of exactly those ids; a third counts the matches when a total is wanted and
cannot be inferred from the page. Deleted resources never match.

Only ``?`` placeholders are emitted (the PostgreSQL runner renumbers them), never a literal
``?`` nor an interpolated value. Text columns are binary-collated on both backends (SQLite
BINARY, PostgreSQL ``COLLATE "C"``), so prefix searches are index range scans.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, cast

from wardbook.errors import BadRequest, TooCostly
from wardbook.fhir import registry
from wardbook.search.extract import CONTAINED_ID, contained_param, local_link_scope
from wardbook.search.fulltext import PARAMS as FULLTEXT_PARAMS
from wardbook.search.params import composite as composite_param
from wardbook.search.params import reference as reference_param
from wardbook.search.params import token as token_param
from wardbook.search.params.composite import CompositeValue
from wardbook.search.params.concepts import MODIFIERS as CONCEPT_MODIFIERS
from wardbook.search.params.concepts import NEGATED as NEGATED_CONCEPTS
from wardbook.search.params.date import DateValue, approximate
from wardbook.search.params.number import NumberValue, approximate_bounds
from wardbook.search.params.prefix import Prefix
from wardbook.search.params.quantity import QuantityValue
from wardbook.search.params.reference import ReferenceValue
from wardbook.search.params.string import StringValue
from wardbook.search.params.token import TokenValue
from wardbook.search.params.uri import UriValue
from wardbook.search.query import (
    ChainCriterion,
    CompartmentCriterion,
    Criterion,
    HasCriterion,
    IncludeSpec,
    ListCriterion,
    Reach,
    SearchQuery,
    SortKey,
    Term,
    follows_into_contained,
)
from wardbook.storage.base import Dialect, Page, SqlRunner, StoredResource
from wardbook.storage.compartment_scope_sql import reach_sql
from wardbook.storage.search_concepts import concept_sql
from wardbook.storage.search_fulltext import fulltext_sql
from wardbook.storage.search_near import distance_sort_sql, near_sql
from wardbook.storage.value_lists import Equality, any_of
from wardbook.storage.version_rows import stored_from_row, version_columns

Reaches = tuple[Reach, ...]

_BODY = {Dialect.SQLITE: "CAST(v.body AS BLOB)", Dialect.POSTGRES: "v.body"}
_SORT_COLUMNS = {"_lastUpdated": "e.last_updated", "_id": "e.res_id"}
_TABLES = {
    "string": "idx_string",
    "token": "idx_token",  # a table name, not a password  # nosec B105
    "date": "idx_date",
    "number": "idx_number",
    "quantity": "idx_quantity",
    "uri": "idx_uri",
    "reference": "idx_reference",
    "composite": "idx_composite",
}


@dataclass(slots=True)
class Sql:
    """A SQL fragment and its parameters, in placeholder order.

    ``correlated``: the same predicate as a correlated ``EXISTS`` probe of one resource's
    index rows (set on index-table membership tests, see :func:`_in`).
    """

    text: str
    params: list[Any] = field(default_factory=list)
    correlated: Sql | None = None
    # The plain index-row subquery of an ``e.pid IN (...)`` membership (see :func:`_in`),
    # for :func:`paired_lists`; None on anything composed.
    subquery: Subquery | None = None


@dataclass(frozen=True, slots=True)
class Subquery:
    """``SELECT <column> FROM <source> WHERE <where>``: index rows naming a resource's pid."""

    column: str
    source: str
    where: Sql
    # ``where`` without its resource-type test, for the correlated probe: the candidate's
    # pid fixes its type, and leaving the test out lets ``idx_*_pid (pid, param)`` find
    # the one parameter's rows of the candidate (migration 0017).
    probe_where: Sql | None = None

    def select(self) -> Sql:
        """The subquery's text and parameters."""
        # internal identifiers, values bound:
        text = f"SELECT {self.column} FROM {self.source} WHERE {self.where.text}"  # nosec B608
        return Sql(text, self.where.params)

    def probe(self, outer: str, negate: bool = False, typed: bool = False) -> Sql:
        """``[NOT] EXISTS``: does the resource whose pid is ``outer`` have such a row?

        ``typed`` keeps the resource-type test (see ``where_sql``)."""
        where = self.where if typed else (self.probe_where or self.where)
        exists = "NOT EXISTS" if negate else "EXISTS"
        # internal identifiers, values bound:
        text = f"{exists} (SELECT 1 FROM {self.source} WHERE {self.column} = {outer}"  # nosec B608
        return Sql(f"{text} AND {where.text})", where.params)


# Terms per flat OR: SQLite parses ``a OR b OR c`` left-deep, one level of its expression
# tree (at most 1,000 deep) per term, so longer ORs are nested groups of this many.
_OR_FANOUT = 32


def _or(parts: Sequence[Sql]) -> Sql:
    """The OR of ``parts``, nested in groups of ``_OR_FANOUT`` (depth ~ log of the count)."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) > _OR_FANOUT:
        groups = [parts[i : i + _OR_FANOUT] for i in range(0, len(parts), _OR_FANOUT)]
        return _or([_or(group) for group in groups])
    correlated = None
    if all(p.correlated is not None for p in parts):
        correlated = _or([cast(Sql, p.correlated) for p in parts])
    return Sql(
        "(" + " OR ".join(p.text for p in parts) + ")",
        [x for p in parts for x in p.params],
        correlated,
    )


def _not(sql: Sql) -> Sql:
    correlated = None if sql.correlated is None else _not(sql.correlated)
    return Sql(f"NOT {sql.text}", sql.params, correlated)


def _and(parts: Sequence[Sql]) -> Sql:
    return Sql(" AND ".join(p.text for p in parts), [x for p in parts for x in p.params])


# --- per-type value predicates on alias i ---------------------------------------------------


def _next_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    nxt = last + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded; skip past them
        nxt = 0xE000
    return prefix[:-1] + chr(nxt)


def prefix_sql(column: str, prefix: str) -> Sql:
    """``column`` starts with ``prefix``, as an index range scan (binary collation)."""
    upper = _next_prefix(prefix)
    if upper is None:
        return Sql(f"substr({column}, 1, ?) = ?", [len(prefix), prefix])
    return Sql(f"({column} >= ? AND {column} < ?)", [prefix, upper])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def token_sql(value: TokenValue, modifier: str | None) -> Sql | Equality:
    """R4 search.html#token: code, system|code, |code, system| and :text."""
    if modifier == "text":
        return prefix_sql("i.text", value.text)
    if value.any_system:
        return Equality("i.code", value.code)
    if value.system is None:
        return Equality("i.code", value.code, "i.system IS NULL")
    if value.code is None:
        return Equality("i.system", value.system)
    return Equality("i.code", value.code, "i.system = ?", (value.system,))


def string_sql(value: StringValue, modifier: str | None) -> Sql | Equality:
    """R4 search.html#string: normalized prefix, :exact, :contains."""
    if modifier == "exact":
        return Equality("i.value_exact", value.text)
    if modifier == "contains":
        return Sql("i.value_norm LIKE ? ESCAPE '\\'", [f"%{_like_escape(value.norm)}%"])
    return prefix_sql("i.value_norm", value.norm)


def date_sql(low: str, high: str, value: DateValue, now: int) -> Sql:
    """R4 search.html#prefix on ranges [low, high); see wardbook.search.params.date."""
    sl, sh = value.low, value.high
    contains = f"({low} >= ? AND {high} <= ?)"
    prefix = value.prefix
    if prefix == "eq":
        # Every stored range has low <= high, so high <= sh implies low <= sh: saying so
        # bounds the index range on low from both sides (without it, birthdate=1970-05-12
        # read every birthdate after that day -- a cost that grew with the database).
        return Sql(f"({low} >= ? AND {low} <= ? AND {high} <= ?)", [sl, sh, sh])
    if prefix == "ne":
        return Sql(f"NOT {contains}", [sl, sh])
    if prefix == "gt":
        return Sql(f"{high} > ?", [sh])
    if prefix == "lt":
        return Sql(f"{low} < ?", [sl])
    if prefix == "ge":
        return Sql(f"({high} > ? OR {contains})", [sh, sl, sh])
    if prefix == "le":
        # Both alternatives imply low <= sh (low <= high): an upper bound on low.
        return Sql(f"({low} <= ? AND ({low} < ? OR {contains}))", [sh, sl, sl, sh])
    if prefix == "sa":
        return Sql(f"{low} >= ?", [sh])
    if prefix == "eb":
        return Sql(f"{high} <= ?", [sl])
    al, ah = approximate(value, now)
    return Sql(f"({low} < ? AND {high} > ?)", [ah, al])


def point_sql(column: str, prefix: Prefix, value: float, low: float, high: float) -> Sql:
    """A stored point against a search value with precision range [low, high)."""
    if prefix == "eq":
        return Sql(f"({column} >= ? AND {column} < ?)", [low, high])
    if prefix == "ne":
        return Sql(f"NOT ({column} >= ? AND {column} < ?)", [low, high])
    if prefix == "gt":
        return Sql(f"{column} > ?", [value])
    if prefix == "lt":
        return Sql(f"{column} < ?", [value])
    if prefix == "ge":
        return Sql(f"{column} >= ?", [value])
    if prefix == "le":
        return Sql(f"{column} <= ?", [value])
    if prefix == "sa":
        return Sql(f"{column} >= ?", [high])
    if prefix == "eb":
        return Sql(f"{column} < ?", [low])
    lo, hi = approximate_bounds(value, low, high)
    return Sql(f"({column} >= ? AND {column} <= ?)", [lo, hi])


def number_sql(value: NumberValue) -> Sql:
    """R4 search.html#number."""
    return point_sql("i.value", value.prefix, value.value, value.low, value.high)


def quantity_sql(value: QuantityValue) -> Sql:
    """R4 search.html#quantity, with UCUM-canonical matching when the unit converts."""
    point = point_sql("i.value", value.prefix, value.value, value.low, value.high)
    if value.code is None:
        return point
    if value.system is None:
        unit = Sql("(i.code = ? OR i.unit = ?)", [value.code, value.code])
    else:
        unit = Sql("i.system = ? AND i.code = ?", [value.system, value.code])
    parts = [Sql(f"({unit.text} AND {point.text})", unit.params + point.params)]
    c = value.canonical
    if c is not None:
        canon = point_sql("i.canonical_value", value.prefix, c.value, c.low, c.high)
        parts.append(Sql(f"(i.canonical_code = ? AND {canon.text})", [c.code, *canon.params]))
    return _or(parts)


def uri_sql(value: UriValue, modifier: str | None) -> Sql | Equality:
    """R4 search.html#uri: exact, :below (stored starts with value), :above (the reverse)."""
    if modifier == "below":
        return prefix_sql("i.uri", value.uri)
    if modifier == "above":
        return Sql("substr(CAST(? AS TEXT), 1, length(i.uri)) = i.uri", [value.uri])
    return Equality("i.uri", value.uri)


def reference_sql(value: ReferenceValue) -> Equality:
    """R4 search.html#reference: Type/id, id, absolute or canonical url[|version]."""
    if value.url is not None:
        if value.version is not None:
            return Equality("i.url", value.url, "i.target_version = ?", (value.version,))
        return Equality("i.url", value.url)
    fixed = [
        (f"{column} = ?", v)
        for column, v in (("i.target_type", value.target_type), ("i.target_version", value.version))
        if v is not None
    ]
    return Equality(
        "i.target_id",
        value.target_id,
        " AND ".join(text for text, _ in fixed),
        tuple(v for _, v in fixed),
    )


def composite_sql(values: Sequence[CompositeValue], now: int) -> Sql:
    """R4 search.html#composite: exact component keys, and the ordered last component's
    value compared as its own parameter type compares it (the same row: same element)."""
    exact = list(dict.fromkeys(v.key for v in values if v.last is None))
    parts = []
    if exact:
        parts.append(Sql(f"i.key IN ({', '.join('?' * len(exact))})", exact))
    for v in values:
        last = v.last
        if last is None:
            continue
        if isinstance(last, QuantityValue):
            compared = quantity_sql(last)
        elif isinstance(last, NumberValue):
            compared = number_sql(last)
        else:
            compared = date_sql("i.low", "i.high", last, now)
        parts.append(Sql(f"(i.key = ? AND {compared.text})", [v.key, *compared.params]))
    return _or(parts)


# --- criteria -----------------------------------------------------------------------------------


# R4 search.html#contained: the scope ``#Medication`` compiles a criterion against the rows
# of contained Medications (``Medication#<param>``, stored on their container's pid).
CONTAINED_SCOPE = "#"
# "#Container|param>Type": the rows a chain reads inside contained resources (_contained_link)
_LINK_SCOPE = "|"


def contained_scope(resource_type: str) -> str:
    """The ``resource_type`` argument that makes criteria read contained resources' rows."""
    return CONTAINED_SCOPE + resource_type


@cache
def _container_types() -> tuple[str, ...]:
    """Every type that can hold contained resources: the leading ``res_type`` column of the
    idx_* indexes stays an index lookup (one seek per type) instead of a table scan."""
    return tuple(sorted(registry.resource_types()))


def _subquery(table: str, resource_type: str | None, param: str, where: Sql | None) -> Subquery:
    text = ""
    params: list[Any] = []
    if resource_type is not None and resource_type.startswith(CONTAINED_SCOPE):
        container, linked, prefix = resource_type[1:].partition(_LINK_SCOPE)
        if linked:  # rows of the contained resources a reference of `container` points to
            text += "i.res_type = ? AND "
            params.append(container)
            param = contained_param(prefix, param)
        else:
            types = _container_types()
            text += f"i.res_type IN ({', '.join('?' * len(types))}) AND "
            params.extend(types)
            param = contained_param(container, param)
    elif resource_type is not None:
        text += "i.res_type = ? AND "
        params.append(resource_type)
    tail = "i.param = ?"
    tail_params: list[Any] = [param]
    if where is not None:
        tail += f" AND {where.text}"
        tail_params.extend(where.params)
    return Subquery(
        "i.pid", f"{table} i", Sql(text + tail, params + tail_params), Sql(tail, tail_params)
    )


def _in(subquery: Subquery, negate: bool = False) -> Sql:
    """``e.pid [NOT] IN (subquery)``, with its correlated ``[NOT] EXISTS`` twin.

    As ``IN`` the subquery's rows drive the search (one index range, then the entity by
    primary key); as ``EXISTS`` it tests one candidate through the table's ``pid`` index.
    :func:`where_sql` lets the most selective criterion drive and probes the others, so
    the cost follows the smallest criterion, not the largest (R4 search.html: criteria
    AND; the result is the same either way).
    """
    sub = subquery.select()
    return Sql(
        f"e.pid {'NOT IN' if negate else 'IN'} ({sub.text})",
        sub.params,
        subquery.probe("e.pid", negate),
        None if negate else subquery,
    )


def _values_sql(criterion: Criterion, now: int) -> Sql:
    values: list[Any] = list(criterion.values)
    ptype = criterion.type
    modifier = criterion.modifier
    if ptype == "token":
        if modifier in CONCEPT_MODIFIERS:
            return _or([concept_sql(v) for v in values])
        return any_of([token_sql(v, modifier) for v in values])
    if ptype == "string":
        return any_of([string_sql(v, modifier) for v in values])
    if ptype == "date":
        return _or([date_sql("i.low", "i.high", v, now) for v in values])
    if ptype == "number":
        return _or([number_sql(v) for v in values])
    if ptype == "quantity":
        return _or([quantity_sql(v) for v in values])
    if ptype == "uri":
        return any_of([uri_sql(v, modifier) for v in values])
    if ptype == "reference":
        return any_of([reference_sql(v) for v in values])
    if ptype == "composite":
        return composite_sql(values, now)
    raise BadRequest(f"search parameter type {ptype} is not supported")


def _entity_sql(criterion: Criterion, now: int) -> Sql | None:
    if criterion.missing is not None:
        # Every resource has an id and a lastUpdated: none is missing them.
        return Sql("1 = 0") if criterion.missing else None
    if criterion.code == "_id":
        ids = list(dict.fromkeys(cast(TokenValue, v).code for v in criterion.values))
        test = "NOT IN" if criterion.modifier == "not" else "IN"
        return Sql(f"e.res_id {test} ({', '.join('?' * len(ids))})", ids)
    # _lastUpdated: an instant, i.e. the one-microsecond range [t, t + 1).
    return _or(
        [
            date_sql("e.last_updated", "(e.last_updated + 1)", cast(DateValue, v), now)
            for v in criterion.values
        ]
    )


def criterion_sql(criterion: Criterion, resource_type: str | None, now: int) -> Sql | None:
    """The predicate on ``e`` for one AND term (None when it holds for every resource)."""
    if criterion.on_entity:
        if resource_type is not None and resource_type.startswith(CONTAINED_SCOPE):
            if criterion.code != "_id" or criterion.modifier is not None:
                raise BadRequest(f"{criterion.key()} does not apply to contained resources")
            ids = list(dict.fromkeys(cast(TokenValue, v).code for v in criterion.values))
            where = Sql(f"i.code IN ({', '.join('?' * len(ids))})", ids)
            return _in(_subquery("idx_token", resource_type, CONTAINED_ID, where))
        return _entity_sql(criterion, now)
    if criterion.code in FULLTEXT_PARAMS:
        return fulltext_sql(criterion, resource_type)
    if criterion.type == "special" and criterion.code == "near":
        return near_sql(criterion, resource_type)
    table = _TABLES[criterion.type]
    if criterion.type == "composite":
        table = "idx_" + composite_param.index_list(criterion.component_types)
    code = criterion.code
    missing = criterion.missing
    if missing is not None:
        flags = {getattr(v, "missing", None) for v in criterion.values}
        if flags >= {True, False}:
            return None
        present = [_in(_subquery(table, resource_type, code, None))]
        if criterion.type == "reference":
            ident = code + reference_param.IDENTIFIER_SUFFIX
            present.append(_in(_subquery("idx_token", resource_type, ident, None)))
        found = _or(present)
        return _not(found) if missing else found
    if criterion.type == "reference":
        plain = [v for v in criterion.values if isinstance(v, ReferenceValue) and not v.identifier]
        idents = [v.identifier for v in criterion.values if isinstance(v, ReferenceValue)]
        parts: list[Sql] = []
        if plain:
            where = any_of([reference_sql(v) for v in plain])
            parts.append(_in(_subquery(table, resource_type, code, where)))
        tokens = [t for t in idents if t is not None]
        if tokens:
            where = any_of([token_sql(t, None) for t in tokens])
            ident = code + reference_param.IDENTIFIER_SUFFIX
            parts.append(_in(_subquery("idx_token", resource_type, ident, where)))
        return _or(parts)
    where = _values_sql(criterion, now)
    negate = criterion.type == "token" and criterion.modifier in ("not", *NEGATED_CONCEPTS)
    if criterion.type == "token" and criterion.modifier == "of-type":
        code += token_param.OF_TYPE_SUFFIX  # rows of the identifier's type and value
    return _in(_subquery(table, resource_type, code, where), negate)


def _matching_ids(
    resource_type: str, term: Term, now: int, column: str, reaches: Reaches = ()
) -> Sql:
    """SELECT ``column`` of the current ``resource_type`` resources satisfying ``term``.

    The subquery re-binds the alias ``e`` to the inner resource, so ``term`` compiles
    exactly as it would at the top level (SQL scoping picks the innermost ``e``). The
    authorization's ``reaches`` bound the inner resources too: a chain or ``_has`` never
    looks at a resource the searcher could not see.
    """
    parts = [Sql("e.res_type = ?", [resource_type]), Sql("NOT e.deleted")]
    inner = term_sql(term, resource_type, now, reaches)
    if inner is not None:
        parts.append(inner)
    parts += [reach_sql(reach, resource_type, []) for reach in reaches]
    where = _and(parts)
    # internal identifiers, values bound:
    return Sql(f"SELECT {column} FROM resource_entity e WHERE {where.text}", where.params)  # nosec B608


def chain_sql(
    term: ChainCriterion, resource_type: str | None, now: int, reaches: Reaches = ()
) -> Sql:
    """R4 search.html#chaining: a reference whose target satisfies the rest of the chain.

    ``e.pid IN (SELECT i.pid FROM idx_reference i WHERE ... AND i.target_type = T AND
    i.target_id IN (SELECT e.res_id FROM resource_entity e WHERE <rest on T>))``: one
    nested subquery per link, answered from idx_reference_target; never a query per row.
    Several candidate target types are a ``UNION ALL`` of one such select each (an OR
    of them would hide the selective inner criterion from PostgreSQL's planner, which
    then read every reference of the parameter); as a correlated probe they are ORed.
    """
    branches: list[Sql] = []
    for target_type, inner in term.branches:
        ids = _matching_ids(target_type, inner, now, "e.res_id", reaches)
        branches.append(
            Sql(
                f"(i.target_type = ? AND i.target_id IN ({ids.text}))",
                [target_type, *ids.params],
            )
        )
    code = term.param.code
    membership = _in(_subquery("idx_reference", resource_type, code, _or(branches)))
    selects = [_subquery("idx_reference", resource_type, code, b).select() for b in branches]
    probes = [cast(Sql, membership.correlated)]
    if resource_type is not None and not resource_type.startswith(CONTAINED_SCOPE):
        for target_type, inner in term.branches:
            if follows_into_contained(inner):
                link = _contained_link(resource_type, code, target_type, inner, now, reaches)
                selects.append(link.select)
                probes.append(link.probe)
    if len(selects) == 1:
        return membership
    union = " UNION ALL ".join(s.text for s in selects)
    return Sql(f"e.pid IN ({union})", [x for s in selects for x in s.params], _or(probes))


@dataclass(frozen=True, slots=True)
class _Link:
    select: Sql  # SELECT of the containers' pids
    probe: Sql  # the same test of one candidate ``e``


def _contained_link(
    container: str,
    code: str,
    target_type: str,
    inner: Criterion | ChainCriterion,
    now: int,
    reaches: Reaches = (),
) -> _Link:
    """A chain's link evaluated inside the contained ``target_type`` resources that
    ``container``'s ``code`` references point to (``#id``): their rows, stored on the
    container under :func:`~wardbook.search.extract.local_link_scope`, satisfy ``inner``
    (:func:`~wardbook.search.query.follows_into_contained`) -- a criterion, or a further
    chain from the contained resource's own references to standalone resources
    (``MedicationRequest?medication.manufacturer.name=X`` through a contained Medication)."""
    scope = f"{CONTAINED_SCOPE}{container}{_LINK_SCOPE}{local_link_scope(code, target_type)}"
    test: Sql | None
    if isinstance(inner, ChainCriterion):
        test = chain_sql(inner, scope, now, reaches)
    else:
        test = criterion_sql(inner, scope, now)
    if test is None:  # holds for any resource: the link itself is the test
        test = _in(_subquery("idx_token", scope, CONTAINED_ID, None))
    # internal identifiers, values bound:
    select = Sql(f"SELECT e.pid FROM resource_entity e WHERE {test.text}", test.params)  # nosec B608
    return _Link(select, test.correlated or test)


def has_sql(term: HasCriterion, resource_type: str | None, now: int, reaches: Reaches = ()) -> Sql:
    """R4 search.html#has: some ``source_type`` resource referring here satisfies ``inner``."""
    sources = _matching_ids(term.source_type, term.inner, now, "e.pid", reaches)
    base = (
        f"FROM idx_reference i WHERE i.res_type = ? AND i.param = ? AND i.pid IN ({sources.text})"
    )
    params = [term.source_type, term.param.code, *sources.params]
    if resource_type is not None:
        return Sql(
            f"e.res_id IN (SELECT i.target_id {base} AND i.target_type = ?)",
            [*params, resource_type],
            _has_probe(term, resource_type, now, reaches),
        )
    return Sql(
        f"EXISTS (SELECT 1 {base} AND i.target_type = e.res_type AND i.target_id = e.res_id)",
        params,
    )


def _has_probe(term: HasCriterion, resource_type: str, now: int, reaches: Reaches) -> Sql:
    """The correlated twin of :func:`has_sql`: does a source refer to *this* candidate?

    One seek of idx_reference_target per candidate (its type and id), then the source's
    own criteria as probes of that one source. The ``IN`` form lists every source that
    satisfies the inner criterion first -- all Conditions with a common code -- a cost
    that grows with the database even when another criterion (an identifier) has already
    narrowed the search to one patient.
    """
    inner = term_sql(term.inner, term.source_type, now, reaches)
    parts = [Sql("e.pid = i.pid"), Sql("e.res_type = ?", [term.source_type]), Sql("NOT e.deleted")]
    if inner is not None:
        parts.append(inner.correlated if inner.correlated is not None else inner)
    parts += [reach_sql(reach, term.source_type, []) for reach in reaches]
    source = _and(parts)
    return Sql(
        # internal identifiers, values bound; the inner ``e`` is the source resource:
        "EXISTS (SELECT 1 FROM idx_reference i WHERE i.res_type = ? AND i.param = ?"  # nosec B608
        " AND i.target_type = ? AND i.target_id = e.res_id"
        f" AND EXISTS (SELECT 1 FROM resource_entity e WHERE {source.text}))",
        [term.source_type, term.param.code, resource_type, *source.params],
    )


def compartment_term_sql(term: CompartmentCriterion, resource_type: str | None) -> Sql:
    """R4 search.html#compartments: a linking parameter refers to the compartment owner.

    One lookup on idx_reference_any_source (target type, id), filtered by the member
    types' linking parameters; ``{def}`` (the owner itself) matches on the entity.
    """
    links = [(t, p) for t, p in term.links if resource_type is None or t == resource_type]
    alternatives: list[Sql] = []
    for member_type, params in links:
        codes = [p for p in params if p != "{def}"]
        if codes:
            alternatives.append(
                Sql(
                    f"(i.res_type = ? AND i.param IN ({', '.join('?' * len(codes))}))",
                    [member_type, *codes],
                )
            )
    parts: list[Sql] = []
    if alternatives:
        where = _or(alternatives)
        parts.append(
            Sql(
                # internal identifiers, values bound:
                "e.pid IN (SELECT i.pid FROM idx_reference i WHERE i.target_type = ?"  # nosec B608
                f" AND i.target_id = ? AND {where.text})",
                [term.compartment, term.owner_id, *where.params],
            )
        )
    if any("{def}" in params for _, params in links):
        parts.append(Sql("(e.res_type = ? AND e.res_id = ?)", [term.compartment, term.owner_id]))
    if not parts:
        return Sql("1 = 0")
    return _or(parts)


def list_sql(term: ListCriterion) -> Sql:
    """R4 search.html#list: resources an ``entry.item`` of one of the Lists refers to."""
    ids = list(dict.fromkeys(term.list_ids))
    placeholders = ", ".join("?" * len(ids))
    return Sql(
        # internal identifiers, values bound:
        "EXISTS (SELECT 1 FROM idx_reference i JOIN resource_entity l ON l.pid = i.pid"  # nosec B608
        " WHERE i.res_type = 'List' AND i.param = 'item' AND l.res_type = 'List'"
        f" AND l.res_id IN ({placeholders}) AND NOT l.deleted"
        " AND i.target_type = e.res_type AND i.target_id = e.res_id)",
        ids,
    )


def term_sql(term: Term, resource_type: str | None, now: int, reaches: Reaches = ()) -> Sql | None:
    """The predicate on ``e`` for any AND term (None when it holds for every resource)."""
    if isinstance(term, Criterion):
        return criterion_sql(term, resource_type, now)
    if isinstance(term, ChainCriterion):
        return chain_sql(term, resource_type, now, reaches)
    if isinstance(term, HasCriterion):
        return has_sql(term, resource_type, now, reaches)
    if isinstance(term, CompartmentCriterion):
        return compartment_term_sql(term, resource_type)
    return list_sql(term)


# How many rows a criterion of each kind typically selects, smallest first: the first
# criterion of the lowest rank drives the search (see :func:`driving_rank`).
_TYPE_RANK = {
    "reference": 2,
    "token": 4,  # a parameter type, not a password  # nosec B105
    "composite": 4,
    "string": 6,
    "uri": 6,
    "special": 7,
    "number": 8,
    "quantity": 8,
    "date": 9,
}
_MANY_ROWS = 10


def driving_rank(term: Term) -> int | None:
    """How selective a term usually is (lower: fewer rows); None if it cannot drive.

    Without statistics (SQLite has none unless ANALYZEd) the compiler picks the driver
    itself: ``_id`` and compartment membership name one resource or one owner; references
    name a target; a chain ends in its own criterion (an identifier, a name) and follows
    references; tokens and composites name a code, which common codes (LOINC vital signs)
    share across every patient; ``_has`` keeps whatever its sources refer to; dates and
    quantities are ranges. ``:missing=false``, ``:contains`` and value-set expansions
    select many rows and drive only when nothing else can; negations never do.
    """
    if isinstance(term, CompartmentCriterion):
        return 1
    if isinstance(term, ChainCriterion):
        return 3
    if isinstance(term, HasCriterion):
        return 5
    if isinstance(term, ListCriterion):
        return None
    if term.on_entity:
        return 0 if term.code == "_id" and term.modifier is None else None
    if term.code in FULLTEXT_PARAMS:
        return 6
    if _negated(term):
        return None  # NOT IN / NOT EXISTS: nothing to drive from
    if term.missing is False or term.modifier in ("contains", *CONCEPT_MODIFIERS):
        return _MANY_ROWS
    if term.type == "token" and term.modifier == "text":
        return 7
    return _TYPE_RANK.get(term.type)


def plan_sensitive(query: SearchQuery) -> bool:
    """Whether the query's plan depends on which criterion drives (several, or linked).

    PostgreSQL plans such searches for their actual values (see
    ``wardbook.storage.postgres.deadline``).
    """
    linked = any(isinstance(t, (ChainCriterion, HasCriterion)) for t in query.criteria)
    return linked or len(query.criteria) + len(query.reaches()) > 1


def where_sql(query: SearchQuery, dialect: Dialect | None = None, driver: int | None = None) -> Sql:
    """The WHERE clause on ``resource_entity e`` selecting every match (no paging).

    The most selective criterion (:func:`driving_rank`) is an ``e.pid IN (...)`` whose
    rows drive the search; every other index criterion is a correlated ``EXISTS`` probe
    of each candidate's rows (through the ``idx_*_pid`` indexes). Written as ``IN`` each,
    SQLite would build every criterion's full pid list -- all Observations with a common
    code, every date after 2020 -- before intersecting, a cost that grows with the
    database rather than with the answer. PostgreSQL plans both forms as semi-joins.

    ``_contained=true`` (R4 search.html#contained) selects the *containers* of a matching
    contained resource: the same criteria read the contained resources' rows
    (:func:`contained_scope`); ``both`` ORs that with the ordinary search.

    ``dialect``: on SQLite, string criteria of the driver's rank are intersected with the
    driving list (:func:`paired_lists`); other dialects, or none given, get the plain form.
    ``driver``: the position in ``query.criteria`` of the criterion that drives, when the
    data chose it (:func:`choose_driver`); by default the lowest :func:`driving_rank`.
    On PostgreSQL the probes keep their ``res_type`` test: its planner reorders the
    semi-joins by its estimates (extended statistics, migration 0019), and a probe that
    names the type can then drive from ``idx_*_value``/``idx_token_code`` instead.
    """
    if query.searches_contained and query.resource_type is not None:
        contained = _contained_where(query, contained_scope(query.resource_type))
        if query.contained == "true":
            return contained
        return _or([_where(query), contained])
    return _where(
        query, pair=dialect is Dialect.SQLITE, driver=driver, typed=dialect is Dialect.POSTGRES
    )


def _where(
    query: SearchQuery, pair: bool = False, driver: int | None = None, typed: bool = False
) -> Sql:
    parts = [Sql("NOT e.deleted")]
    if query.resource_type is not None:
        parts.insert(0, Sql("e.res_type = ?", [query.resource_type]))
    elif query.types:
        types = list(dict.fromkeys(query.types))
        parts.append(Sql(f"e.res_type IN ({', '.join('?' * len(types))})", types))
    reaches = query.reaches()
    parts += _criteria_parts(query, query.resource_type, reaches, pair, driver, typed)
    parts += [reach_sql(reach, query.resource_type, query.types) for reach in reaches]
    return _and(parts)


def _contained_where(query: SearchQuery, scope: str) -> Sql:
    """Containers (of any type) holding a ``query.resource_type`` that satisfies every
    criterion. The access limits apply to the container, whatever its type."""
    reaches = query.reaches()
    # A negation holds per contained resource, not per container: a container whose one
    # Medication has the code may hold another that has not. Negations are left to the
    # per-resource check after the page is read (ResourceService.contained_page).
    positive = [t for t in query.criteria if not _negated(t)]
    criteria = _criteria_parts(replace(query, criteria=positive), scope, reaches)
    holds = _in(_subquery("idx_token", scope, CONTAINED_ID, None))
    # Without a driving criterion (none, or only negations) the marker rows -- one per
    # contained resource of the type -- drive; otherwise they are one more probe.
    driven = any(driving_rank(term) is not None for term in positive)
    parts = [Sql("NOT e.deleted"), cast(Sql, holds.correlated) if driven else holds]
    parts += criteria
    parts += [reach_sql(reach, None, []) for reach in reaches]
    return _and(parts)


def _negated(term: Term) -> bool:
    """``:not``, ``:not-in``, ``:missing=true``: true of a resource for lack of rows."""
    return isinstance(term, Criterion) and (
        term.missing is True or term.modifier in ("not", *NEGATED_CONCEPTS)
    )


def _criteria_parts(
    query: SearchQuery,
    resource_type: str | None,
    reaches: Reaches,
    pair: bool = False,
    chosen: int | None = None,
    typed: bool = False,
) -> list[Sql]:
    ranks = [driving_rank(term) for term in query.criteria]
    candidates = [(rank, n) for n, rank in enumerate(ranks) if rank is not None]
    driver = min(candidates)[1] if candidates else None
    if chosen is not None and 0 <= chosen < len(ranks) and ranks[chosen] is not None:
        driver = chosen
    compiled = [
        term_sql(criterion, resource_type, query.now, reaches) for criterion in query.criteria
    ]
    paired: list[Subquery] = []
    # Only a plain list drives a pairing, and only criteria of the driver's (string) rank join.
    rank = ranks[driver] if driver is not None else None
    leader = compiled[driver] if driver is not None else None
    if pair and leader is not None and leader.subquery and rank == _TYPE_RANK["string"]:
        for n, sql in enumerate(compiled):
            if n != driver and ranks[n] == rank and sql is not None and sql.subquery:
                paired.append(sql.subquery)
                compiled[n] = None
    parts: list[Sql] = []
    for n, sql in enumerate(compiled):
        if sql is None:
            continue
        if n == driver and paired:
            sql = paired_lists(cast(Subquery, sql.subquery), paired)
        elif n != driver and typed and sql.subquery is not None:
            sql = sql.subquery.probe("e.pid", typed=True)
        elif n != driver and sql.correlated is not None:
            sql = sql.correlated
        parts.append(sql)
    return parts


# How many index rows a paired criterion may have and still be listed (see paired_lists).
PAIRED_LIST_LIMIT = 256


def paired_lists(driver: Subquery, others: Sequence[Subquery]) -> Sql:
    """The driving list, intersected with the lists of same-rank criteria where they are short.

    ``Patient?family=smith&given=john``: the family name drives; probing every patient
    named Smith for the given name costs a primary-key seek and a probe each, so the time
    grew with the number of Smiths (SQLite, 4.8x from 54,077 to 507,463 resources). Two
    index-only lists and an intersection cost a fraction of a microsecond per row instead.
    A criterion is listed only when it has fewer than ``PAIRED_LIST_LIMIT`` rows (counted
    once, from its index, up to that bound); an unselective one (``address-state=MA``) is
    probed per driving row as before, so the worst case adds one bounded index read.
    R4 search.html: the criteria AND; any evaluation order gives the same result.
    """
    sub = driver.select()
    tests: list[Sql] = []
    for other in others:
        listed, probe = other.select(), other.probe("d.pid")
        # internal identifiers, values bound:
        text = (
            f"CASE WHEN (SELECT count(*) FROM ({listed.text} LIMIT {PAIRED_LIST_LIMIT}) n)"  # nosec B608
            f" < {PAIRED_LIST_LIMIT} THEN d.pid IN ({listed.text}) ELSE {probe.text} END"
        )
        tests.append(Sql(text, [*listed.params, *listed.params, *probe.params]))
    cond = _and(tests)
    # internal identifiers, values bound:
    text = f"e.pid IN (SELECT d.pid FROM ({sub.text}) d WHERE {cond.text})"  # nosec B608
    return Sql(text, [*sub.params, *cond.params])


# A driver with fewer index rows than this keeps driving without a look at the others: its
# probes cost less than counting them would (see choose_driver).
DRIVER_SMALL = 64
# Counting stops here: past it, a driver's probes cost milliseconds whatever the exact number.
DRIVER_COUNT_LIMIT = 10_000


def _listed_criteria(query: SearchQuery) -> tuple[int | None, dict[int, tuple[int, Sql]]]:
    """The rank-chosen driver and, by position, the rank and plain index list of each
    criterion that could drive instead (token rank or above: an ``_id``, compartment,
    reference or chain stays)."""
    ranks = [driving_rank(term) for term in query.criteria]
    candidates = [(rank, n) for n, rank in enumerate(ranks) if rank is not None]
    if len(candidates) < 2 or query.searches_contained:
        return None, {}
    rank, driver = min(candidates)
    if rank < _TYPE_RANK["token"]:
        return None, {}
    reaches = query.reaches()
    lists: dict[int, tuple[int, Sql]] = {}
    for rank, n in candidates:
        sql = term_sql(query.criteria[n], query.resource_type, query.now, reaches)
        if sql is not None and sql.subquery is not None:
            lists[n] = (rank, sql.subquery.select())
    return driver, lists


def driver_counts_sql(driver: Sql, others: Sequence[Sql]) -> Sql:
    """One row: the driver's index rows counted up to ``DRIVER_COUNT_LIMIT``, then each
    other list's counted up to the driver's count (not at all when it is under
    ``DRIVER_SMALL``). One statement: on PostgreSQL every statement is a round trip."""
    small, limit = int(DRIVER_SMALL), int(DRIVER_COUNT_LIMIT)
    bound = f"(SELECT CASE WHEN d.c < {small} THEN 0 ELSE d.c END FROM d)"  # nosec B608
    # internal identifiers, values bound:
    counts = [f"(SELECT count(*) FROM ({sql.text} LIMIT {bound}) n)" for sql in others]  # nosec B608
    text = (
        f"WITH d (c) AS (SELECT count(*) FROM ({driver.text} LIMIT {limit}) n)"  # nosec B608
        f" SELECT (SELECT c FROM d), {', '.join(counts)}"
    )
    return Sql(text, [*driver.params, *(p for sql in others for p in sql.params)])


async def choose_driver(runner: SqlRunner, query: SearchQuery) -> int | None:
    """On SQLite, the AND criterion with the fewest index rows, when that is not the one
    :func:`driving_rank` picks by kind; None keeps the rank's choice.

    The rank is a guess by kind: a token drives before a string, so
    ``Patient?gender=female&family=robinson`` probed every woman for the surname, and
    ``Condition?clinical-status=active&code=49436004`` -- two tokens, the first drives --
    every active Condition for the code; the time grew with the database. SQLite has no
    statistics to plan from, so the rank's driver is counted from its index, up to
    ``DRIVER_COUNT_LIMIT`` rows; with fewer than ``DRIVER_SMALL`` it keeps driving;
    otherwise the other plain criteria are counted up to that number in the same
    statement, and the smallest drives if it is smaller (ties keep the rank's order).
    Never more index rows read than the rank's driver would have probed. R4 search.html:
    the criteria AND; any driver gives the same answer.

    PostgreSQL is left to its planner, which reorders the criteria from the extended
    statistics of migration 0019; the extra round trip cost more there than it saved on
    most shapes measured (docs/benchmarks.md, "the driver chosen from the data").
    """
    if runner.dialect is not Dialect.SQLITE:
        return None
    driver, lists = _listed_criteria(query)
    if driver is None or driver not in lists or len(lists) < 2:
        return None
    others = [n for n in lists if n != driver]
    sql = driver_counts_sql(lists[driver][1], [lists[n][1] for n in others])
    if len(sql.params) > MAX_BOUND_PARAMETERS:
        return None  # too large to count in one statement: the rank's choice stands
    size, *counts = (int(c) for c in (await runner.fetch_all(sql.text, sql.params))[0])
    if size < DRIVER_SMALL:
        return None
    best = min((count, lists[n][0], n) for n, count in zip(others, counts, strict=True))
    return best[2] if best[0] < size else None


# --- sort and keyset cursor ---------------------------------------------------------------------

# R4 search.html#sort: a multi-valued parameter sorts by its lowest value ascending and its
# highest descending. The same choices are made by wardbook.search.matcher.sort_value.
_SORT_VALUE = {
    "string": ("idx_string", "i.value_norm", "i.value_norm"),
    "token": ("idx_token", "i.code", "i.code"),
    "date": ("idx_date", "i.low", "i.high"),
    "number": ("idx_number", "i.value", "i.value"),
    "quantity": (
        "idx_quantity",
        "COALESCE(i.canonical_value, i.value)",
        "COALESCE(i.canonical_value, i.value)",
    ),
    "uri": ("idx_uri", "i.uri", "i.uri"),
    "reference": (
        "idx_reference",
        "COALESCE(i.target_type || '/' || i.target_id, i.url)",
        "COALESCE(i.target_type || '/' || i.target_id, i.url)",
    ),
}


def sort_column(key: SortKey) -> Sql:
    """The value ``e`` sorts by for one key: an entity column or a correlated MIN/MAX."""
    if key.definition is None:
        return Sql(_SORT_COLUMNS[key.param])
    if key.point is not None:
        return distance_sort_sql(key.point, "MAX" if key.descending else "MIN")
    table, low, high = _SORT_VALUE[key.definition.type]
    aggregate = f"MAX({high})" if key.descending else f"MIN({low})"
    return Sql(
        # internal identifiers, values bound:
        f"(SELECT {aggregate} FROM {table} i WHERE i.pid = e.pid AND i.param = ?)",  # nosec B608
        [key.param],
    )


def _signature(keys: Sequence[SortKey]) -> str:
    return ",".join(k.text() for k in keys)


@dataclass(frozen=True, slots=True)
class _Column:
    """One ORDER BY column: expression, whether it can be NULL, and its direction."""

    expr: str
    nullable: bool
    descending: bool


def _columns(keys: Sequence[SortKey], wrapped: bool) -> list[_Column]:
    out = []
    for n, key in enumerate(keys):
        if wrapped:
            out.append(_Column(f"q.s{n}", key.definition is not None, key.descending))
        else:
            out.append(_Column(_SORT_COLUMNS[key.param], False, key.descending))
    out.append(_Column("q.pid" if wrapped else "e.pid", False, False))
    return out


def order_sql(columns: Sequence[_Column], backwards: bool = False) -> str:
    """ORDER BY the sort keys then pid (a total order); missing values last.

    ``backwards`` is the exact reverse order, used to fetch a previous page.
    """
    terms = []
    for c in columns:
        descending = c.descending != backwards
        if c.nullable:
            terms.append(f"({c.expr} IS NULL) {'DESC' if backwards else 'ASC'}")
        terms.append(f"{c.expr} {'DESC' if descending else 'ASC'}")
    return ", ".join(terms)


def encode_cursor(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool = False) -> str:
    """Opaque cursor: base64url JSON of the sort signature, a row's key and a direction."""
    data: dict[str, Any] = {"s": _signature(keys), "k": list(values)}
    if backwards:
        data["d"] = "p"
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> tuple[list[Any], bool]:
    """A row's key values and whether to page backwards from it; BadRequest if invalid."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = data["k"]
        valid = (
            isinstance(data, dict)
            and data.get("s") == _signature(keys)
            and data.get("d", "n") in ("n", "p")
            and isinstance(values, list)
            and len(values) == len(keys) + 1
            and isinstance(values[-1], int)
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest("invalid _cursor: request the first page again")
    for key, value in zip(keys, values, strict=False):
        if key.definition is None:
            ok = isinstance(value, int if key.param == "_lastUpdated" else str)
        else:
            ok = value is None or isinstance(value, str | int | float)
        if not ok or isinstance(value, bool):
            raise BadRequest("invalid _cursor: request the first page again")
    return cast(list[Any], values), data.get("d") == "p"


def _after_one(c: _Column, value: Any, backwards: bool) -> Sql | None:
    """Rows strictly after ``value`` in column ``c`` (None: no row can be)."""
    descending = c.descending != backwards
    nulls_last = not backwards
    if value is None:
        return None if nulls_last else Sql(f"{c.expr} IS NOT NULL")
    comparison = f"{c.expr} {'<' if descending else '>'} ?"
    if c.nullable and nulls_last:
        return Sql(f"({comparison} OR {c.expr} IS NULL)", [value])
    return Sql(comparison, [value])


def _equal(c: _Column, value: Any) -> Sql:
    return Sql(f"{c.expr} IS NULL") if value is None else Sql(f"{c.expr} = ?", [value])


def keyset_sql(columns: Sequence[_Column], values: Sequence[Any], backwards: bool) -> Sql:
    """Rows strictly after ``values`` in :func:`order_sql` order (lexicographic expansion)."""
    alternatives: list[Sql] = []
    for i, column in enumerate(columns):
        after = _after_one(column, values[i], backwards)
        if after is None:
            continue
        equal = [_equal(c, values[j]) for j, c in enumerate(columns[:i])]
        alternatives.append(_and([*equal, after]))
    if not alternatives:
        return Sql("1 = 0")
    if len(alternatives) == 1:
        return alternatives[0]
    return Sql(
        "(" + " OR ".join(f"({a.text})" for a in alternatives) + ")",
        [x for a in alternatives for x in a.params],
    )


# --- running ------------------------------------------------------------------------------------

# Bound parameters one statement may carry: SQLite's SQLITE_MAX_VARIABLE_NUMBER (32,766 since
# 3.32) and asyncpg's 32,767. wardbook.search.limits keeps searches well below it; this is
# the last guard, so an unforeseen shape is a 400, never a driver error (500).
MAX_BOUND_PARAMETERS = 32_766


def _bounded(sql: Sql) -> Sql:
    """``sql``, or TooCostly when it binds more parameters than a statement may."""
    if len(sql.params) > MAX_BOUND_PARAMETERS:
        raise TooCostly(
            f"this search needs {len(sql.params):,} bound values in one statement; at most"
            f" {MAX_BOUND_PARAMETERS:,} are possible: use fewer comma-separated values"
        )
    return sql


def ids_sql(
    query: SearchQuery,
    limit: int,
    backwards: bool = False,
    start: Sequence[Any] | None = None,
    dialect: Dialect | None = None,
    driver: int | None = None,
) -> Sql:
    """SELECT pid, last_updated, res_id, res_type, sort values of the next ``limit`` matches.

    ``start``: the key of the row to continue after (or before, ``backwards``). Sorting by
    index values wraps the match in a derived table ``q`` whose columns ``s0, s1...`` are
    the per-resource sort values, so ORDER BY and the keyset can name them.
    """
    keys = query.sort
    where = where_sql(query, dialect, driver)
    wrapped = any(k.definition is not None for k in keys)
    columns = _columns(keys, wrapped)
    if not wrapped:
        extra = "".join(f", {_SORT_COLUMNS[k.param]}" for k in keys)
        if start is not None:
            where = _and([where, keyset_sql(columns, start, backwards)])
        text = (
            # internal identifiers, values bound:
            f"SELECT e.pid, e.last_updated, e.res_id, e.res_type{extra} FROM resource_entity e"  # nosec B608
            f" WHERE {where.text} ORDER BY {order_sql(columns, backwards)} LIMIT ?"
        )
        return Sql(text, [*where.params, limit])
    selects = [sort_column(k) for k in keys]
    inner_cols = "".join(f", {c.text} AS s{n}" for n, c in enumerate(selects))
    params: list[Any] = [x for c in selects for x in c.params]
    inner = (
        # internal identifiers, values bound:
        f"SELECT e.pid, e.last_updated, e.res_id, e.res_type{inner_cols}"  # nosec B608
        f" FROM resource_entity e WHERE {where.text}"
    )
    params.extend(where.params)
    outer_cols = "".join(f", q.s{n}" for n in range(len(keys)))
    # internal identifiers, values bound:
    text = f"SELECT q.pid, q.last_updated, q.res_id, q.res_type{outer_cols} FROM ({inner}) q"  # nosec B608
    if start is not None:
        keyset = keyset_sql(columns, start, backwards)
        text += f" WHERE {keyset.text}"
        params.extend(keyset.params)
    text += f" ORDER BY {order_sql(columns, backwards)} LIMIT ?"
    return Sql(text, [*params, limit])


def count_sql(query: SearchQuery, dialect: Dialect | None = None, driver: int | None = None) -> Sql:
    """SELECT COUNT(*) of every match."""
    where = where_sql(query, dialect, driver)
    # internal identifiers, values bound:
    return Sql(f"SELECT COUNT(*) FROM resource_entity e WHERE {where.text}", where.params)  # nosec B608


def bodies_sql(dialect: Dialect, pids: Sequence[int]) -> Sql:
    """The current, non-deleted versions of ``pids`` (any order), pid last."""
    placeholders = ", ".join("?" * len(pids))
    text = (
        # internal identifiers, values bound:
        f"SELECT {version_columns('v', _BODY[dialect])}, e.pid FROM resource_entity e"  # nosec B608
        " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
        f" WHERE e.pid IN ({placeholders}) AND NOT e.deleted AND v.body IS NOT NULL"
    )
    return Sql(text, list(pids))


def _cursor_values(row: Sequence[Any], keys: Sequence[SortKey]) -> list[Any]:
    return [row[4 + n] for n in range(len(keys))] + [int(row[0])]


# --- _include / _revinclude ----------------------------------------------------------------------

_CHUNK = 500  # ids per IN list: far below both backends' limits on bound parameters

Found = tuple[int, str, str]  # pid, resource type, id


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def include_sql(spec: IncludeSpec, pids: Sequence[int]) -> Sql:
    """Targets of the ``spec`` references of ``pids`` (R4 search.html#include)."""
    text = (
        # internal identifiers, values bound:
        "SELECT DISTINCT t.pid, t.res_type, t.res_id FROM idx_reference i"  # nosec B608
        " JOIN resource_entity t ON t.res_type = i.target_type AND t.res_id = i.target_id"
        f" WHERE i.pid IN ({', '.join('?' * len(pids))}) AND NOT t.deleted"
    )
    params: list[Any] = list(pids)
    for column, value in (
        ("i.res_type", spec.source_type),
        ("i.param", spec.param),
        ("i.target_type", spec.target_type),
    ):
        if value is not None:
            text += f" AND {column} = ?"
            params.append(value)
    return Sql(text, params)


def revinclude_sql(spec: IncludeSpec, target_type: str, ids: Sequence[str]) -> Sql:
    """Resources whose ``spec`` references point at ``target_type`` ``ids`` (#revinclude)."""
    text = (
        # internal identifiers, values bound:
        "SELECT DISTINCT s.pid, s.res_type, s.res_id FROM idx_reference i"  # nosec B608
        " JOIN resource_entity s ON s.pid = i.pid"
        f" WHERE i.target_type = ? AND i.target_id IN ({', '.join('?' * len(ids))})"
        " AND NOT s.deleted"
    )
    params: list[Any] = [target_type, *ids]
    for column, value in (("i.res_type", spec.source_type), ("i.param", spec.param)):
        if value is not None:
            text += f" AND {column} = ?"
            params.append(value)
    return Sql(text, params)


async def _follow(runner: SqlRunner, spec: IncludeSpec, frontier: Sequence[Found]) -> set[Found]:
    found: set[Found] = set()
    statements: list[Sql] = []
    if spec.reverse:
        by_type: dict[str, list[str]] = {}
        for _, rtype, rid in frontier:
            if spec.target_type is None or rtype == spec.target_type:
                by_type.setdefault(rtype, []).append(rid)
        for rtype, ids in sorted(by_type.items()):
            statements.extend(revinclude_sql(spec, rtype, chunk) for chunk in _chunks(ids))
    else:
        pids = [pid for pid, rtype, _ in frontier if spec.source_type in (None, rtype)]
        statements.extend(include_sql(spec, chunk) for chunk in _chunks(pids))
    for sql in statements:
        for row in await runner.fetch_all(sql.text, sql.params):
            found.add((int(row[0]), str(row[1]), str(row[2])))
    return found


async def included_pids(
    runner: SqlRunner, includes: Sequence[IncludeSpec], matched: Sequence[Found]
) -> list[int]:
    """Pids ``includes`` add to a page of ``matched`` resources, in pid order.

    R4 search.html#include: every directive applies to the page's matches; ``:iterate``
    ones are repeated on what they included until nothing new appears (no depth cap:
    each round only follows resources not seen before, so it ends). One statement per
    directive and round (per 500 ids), never one per resource.
    """
    seen = {pid for pid, _, _ in matched}
    out: set[int] = set()
    frontier: list[Found] = list(matched)
    first = True
    while frontier:
        found: set[Found] = set()
        for spec in includes:
            if first or spec.iterate:
                found |= await _follow(runner, spec, frontier)
        new = sorted(f for f in found if f[0] not in seen)
        seen.update(f[0] for f in new)
        out.update(f[0] for f in new)
        frontier = new if any(spec.iterate for spec in includes) else []
        first = False
    return sorted(out)


async def fetch_bodies(runner: SqlRunner, pids: Sequence[int]) -> list[StoredResource]:
    """The current bodies of ``pids`` in that order (deleted ones left out)."""
    found: dict[int, StoredResource] = {}
    for chunk in _chunks(pids):
        sql = bodies_sql(runner.dialect, chunk)
        for r in await runner.fetch_all(sql.text, sql.params):
            found[int(r[-1])] = stored_from_row(r)
    return [found[pid] for pid in pids if pid in found]


async def run_search(runner: SqlRunner, query: SearchQuery) -> Page:
    """The page of current resources matching ``query``: matches, includes, total, cursors.

    Everything a search page shows is assembled here, in one read snapshot; the service
    layer (``ResourceService.search``) then applies its filters to matches and includes.
    """
    total: int | None = None
    want_total = query.total != "none"
    driver = await choose_driver(runner, query)
    if query.only_total:
        if want_total:
            sql = _bounded(count_sql(query, runner.dialect, driver))
            total = int((await runner.fetch_all(sql.text, sql.params))[0][0])
        return Page(entries=[], total=total)
    keys = query.sort
    start, backwards = (None, False)
    if query.cursor is not None:
        start, backwards = decode_cursor(query.cursor, keys)
    sql = _bounded(ids_sql(query, query.count + 1, backwards, start, runner.dialect, driver))
    rows = await runner.fetch_all(sql.text, sql.params)
    more = len(rows) > query.count
    rows = rows[: query.count]
    next_cursor = prev_cursor = None
    if backwards:
        rows.reverse()
        if rows:
            next_cursor = encode_cursor(keys, _cursor_values(rows[-1], keys))
            if more:
                prev_cursor = encode_cursor(keys, _cursor_values(rows[0], keys), True)
    elif rows:
        if more:
            next_cursor = encode_cursor(keys, _cursor_values(rows[-1], keys))
        if start is not None:
            prev_cursor = encode_cursor(keys, _cursor_values(rows[0], keys), True)
    if want_total:
        if query.cursor is None and not more:
            total = len(rows)
        else:
            count = _bounded(count_sql(query, runner.dialect, driver))
            total = int((await runner.fetch_all(count.text, count.params))[0][0])
    pids = [int(r[0]) for r in rows]
    entries = await fetch_bodies(runner, pids) if pids else []
    included: list[StoredResource] = []
    if query.includes and rows:
        matched = [(int(r[0]), str(r[3]), str(r[2])) for r in rows]
        extra = await included_pids(runner, query.includes, matched)
        included = await fetch_bodies(runner, extra)
    return Page(
        entries=entries,
        total=total,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        included=included,
    )


async def search_ids(runner: SqlRunner, query: SearchQuery, limit: int) -> list[tuple[str, str]]:
    """(resource type, id) of the first ``limit`` matches: for conditional operations."""
    driver = await choose_driver(runner, query)
    sql = _bounded(ids_sql(query, limit, dialect=runner.dialect, driver=driver))
    rows = await runner.fetch_all(sql.text, sql.params)
    return [(str(r[3]), str(r[2])) for r in rows]
