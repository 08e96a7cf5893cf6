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
from dataclasses import dataclass, field
from typing import Any, cast

from wardbook.errors import BadRequest
from wardbook.search.fulltext import PARAMS as FULLTEXT_PARAMS
from wardbook.search.params import reference as reference_param
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
from wardbook.search.query import Criterion, SearchQuery, SortKey
from wardbook.storage.base import Dialect, Page, SqlRunner
from wardbook.storage.compartment_scope_sql import compartment_sql
from wardbook.storage.search_concepts import concept_sql
from wardbook.storage.search_fulltext import fulltext_sql
from wardbook.storage.version_rows import stored_from_row, version_columns

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
    """A SQL fragment and its parameters, in placeholder order."""

    text: str
    params: list[Any] = field(default_factory=list)


def _or(parts: Sequence[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql("(" + " OR ".join(p.text for p in parts) + ")", [x for p in parts for x in p.params])


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


def token_sql(value: TokenValue, modifier: str | None) -> Sql:
    """R4 search.html#token: code, system|code, |code, system| and :text."""
    if modifier == "text":
        return prefix_sql("i.text", value.text)
    if value.any_system:
        return Sql("i.code = ?", [value.code])
    if value.system is None:
        return Sql("(i.system IS NULL AND i.code = ?)", [value.code])
    if value.code is None:
        return Sql("i.system = ?", [value.system])
    return Sql("(i.system = ? AND i.code = ?)", [value.system, value.code])


def string_sql(value: StringValue, modifier: str | None) -> Sql:
    """R4 search.html#string: normalized prefix, :exact, :contains."""
    if modifier == "exact":
        return Sql("i.value_exact = ?", [value.text])
    if modifier == "contains":
        return Sql("i.value_norm LIKE ? ESCAPE '\\'", [f"%{_like_escape(value.norm)}%"])
    return prefix_sql("i.value_norm", value.norm)


def date_sql(low: str, high: str, value: DateValue, now: int) -> Sql:
    """R4 search.html#prefix on ranges [low, high); see wardbook.search.params.date."""
    sl, sh = value.low, value.high
    contains = f"({low} >= ? AND {high} <= ?)"
    prefix = value.prefix
    if prefix == "eq":
        return Sql(contains, [sl, sh])
    if prefix == "ne":
        return Sql(f"NOT {contains}", [sl, sh])
    if prefix == "gt":
        return Sql(f"{high} > ?", [sh])
    if prefix == "lt":
        return Sql(f"{low} < ?", [sl])
    if prefix == "ge":
        return Sql(f"({high} > ? OR {contains})", [sh, sl, sh])
    if prefix == "le":
        return Sql(f"({low} < ? OR {contains})", [sl, sl, sh])
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


def uri_sql(value: UriValue, modifier: str | None) -> Sql:
    """R4 search.html#uri: exact, :below (stored starts with value), :above (the reverse)."""
    if modifier == "below":
        return prefix_sql("i.uri", value.uri)
    if modifier == "above":
        return Sql("substr(CAST(? AS TEXT), 1, length(i.uri)) = i.uri", [value.uri])
    return Sql("i.uri = ?", [value.uri])


def reference_sql(value: ReferenceValue) -> Sql:
    """R4 search.html#reference: Type/id, id, absolute or canonical url[|version]."""
    if value.url is not None:
        if value.version is not None:
            return Sql("(i.url = ? AND i.target_version = ?)", [value.url, value.version])
        return Sql("i.url = ?", [value.url])
    parts = [Sql("i.target_id = ?", [value.target_id])]
    if value.target_type is not None:
        parts.append(Sql("i.target_type = ?", [value.target_type]))
    if value.version is not None:
        parts.append(Sql("i.target_version = ?", [value.version]))
    joined = _and(parts)
    return Sql(f"({joined.text})", joined.params) if len(parts) > 1 else joined


def composite_sql(values: Sequence[CompositeValue]) -> Sql:
    """R4 search.html#composite: exact component keys."""
    keys = list(dict.fromkeys(v.key for v in values))
    return Sql(f"i.key IN ({', '.join('?' * len(keys))})", keys)


# --- criteria -----------------------------------------------------------------------------------


def _subquery(table: str, resource_type: str | None, param: str, where: Sql | None) -> Sql:
    text = f"SELECT i.pid FROM {table} i WHERE "
    params: list[Any] = []
    if resource_type is not None:
        text += "i.res_type = ? AND "
        params.append(resource_type)
    text += "i.param = ?"
    params.append(param)
    if where is not None:
        text += f" AND {where.text}"
        params.extend(where.params)
    return Sql(text, params)


def _in(subquery: Sql, negate: bool = False) -> Sql:
    return Sql(f"e.pid {'NOT IN' if negate else 'IN'} ({subquery.text})", subquery.params)


def _values_sql(criterion: Criterion, now: int) -> Sql:
    values: list[Any] = list(criterion.values)
    ptype = criterion.type
    modifier = criterion.modifier
    if ptype == "token":
        if modifier in CONCEPT_MODIFIERS:
            return _or([concept_sql(v) for v in values])
        return _or([token_sql(v, modifier) for v in values])
    if ptype == "string":
        return _or([string_sql(v, modifier) for v in values])
    if ptype == "date":
        return _or([date_sql("i.low", "i.high", v, now) for v in values])
    if ptype == "number":
        return _or([number_sql(v) for v in values])
    if ptype == "quantity":
        return _or([quantity_sql(v) for v in values])
    if ptype == "uri":
        return _or([uri_sql(v, modifier) for v in values])
    if ptype == "reference":
        return _or([reference_sql(v) for v in values])
    if ptype == "composite":
        return composite_sql(values)
    raise BadRequest(f"search parameter type {ptype} is not supported")


def _entity_sql(criterion: Criterion, now: int) -> Sql:
    if criterion.code == "_id":
        ids = list(dict.fromkeys(cast(TokenValue, v).code for v in criterion.values))
        return Sql(f"e.res_id IN ({', '.join('?' * len(ids))})", ids)
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
        return _entity_sql(criterion, now)
    if criterion.code in FULLTEXT_PARAMS:
        return fulltext_sql(criterion, resource_type)
    table = _TABLES[criterion.type]
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
        return Sql(f"NOT {found.text}", found.params) if missing else found
    if criterion.type == "reference":
        plain = [v for v in criterion.values if isinstance(v, ReferenceValue) and not v.identifier]
        idents = [v.identifier for v in criterion.values if isinstance(v, ReferenceValue)]
        parts: list[Sql] = []
        if plain:
            where = _or([reference_sql(v) for v in plain])
            parts.append(_in(_subquery(table, resource_type, code, where)))
        tokens = [t for t in idents if t is not None]
        if tokens:
            where = _or([token_sql(t, None) for t in tokens])
            ident = code + reference_param.IDENTIFIER_SUFFIX
            parts.append(_in(_subquery("idx_token", resource_type, ident, where)))
        return _or(parts)
    where = _values_sql(criterion, now)
    negate = criterion.type == "token" and criterion.modifier in ("not", *NEGATED_CONCEPTS)
    return _in(_subquery(table, resource_type, code, where), negate)


def where_sql(query: SearchQuery) -> Sql:
    """The WHERE clause on ``resource_entity e`` selecting every match (no paging)."""
    parts = [Sql("NOT e.deleted")]
    if query.resource_type is not None:
        parts.insert(0, Sql("e.res_type = ?", [query.resource_type]))
    elif query.types:
        types = list(dict.fromkeys(query.types))
        parts.append(Sql(f"e.res_type IN ({', '.join('?' * len(types))})", types))
    for criterion in query.criteria:
        sql = criterion_sql(criterion, query.resource_type, query.now)
        if sql is not None:
            parts.append(sql)
    if query.compartment is not None:
        parts.append(compartment_sql(query.compartment, query.resource_type, query.types))
    return _and(parts)


# --- sort and keyset cursor ---------------------------------------------------------------------


def _sort_keys(query: SearchQuery) -> list[SortKey]:
    return [k for k in query.sort if k.param in _SORT_COLUMNS]


def _signature(keys: Sequence[SortKey]) -> str:
    return ",".join(k.text() for k in keys)


def order_sql(keys: Sequence[SortKey]) -> str:
    """ORDER BY the sort keys, then pid: a total order, so pages never overlap or skip."""
    terms = [f"{_SORT_COLUMNS[k.param]} {'DESC' if k.descending else 'ASC'}" for k in keys]
    terms.append("e.pid ASC")
    return ", ".join(terms)


def encode_cursor(keys: Sequence[SortKey], values: Sequence[Any]) -> str:
    """Opaque cursor: base64url JSON of the sort signature and the last row's key."""
    raw = json.dumps({"s": _signature(keys), "k": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The last row's key values; BadRequest for a cursor not made for this sort."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = data["k"]
        valid = (
            isinstance(data, dict)
            and data.get("s") == _signature(keys)
            and isinstance(values, list)
            and len(values) == len(keys) + 1
            and isinstance(values[-1], int)
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest("invalid _cursor: request the first page again")
    for key, value in zip(keys, values, strict=False):
        expected = int if key.param == "_lastUpdated" else str
        if not isinstance(value, expected):
            raise BadRequest("invalid _cursor: request the first page again")
    return cast(list[Any], values)


def keyset_sql(keys: Sequence[SortKey], values: Sequence[Any]) -> Sql:
    """Rows strictly after ``values`` in :func:`order_sql` order (lexicographic expansion)."""
    columns = [(_SORT_COLUMNS[k.param], k.descending) for k in keys] + [("e.pid", False)]
    alternatives: list[Sql] = []
    for i, (column, descending) in enumerate(columns):
        equal = [Sql(f"{c} = ?", [values[j]]) for j, (c, _) in enumerate(columns[:i])]
        after = Sql(f"{column} {'<' if descending else '>'} ?", [values[i]])
        alternatives.append(_and([*equal, after]))
    if len(alternatives) == 1:
        return alternatives[0]
    return Sql(
        "(" + " OR ".join(f"({a.text})" for a in alternatives) + ")",
        [x for a in alternatives for x in a.params],
    )


# --- running ------------------------------------------------------------------------------------


def ids_sql(query: SearchQuery, limit: int) -> tuple[Sql, list[SortKey]]:
    """SELECT pid, last_updated, res_id, res_type of the next ``limit`` matches in order."""
    keys = _sort_keys(query)
    where = where_sql(query)
    if query.cursor is not None:
        keyset = keyset_sql(keys, decode_cursor(query.cursor, keys))
        where = _and([where, keyset])
    text = (
        "SELECT e.pid, e.last_updated, e.res_id, e.res_type FROM resource_entity e"
        f" WHERE {where.text} ORDER BY {order_sql(keys)} LIMIT ?"
    )
    return Sql(text, [*where.params, limit]), keys


def count_sql(query: SearchQuery) -> Sql:
    """SELECT COUNT(*) of every match."""
    where = where_sql(query)
    return Sql(f"SELECT COUNT(*) FROM resource_entity e WHERE {where.text}", where.params)


def bodies_sql(dialect: Dialect, pids: Sequence[int]) -> Sql:
    """The current, non-deleted versions of ``pids`` (any order), pid last."""
    placeholders = ", ".join("?" * len(pids))
    text = (
        f"SELECT {version_columns('v', _BODY[dialect])}, e.pid FROM resource_entity e"
        " JOIN resource_version v ON v.pid = e.pid AND v.version = e.version"
        f" WHERE e.pid IN ({placeholders}) AND NOT e.deleted AND v.body IS NOT NULL"
    )
    return Sql(text, list(pids))


def _cursor_values(row: Sequence[Any], keys: Sequence[SortKey]) -> list[Any]:
    by_param = {"_lastUpdated": row[1], "_id": row[2]}
    return [by_param[k.param] for k in keys] + [row[0]]


async def run_search(runner: SqlRunner, query: SearchQuery) -> Page:
    """The page of current resources matching ``query``, with total and next cursor."""
    total: int | None = None
    want_total = query.total != "none"
    if query.only_total:
        if want_total:
            sql = count_sql(query)
            total = int((await runner.fetch_all(sql.text, sql.params))[0][0])
        return Page(entries=[], total=total)
    sql, keys = ids_sql(query, query.count + 1)
    rows = await runner.fetch_all(sql.text, sql.params)
    more = len(rows) > query.count
    rows = rows[: query.count]
    next_cursor = encode_cursor(keys, _cursor_values(rows[-1], keys)) if more and rows else None
    if want_total:
        if query.cursor is None and not more:
            total = len(rows)
        else:
            count = count_sql(query)
            total = int((await runner.fetch_all(count.text, count.params))[0][0])
    entries = []
    if rows:
        pids = [int(r[0]) for r in rows]
        bodies = bodies_sql(runner.dialect, pids)
        found = {
            int(r[-1]): stored_from_row(r)
            for r in await runner.fetch_all(bodies.text, bodies.params)
        }
        entries = [found[pid] for pid in pids if pid in found]
    return Page(entries=entries, total=total, next_cursor=next_cursor)


async def search_ids(runner: SqlRunner, query: SearchQuery, limit: int) -> list[tuple[str, str]]:
    """(resource type, id) of the first ``limit`` matches: for conditional operations."""
    sql, _ = ids_sql(query, limit)
    rows = await runner.fetch_all(sql.text, sql.params)
    return [(str(r[3]), str(r[2])) for r in rows]
