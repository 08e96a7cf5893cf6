"""Composite search, R4 3.1.1.5.8 (http://hl7.org/fhir/R4/search.html#composite).

A composite value ``a$b`` matches when one element yields both components together
(``code-value-concept=http://loinc.org|8480-6$http://snomed.info/sct|1234``). The index holds
one row per combination of component keys joined by ``$``; each key is exact:

- token: ``system|code`` (``|code`` without a system) and the bare ``code`` for searches that
  give no system;
- string: the normalized text (whole value, not a prefix);
- uri: the URI; reference: ``Type/id`` or the absolute URL;
- quantity and number: ``value|system|code`` / ``value`` as written, date: ``low:high`` µs.

Searching supports token, string, uri and reference components (exact keys); components of
ordered types (quantity, number, date) need prefixes and ranges and are not supported yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wardbook.search.index import (
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
from wardbook.search.params import reference, token
from wardbook.search.params.escape import split_escaped, unescape
from wardbook.search.params.number import number_text

SEARCHABLE_COMPONENT_TYPES = frozenset(("token", "string", "uri", "reference"))

AnyRow = TokenRow | StringRow | DateRow | NumberRow | QuantityRow | UriRow | ReferenceRow


@dataclass(frozen=True, slots=True)
class CompositeValue:
    key: str


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


def parse(text: str, component_types: Sequence[str]) -> CompositeValue:
    """Parse ``a$b``; ValueError when malformed, NotImplementedError for unsupported types."""
    parts = split_escaped(text, "$")
    if len(parts) != len(component_types):
        raise ValueError(f"composite value needs {len(component_types)} components: {text!r}")
    keys = [_component_key(p, t) for p, t in zip(parts, component_types, strict=True)]
    return CompositeValue("$".join(keys))


def matches(rows: Iterable[CompositeRow], values: Iterable[CompositeValue]) -> bool:
    """OR over values: some row has exactly the value's key."""
    keys = {r.key for r in rows}
    return any(v.key in keys for v in values)
