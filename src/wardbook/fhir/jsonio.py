"""FHIR JSON parsing and serialization (R4 json.html).

orjson is fast but reads every decimal as a binary float, which loses precision that
FHIR says is significant ("1.50" is not "1.5", R4 datatypes.html#decimal). Bodies
whose numbers would change are parsed on a slower path that keeps each decimal's
original text in a ``Decimal`` (a ``float`` subclass), written back verbatim.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from wardbook.errors import BadRequest

# A fraction ending in 0 ("1.50", "2.0"), an exponent, or more digits than a double keeps.
_LOSSY_NUMBER = re.compile(rb"\d\.\d*0(?=\s*[,\]}])|\d[eE][+-]?\d|\d{16,}")


class Decimal(float):
    """A JSON decimal that remembers how it was written."""

    text: str

    def __new__(cls, text: str) -> Decimal:
        obj = float.__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        # The text as written, so str()/repr() give "1.50", never "1.5".
        return self.text

    __str__ = __repr__


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(obj.text)
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def loads(data: bytes | str) -> Any:
    """Parse JSON, keeping decimal precision; raise BadRequest on malformed input."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if _LOSSY_NUMBER.search(raw) is None:
            return orjson.loads(raw)
        return json.loads(
            raw,
            parse_float=Decimal,
            parse_int=_parse_int,
            parse_constant=_no_constants,
        )
    except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from exc


def _parse_int(text: str) -> int | Decimal:
    value = int(text)
    # Beyond 64 bits orjson would refuse it; keep the text so nothing is rounded.
    if -(2**63) <= value < 2**63:
        return value
    return Decimal(text)


def dumps(obj: Any) -> bytes:
    """Serialize to compact UTF-8 JSON, decimals as written."""
    return orjson.dumps(obj, default=_default)


def dumps_pretty(obj: Any) -> bytes:
    """Indented JSON for humans (``_pretty=true``)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_INDENT_2)
