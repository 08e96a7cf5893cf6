"""Token search, R4 3.1.1.5.4 (http://hl7.org/fhir/R4/search.html#token).

Indexed from Coding (system, code, display), CodeableConcept (each coding, plus its text),
Identifier (system, value; type text), ContactPoint (system, value), code, boolean, id,
uri and string elements. Search forms: ``code`` (any system), ``system|code``, ``|code``
(no system), ``system|`` (any code in the system); modifiers ``:not`` (no row matches,
including resources without a value), ``:text`` (string match on the display text) and
``:of-type`` (Identifier parameters: ``type-system|type-code|value``, R4 search.html#token:
"the search parameter is searching on the type and value of an identifier").

``:of-type`` is answered from extra token rows the extractor writes for every Identifier
whose ``type`` has codings: parameter ``<code>:of-type``, ``system`` the type coding's
system and ``code`` the escaped type code and the identifier value joined by ``|``
(:func:`of_type_key`), so one B-tree probe on ``idx_token_code`` answers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import TokenRow
from wardbook.search.normalize import normalize_string
from wardbook.search.params.escape import escape, split_escaped, unescape

OF_TYPE_SUFFIX = ":of-type"


@dataclass(frozen=True, slots=True)
class TokenValue:
    """``system`` None with ``any_system`` False is the ``|code`` form (no system)."""

    system: str | None
    code: str | None
    any_system: bool
    text: str  # normalized, for :text only


def parse(text: str, modifier: str | None = None) -> TokenValue:
    """Split ``[system]|[code]`` (still escaped, R4 search.html#escaping); ValueError if empty."""
    if not text:
        raise ValueError("empty token value")
    if modifier == "text":
        norm = normalize_string(unescape(text))
        if not norm:
            raise ValueError("empty token text")
        return TokenValue(None, None, True, norm)
    if modifier == "of-type":
        return parse_of_type(text)
    parts = split_escaped(text, "|", 1)
    if len(parts) == 1:
        return TokenValue(None, unescape(text), True, "")
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise ValueError(f"token value has neither system nor code: {text!r}")
    return TokenValue(system or None, code or None, False, "")


def of_type_key(type_code: str, value: str) -> str:
    """The stored ``code`` of an ``:of-type`` row: escaped type code, ``|``, escaped value."""
    return f"{escape(type_code)}|{escape(value)}"


def parse_of_type(text: str) -> TokenValue:
    """``[type-system]|[type-code]|[value]``: all three parts are required (R4 #token)."""
    parts = split_escaped(text, "|")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f":of-type takes system|code|value (the identifier type and the value), not {text!r}"
        )
    system, type_code, value = (unescape(p) for p in parts)
    return TokenValue(system, of_type_key(type_code, value), False, "")


# --- extraction ----------------------------------------------------------------------------

_STRING_LIKE = frozenset(
    ("code", "string", "id", "uri", "url", "canonical", "oid", "uuid", "markdown")
)


def _coding_row(param: str, coding: dict[str, Any]) -> TokenRow | None:
    system = coding.get("system")
    code = coding.get("code")
    if not isinstance(system, str):
        system = None
    if not isinstance(code, str):
        code = None
    display = coding.get("display")
    text = normalize_string(display) if isinstance(display, str) and display else None
    if system is None and code is None and not text:
        return None
    # A display alone still answers ``:text`` (R4 search.html#token: "Coding.display").
    return TokenRow(param, system, code, text)


def _concept_rows(param: str, concept: dict[str, Any]) -> Iterable[TokenRow]:
    codings = concept.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, dict) and (row := _coding_row(param, coding)) is not None:
            yield row
    text = concept.get("text")
    if isinstance(text, str) and text:
        yield TokenRow(param, None, None, normalize_string(text))


def _identifier_row(param: str, ident: dict[str, Any]) -> TokenRow | None:
    system = ident.get("system")
    value = ident.get("value")
    if not isinstance(system, str):
        system = None
    if not isinstance(value, str):
        value = None
    if system is None and value is None:
        return None
    type_text = None
    ident_type = ident.get("type")
    if isinstance(ident_type, dict) and isinstance(ident_type.get("text"), str):
        type_text = normalize_string(ident_type["text"])
    return TokenRow(param, system, value, type_text)


def _of_type_rows(param: str, ident: dict[str, Any]) -> Iterable[TokenRow]:
    value = ident.get("value")
    ident_type = ident.get("type")
    if not isinstance(value, str) or not isinstance(ident_type, dict):
        return
    codings = ident_type.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if not isinstance(coding, dict):
            continue
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            yield TokenRow(param + OF_TYPE_SUFFIX, system, of_type_key(code, value))


def extract_of_type_rows(param: str, value: Any, datatype: str | None) -> Iterable[TokenRow]:
    """The ``:of-type`` rows of an Identifier (one per coded type); none for other types."""
    if isinstance(value, dict):
        kind = datatype if datatype in _DICT_KINDS else _guess(value)
        if kind == "Identifier":
            yield from _of_type_rows(param, value)


def _guess(value: dict[str, Any]) -> str:
    if "coding" in value or ("text" in value and len(value) <= 2 and "value" not in value):
        return "CodeableConcept"
    if "value" in value and ("rank" in value or ("system" in value and "type" not in value)):
        return "ContactPoint"
    if "value" in value:
        return "Identifier"
    return "Coding"


def extract_token_rows(
    param: str,
    value: Any,
    datatype: str | None,
    implicit_systems: Mapping[str, str] | None = None,
) -> Iterable[TokenRow]:
    """Index rows of a token-like element (R4 search.html#token, table of target types)."""
    if isinstance(value, bool):
        yield TokenRow(param, None, "true" if value else "false")
    elif isinstance(value, str):
        if datatype is None or datatype in _STRING_LIKE:
            system = implicit_systems.get(value) if implicit_systems else None
            yield TokenRow(param, system, value)
    elif isinstance(value, dict):
        kind = datatype if datatype in _DICT_KINDS else _guess(value)
        if kind == "CodeableConcept":
            yield from _concept_rows(param, value)
        elif kind == "Coding":
            row = _coding_row(param, value)
            if row is not None:
                yield row
        else:  # Identifier, ContactPoint: (system, value)
            row = _identifier_row(param, value)
            if row is not None:
                yield row


_DICT_KINDS = frozenset(("CodeableConcept", "Coding", "Identifier", "ContactPoint"))


# --- matching ------------------------------------------------------------------------------


def value_matches(row: TokenRow, value: TokenValue, modifier: str | None) -> bool:
    """Whether one row matches one value (``:not`` is applied by the caller)."""
    if modifier == "text":
        return row.text is not None and row.text.startswith(value.text)
    if value.any_system:
        return value.code is not None and row.code == value.code
    if value.system is None:
        return row.system is None and row.code == value.code
    if value.code is None:
        return row.system == value.system
    return row.system == value.system and row.code == value.code


def matches(rows: Iterable[TokenRow], values: Iterable[TokenValue], modifier: str | None) -> bool:
    """OR over values; ``:not`` holds when no row matches any value (R4 search.html#token)."""
    rows = list(rows)
    hit = any(value_matches(r, v, modifier) for v in values for r in rows)
    return not hit if modifier == "not" else hit
