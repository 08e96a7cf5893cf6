"""String search, R4 3.1.1.5.5 (http://hl7.org/fhir/R4/search.html#string).

Default: the normalized value starts with the normalized search text (case and accent
insensitive). ``:exact``: the value equals the search text exactly. ``:contains``: the
normalized search text occurs anywhere in the normalized value. HumanName matches on any of
family, given, prefix, suffix and text; Address on any of line, city, district, state,
postalCode, country and text; both are also indexed by their full text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import StringRow
from wardbook.search.normalize import normalize_string
from wardbook.search.params.escape import unescape


@dataclass(frozen=True, slots=True)
class StringValue:
    text: str  # as given, for :exact
    norm: str  # normalized, for the default and :contains


def parse(text: str, modifier: str | None = None) -> StringValue:
    """A string search value (still escaped, R4 search.html#escaping); ValueError when empty."""
    text = unescape(text)
    norm = normalize_string(text)
    if not text or (modifier != "exact" and not norm):
        raise ValueError("empty string value")
    return StringValue(text, norm)


# --- extraction ----------------------------------------------------------------------------

_NAME_PARTS = ("prefix", "given", "family", "suffix")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country")
_STRING_TYPES = frozenset(("string", "markdown", "code", "id", "uri", "url", "canonical"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item:
                yield item


def _compound(value: dict[str, Any], parts: tuple[str, ...], joiner: str) -> Iterator[str]:
    pieces: list[str] = []
    for part in parts:
        for text in _strings(value.get(part)):
            pieces.append(text)
            yield text
    full = value.get("text")
    if isinstance(full, str) and full:
        yield full
    elif len(pieces) > 1:
        yield joiner.join(pieces)


def string_values(value: Any, datatype: str | None) -> Iterator[str]:
    """The texts a string-searchable element offers."""
    if isinstance(value, str):
        if value and (datatype is None or datatype in _STRING_TYPES):
            yield value
    elif isinstance(value, dict):
        if datatype == "HumanName" or (
            datatype is None and ("family" in value or "given" in value)
        ):
            yield from _compound(value, _NAME_PARTS, " ")
        elif datatype == "Address" or (
            datatype is None and any(p in value for p in _ADDRESS_PARTS)
        ):
            yield from _compound(value, _ADDRESS_PARTS, ", ")


def extract_string_rows(param: str, value: Any, datatype: str | None) -> Iterable[StringRow]:
    """Index rows of a string-like element (R4 search.html#string)."""
    for text in string_values(value, datatype):
        yield StringRow(param, normalize_string(text), text)


# --- matching ------------------------------------------------------------------------------


def value_matches(row: StringRow, value: StringValue, modifier: str | None) -> bool:
    if modifier == "exact":
        return row.value_exact == value.text
    if modifier == "contains":
        return value.norm in row.value_norm
    return row.value_norm.startswith(value.norm)


def matches(rows: Iterable[StringRow], values: Iterable[StringValue], modifier: str | None) -> bool:
    """OR over values."""
    rows = list(rows)
    return any(value_matches(r, v, modifier) for v in values for r in rows)
