"""Reference search, R4 3.1.1.5.6 (http://hl7.org/fhir/R4/search.html#reference).

Values: ``Type/id`` (optionally ``/_history/version``), a bare ``id`` (the target type is
inferred when the parameter has exactly one target type, otherwise any type matches), an
absolute URL (matched as written), or a canonical ``url|version``. Modifiers: ``:Type``
(``subject:Patient=123``), ``:identifier`` (matches ``Reference.identifier`` as a token,
indexed under the parameter name ``<code>:identifier`` in the token table) and ``:missing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import ReferenceRow, TokenRow
from wardbook.search.params import token
from wardbook.search.params.escape import unescape

IDENTIFIER_SUFFIX = ":identifier"


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    version: str | None
    url: str | None
    identifier: token.TokenValue | None = None


def is_absolute(text: str) -> bool:
    return "://" in text or text.startswith(("urn:", "http:", "https:"))


def split_local(text: str) -> tuple[str, str, str | None] | None:
    """``Type/id[/_history/v]`` → (type, id, version); None when it is not that shape."""
    parts = text.split("/")
    if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return parts[0], parts[1], None
    if len(parts) == 4 and parts[0][:1].isupper() and parts[1] and parts[2] == "_history":
        return parts[0], parts[1], parts[3] or None
    return None


def _split_absolute(url: str) -> tuple[str, str | None, str | None]:
    """(url without _history, type, version) of an absolute RESTful URL."""
    parts = url.split("/")
    version = None
    if len(parts) >= 4 and parts[-2] == "_history":
        version = parts[-1] or None
        parts = parts[:-2]
        url = "/".join(parts)
    target_type = parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() else None
    return url, target_type, version


def parse(
    text: str,
    modifier: str | None = None,
    targets: Sequence[str] = (),
    is_resource_type: Any = None,
) -> ReferenceValue:
    """Parse a reference search value; ValueError when malformed.

    ``modifier`` is ``identifier``, a resource type (the ``:Type`` form) or None.
    """
    if modifier == "identifier":
        return ReferenceValue(None, None, None, None, token.parse(text))
    raw = unescape(text)
    if not raw:
        raise ValueError("empty reference value")
    if modifier is not None:
        local = split_local(raw)
        if local is not None:
            if local[0] != modifier:
                raise ValueError(f"reference {raw!r} is not of type {modifier}")
            return ReferenceValue(modifier, local[1], local[2], None)
        if "/" in raw:
            raise ValueError(f"not an id: {raw!r}")
        return ReferenceValue(modifier, raw, None, None)
    if is_absolute(raw):
        url, _, version = raw.partition("|")
        return ReferenceValue(None, None, version or None, url)
    local = split_local(raw)
    if local is not None:
        if is_resource_type is not None and not is_resource_type(local[0]):
            raise ValueError(f"unknown resource type in reference {raw!r}")
        return ReferenceValue(local[0], local[1], local[2], None)
    if "/" in raw or "|" in raw:
        raise ValueError(f"not a reference: {raw!r}")
    inferred = targets[0] if len(targets) == 1 else None
    return ReferenceValue(inferred, raw, None, None)


# --- extraction ----------------------------------------------------------------------------


def reference_target_type(reference: str) -> str | None:
    """The resource type a literal reference points to (None for urn:, #contained, etc.)."""
    if reference.startswith(("#", "urn:")):
        return None
    if is_absolute(reference):
        return _split_absolute(reference)[1]
    local = split_local(reference)
    return local[0] if local else None


def _reference_rows(param: str, ref: dict[str, Any]) -> Iterable[ReferenceRow | TokenRow]:
    literal = ref.get("reference")
    if isinstance(literal, str) and literal.startswith("#") and len(literal) > 1:
        # A contained resource: its rows live under the local-link scope (extract.py), and
        # this row gives the parameter a value, so ``:missing`` sees the reference.
        yield ReferenceRow(param, None, None, None, literal)
    elif isinstance(literal, str) and literal:
        if literal.startswith("urn:"):
            yield ReferenceRow(param, None, None, None, literal)
        elif is_absolute(literal):
            url, target_type, version = _split_absolute(literal)
            yield ReferenceRow(param, target_type, None, version, url)
        elif (local := split_local(literal)) is not None:
            yield ReferenceRow(param, local[0], local[1], local[2])
    ident = ref.get("identifier")
    if isinstance(ident, dict):
        yield from token.extract_token_rows(param + IDENTIFIER_SUFFIX, ident, "Identifier")


def extract_reference_rows(
    param: str, value: Any, datatype: str | None
) -> Iterable[ReferenceRow | TokenRow]:
    """Index rows of a Reference or canonical/uri element (R4 search.html#reference)."""
    if isinstance(value, dict):
        if datatype in (None, "Reference"):
            yield from _reference_rows(param, value)
    elif isinstance(value, str) and value:
        url, _, version = value.partition("|")
        yield ReferenceRow(param, None, None, version or None, url)


# --- matching ------------------------------------------------------------------------------


def value_matches(row: ReferenceRow, v: ReferenceValue) -> bool:
    if v.url is not None:
        return row.url == v.url and (v.version is None or row.target_version == v.version)
    return (
        row.target_id == v.target_id
        and (v.target_type is None or row.target_type == v.target_type)
        and (v.version is None or row.target_version == v.version)
    )


def matches(
    rows: Iterable[ReferenceRow],
    identifier_rows: Iterable[TokenRow],
    values: Iterable[ReferenceValue],
) -> bool:
    """OR over values; ``:identifier`` values look at the identifier token rows."""
    rows = list(rows)
    identifier_rows = list(identifier_rows)
    for v in values:
        if v.identifier is not None:
            if token.matches(identifier_rows, [v.identifier], None):
                return True
        elif any(value_matches(r, v) for r in rows):
            return True
    return False
