"""FHIR R4 primitive datatypes in JSON: JSON type and lexical form (R4 datatypes.html#primitive).

Each checker takes a parsed JSON value (see ``wardbook.fhir.jsonio``) and returns ``None``
when it is a valid value of the type, or a one-line reason when it is not. The regexes are
the ones the spec publishes on each type's ``value`` element (structuredefinition-regex),
applied to the whole value, plus the rules the regexes cannot say: real calendar dates,
the 32-bit range of integers, the 1 MB limit of strings (R4 datatypes.html#string).
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from functools import cache

from wardbook.fhir import registry

Problem = tuple[str, str]  # (OperationOutcome issue code, message)
Checker = Callable[[object], Problem | None]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_STRING_CHARS = 1024 * 1024

# Base64 in FHIR may hold whitespace between groups (R4 datatypes.html#base64Binary); the
# published regex backtracks badly on megabyte attachments, so this equivalent check strips
# whitespace and tests the alphabet and the group length instead.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_WHITESPACE = re.compile(r"\s+")
_ILLEGAL_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_DATE_PARTS = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _is_int(value: object) -> bool:
    # bool is an int subclass in Python, but JSON true/false are not numbers.
    return isinstance(value, int) and not isinstance(value, bool)


def _real_date(text: str) -> bool:
    """Whether the date part names a day that exists (2023-02-29 does not)."""
    m = _DATE_PARTS.match(text)
    if m is None or m.group(3) is None:
        return True
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return 1 <= month <= 12 and 1 <= day <= monthrange(year, month)[1]


def _string_checker(type_name: str, pattern: re.Pattern[str] | None) -> Checker:
    is_date = type_name in ("date", "dateTime", "instant")

    def check(value: object) -> Problem | None:
        if not isinstance(value, str):
            return "structure", f"a {type_name} must be a JSON string, not {_json_kind(value)}"
        if value == "":
            return "value", f"a {type_name} must not be empty (R4 json.html: no empty values)"
        if len(value) > MAX_STRING_CHARS:
            return "value", f"a {type_name} must not exceed 1 MB"
        if _ILLEGAL_CONTROL.search(value) is not None:
            return "value", f"a {type_name} must not contain control characters"
        if pattern is not None and pattern.fullmatch(value) is None:
            return "value", f"{_quote(value)} is not a valid {type_name}"
        if is_date and not _real_date(value):
            return "value", f"{_quote(value)} is not a valid {type_name}: no such day"
        return None

    return check


def _check_string(value: object) -> Problem | None:
    if not isinstance(value, str):
        return "structure", f"a string must be a JSON string, not {_json_kind(value)}"
    if value == "":
        return "value", "a string must not be empty (R4 json.html: no empty values)"
    if len(value) > MAX_STRING_CHARS:
        return "value", "a string must not exceed 1 MB"
    if _ILLEGAL_CONTROL.search(value) is not None:
        return "value", "a string must not contain control characters other than tab, CR and LF"
    # Whitespace-only content is a SHOULD NOT in R4 datatypes.html#string, not an error.
    return None


def _check_base64(value: object) -> Problem | None:
    if not isinstance(value, str):
        return "structure", f"a base64Binary must be a JSON string, not {_json_kind(value)}"
    if value == "":
        return "value", "a base64Binary must not be empty (R4 json.html: no empty values)"
    compact = _WHITESPACE.sub("", value)
    if len(compact) % 4 or _BASE64.fullmatch(compact) is None:
        return "value", "the value is not valid base64 (R4 datatypes.html#base64Binary)"
    return None


def _check_boolean(value: object) -> Problem | None:
    if isinstance(value, bool):
        return None
    return "structure", f"a boolean must be JSON true or false, not {_json_kind(value)}"


def _int_checker(type_name: str, low: int) -> Checker:
    def check(value: object) -> Problem | None:
        if not _is_int(value):
            if isinstance(value, float) and _INTEGER_TEXT.fullmatch(getattr(value, "text", "")):
                # jsonio keeps integers beyond 64 bits as Decimal text.
                return "value", f"{getattr(value, 'text', value)} exceeds the 32-bit range"
            if isinstance(value, float):
                return "structure", f"a {type_name} must be a whole JSON number, not {value}"
            return "structure", f"a {type_name} must be a JSON number, not {_json_kind(value)}"
        if not isinstance(value, int):
            raise RuntimeError("internal error: expected isinstance(value, int)")
        if value < low:
            return "value", f"{value} is below the minimum {low} of {type_name}"
        if value > INT32_MAX:
            return "value", f"{value} exceeds the 32-bit maximum of {type_name}"
        return None

    return check


def _check_decimal(value: object) -> Problem | None:
    if _is_int(value):
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "value", "a decimal must be a finite number"
        return None
    return "structure", f"a decimal must be a JSON number, not {_json_kind(value)}"


def _check_xhtml(value: object) -> Problem | None:
    """R4 narrative.html#xhtml: a single div in the XHTML namespace, with some content."""
    if not isinstance(value, str):
        return "structure", f"xhtml must be a JSON string, not {_json_kind(value)}"
    text = value.lstrip()
    if not text.startswith("<div"):
        return "value", "the narrative must be a single XHTML <div> element"
    if "http://www.w3.org/1999/xhtml" not in text[: text.find(">") + 1]:
        return "value", 'the narrative <div> must declare xmlns="http://www.w3.org/1999/xhtml"'
    return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


@cache
def checker(type_name: str) -> Checker:
    """The checker of one primitive type; KeyError if the name is no primitive type."""
    special: dict[str, Checker] = {
        "boolean": _check_boolean,
        "integer": _int_checker("integer", INT32_MIN),
        "positiveInt": _int_checker("positiveInt", 1),
        "unsignedInt": _int_checker("unsignedInt", 0),
        "decimal": _check_decimal,
        "base64Binary": _check_base64,
        "xhtml": _check_xhtml,
        "string": _check_string,
        "markdown": _check_string,
    }
    if type_name in special:
        return special[type_name]
    tdef = registry.type_definition(type_name)
    if tdef.kind != "primitive-type":
        raise KeyError(f"{type_name} is not a primitive type")
    # The spec regexes are XML Schema / Java ones: \s is ASCII whitespace only, so U+00A0
    # inside a code is legal (v2-0550 has such codes).
    pattern = re.compile(tdef.regex, re.ASCII) if tdef.regex else None
    return _string_checker(type_name, pattern)


def check_primitive(type_name: str, value: object) -> Problem | None:
    """Why ``value`` is not a valid JSON ``type_name``, or None when it is."""
    return checker(type_name)(value)


def has_illegal_control_characters(text: str) -> bool:
    """Control characters below U+0020 other than tab, CR, LF (R4 datatypes.html#string)."""
    return _ILLEGAL_CONTROL.search(text) is not None
