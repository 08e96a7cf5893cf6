"""Composite search, R4 3.1.1.5.8 (http://hl7.org/fhir/R4/search.html#composite).

A composite value ``a$b`` matches when one element yields both components together
(``code-value-concept=http://loinc.org|8480-6$http://snomed.info/sct|1234``). The index holds
one row per combination of component keys joined by ``$``; each key is exact:

- token: ``system|code`` (``|code`` without a system) and the bare ``code`` for searches that
  give no system;
- string: the normalized text (whole value, not a prefix);
- uri: the URI; reference: ``Type/id`` or the absolute URL;
- quantity and number: ``value|system|code`` / ``value`` as written, date: ``low:high`` µs.

A composite whose *last* component is ordered (quantity, number, date) and whose leading
components are exact is indexed differently: one row per combination of the leading keys
(joined by ``$``) and each value of the last component, that value kept with the columns of
its own type (:class:`~wardbook.search.index.CompositeQuantityRow`, ``...NumberRow``,
``...DateRow``). ``code-value-quantity=http://loinc.org|8480-6$gt140`` then matches a row
whose key is ``http://loinc.org|8480-6`` and whose quantity satisfies ``gt140`` exactly as
the plain ``value-quantity`` would (prefixes, precision ranges, units, UCUM canonical
values), so code and value always come from the same element.

Searching supports composites of exact components and those with one ordered last
component; an ordered component elsewhere (MolecularSequence's coordinates) is not
supported yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wardbook.search.index import (
    CompositeDateRow,
    CompositeNumberRow,
    CompositeQuantityRow,
    CompositeRow,
    DateRow,
    NumberRow,
    QuantityRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)
from wardbook.search.normalize import normalize_string
from wardbook.search.params import date, number, quantity, reference, token
from wardbook.search.params.date import DateValue
from wardbook.search.params.escape import split_escaped, unescape
from wardbook.search.params.number import NumberValue, number_text
from wardbook.search.params.quantity import QuantityValue

SEARCHABLE_COMPONENT_TYPES = frozenset(("token", "string", "uri", "reference"))
# Types a composite's last component may have: its value is compared, not looked up.
ORDERED_COMPONENT_TYPES = frozenset(("quantity", "number", "date"))

AnyRow = TokenRow | StringRow | DateRow | NumberRow | QuantityRow | UriRow | ReferenceRow
OrderedRow = CompositeQuantityRow | CompositeNumberRow | CompositeDateRow
OrderedValue = QuantityValue | NumberValue | DateValue


@dataclass(frozen=True, slots=True)
class CompositeValue:
    """``key``: the exact components' keys joined by ``$``; ``last``: the ordered last
    component's parsed value (None when every component is exact)."""

    key: str
    last: OrderedValue | None = None


def ordered_type(component_types: Sequence[str]) -> str | None:
    """The last component's type when the composite is searched as key + ordered value.

    None for composites of exact components only -- and for those with an ordered
    component elsewhere, which keep their exact rows in idx_composite.
    """
    if len(component_types) < 2 or component_types[-1] not in ORDERED_COMPONENT_TYPES:
        return None
    if not all(t in SEARCHABLE_COMPONENT_TYPES for t in component_types[:-1]):
        return None
    return component_types[-1]


def searchable(component_types: Sequence[str]) -> bool:
    """Whether searches by a composite of these component types are executed."""
    exact = all(t in SEARCHABLE_COMPONENT_TYPES for t in component_types)
    return exact or ordered_type(component_types) is not None


def index_list(component_types: Sequence[str]) -> str:
    """The IndexRows list (and ``idx_`` table) holding a composite's rows."""
    last = ordered_type(component_types)
    return "composite" if last is None else f"composite_{last}"


def row_keys(row: AnyRow) -> list[str]:
    """The exact keys one component row contributes."""
    if isinstance(row, TokenRow):
        if row.code is None:
            return []
        qualified = f"{row.system}|{row.code}" if row.system else f"|{row.code}"
        return [qualified, row.code]
    if isinstance(row, StringRow):
        return [row.value_norm]
    if isinstance(row, UriRow):
        return [row.uri]
    if isinstance(row, ReferenceRow):
        if row.target_id is not None and row.target_type is not None:
            return [f"{row.target_type}/{row.target_id}"]
        return [row.url] if row.url else []
    if isinstance(row, QuantityRow):
        return [f"{number_text(row.value)}|{row.system or ''}|{row.code or ''}"]
    if isinstance(row, NumberRow):
        return [number_text(row.value)]
    return [f"{row.low}:{row.high}"]


def composite_rows(param: str, component_keys: Sequence[Sequence[str]]) -> Iterable[CompositeRow]:
    """One row per combination of the components' keys (none if a component is missing)."""
    combos: list[str] = [""]
    for i, keys in enumerate(component_keys):
        if not keys:
            return
        combos = [f"{c}${k}" if i else k for c in combos for k in dict.fromkeys(keys)]
    for key in combos:
        yield CompositeRow(param, key)


def ordered_rows(
    param: str, leading: Sequence[Sequence[str]], last: Sequence[AnyRow]
) -> Iterable[OrderedRow]:
    """One row per combination of the leading keys and each value row of the last component."""
    if not last:
        return
    for joined in composite_rows(param, leading):
        for row in dict.fromkeys(last):
            if isinstance(row, QuantityRow):
                yield CompositeQuantityRow.joining(param, joined.key, row)
            elif isinstance(row, NumberRow):
                yield CompositeNumberRow(param, joined.key, row.value, row.low, row.high)
            elif isinstance(row, DateRow):
                yield CompositeDateRow(param, joined.key, row.low, row.high)


def _component_key(text: str, component_type: str) -> str:
    if component_type == "token":
        value = token.parse(text)
        if value.any_system:
            if value.code is None:
                raise RuntimeError("internal error: value.code is missing")
            return value.code
        if value.code is None:
            raise NotImplementedError("a system without a code in a composite component")
        return f"{value.system}|{value.code}" if value.system else f"|{value.code}"
    if component_type == "string":
        norm = normalize_string(unescape(text))
        if not norm:
            raise ValueError("empty string component")
        return norm
    if component_type == "uri":
        return unescape(text)
    if component_type == "reference":
        ref = reference.parse(text)
        if ref.url is not None:
            return ref.url
        if ref.target_type is None:
            raise NotImplementedError("a bare id in a composite reference component")
        return f"{ref.target_type}/{ref.target_id}"
    raise NotImplementedError(f"composite components of type {component_type}")


def _ordered_value(text: str, component_type: str) -> OrderedValue:
    if component_type == "quantity":
        return quantity.parse(text)
    if component_type == "number":
        return number.parse(unescape(text))
    return date.parse(unescape(text))


def parse(text: str, component_types: Sequence[str]) -> CompositeValue:
    """Parse ``a$b``; ValueError when malformed, NotImplementedError for unsupported types."""
    parts = split_escaped(text, "$")
    if len(parts) != len(component_types):
        raise ValueError(f"composite value needs {len(component_types)} components: {text!r}")
    last_type = ordered_type(component_types)
    if last_type is None:
        keys = [_component_key(p, t) for p, t in zip(parts, component_types, strict=True)]
        return CompositeValue("$".join(keys))
    keys = [_component_key(p, t) for p, t in zip(parts[:-1], component_types, strict=False)]
    # A quantity keeps its escapes: it splits ``value|system|code`` itself.
    return CompositeValue("$".join(keys), _ordered_value(parts[-1], last_type))


def matches(rows: Iterable[CompositeRow], values: Iterable[CompositeValue]) -> bool:
    """OR over values: some row has exactly the value's key."""
    keys = {r.key for r in rows}
    return any(v.key in keys for v in values)


def _last_matches(row: OrderedRow, value: OrderedValue, now: int) -> bool:
    """The plain parameter's own comparison, on the row's value (the SQL does the same)."""
    if isinstance(row, CompositeQuantityRow) and isinstance(value, QuantityValue):
        return quantity.value_matches(row.quantity(), value)
    if isinstance(row, CompositeNumberRow) and isinstance(value, NumberValue):
        return number.point_matches(row.value, value.prefix, value.value, value.low, value.high)
    if isinstance(row, CompositeDateRow) and isinstance(value, DateValue):
        return date.range_matches(row.low, row.high, value, now)
    return False


def ordered_matches(rows: Iterable[OrderedRow], values: Iterable[CompositeValue], now: int) -> bool:
    """OR over values: one row has the value's key and a last value satisfying its prefix."""
    rows = list(rows)
    return any(
        v.last is not None and r.key == v.key and _last_matches(r, v.last, now)
        for v in values
        for r in rows
    )
