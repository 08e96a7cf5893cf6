"""URI search, R4 3.1.1.5.7 (http://hl7.org/fhir/R4/search.html#uri).

Exact match by default (no normalization: URIs are case-sensitive); ``:below`` matches stored
URIs that start with the search value, ``:above`` stored URIs the search value starts with.
Indexed from uri, url, canonical, oid and uuid elements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import UriRow
from wardbook.search.params.escape import unescape


@dataclass(frozen=True, slots=True)
class UriValue:
    uri: str


def parse(text: str) -> UriValue:
    """A URI search value; ValueError when empty."""
    uri = unescape(text)
    if not uri:
        raise ValueError("empty uri value")
    return UriValue(uri)


def extract_uri_rows(param: str, value: Any, datatype: str | None) -> Iterable[UriRow]:
    """Index rows of a uri-like element."""
    if isinstance(value, str) and value:
        yield UriRow(param, value)


def value_matches(row: UriRow, value: UriValue, modifier: str | None) -> bool:
    if modifier == "below":
        return row.uri.startswith(value.uri)
    if modifier == "above":
        return value.uri.startswith(row.uri)
    return row.uri == value.uri


def matches(rows: Iterable[UriRow], values: Iterable[UriValue], modifier: str | None) -> bool:
    """OR over values."""
    rows = list(rows)
    return any(value_matches(r, v, modifier) for v in values for r in rows)
