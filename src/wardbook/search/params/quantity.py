"""Quantity search, R4 3.1.1.5.2 (http://hl7.org/fhir/R4/search.html#quantity).

``[prefix]value|system|code`` matches quantities with that system and code, or - when the
unit is a UCUM unit the canonicalisation table knows - any quantity whose canonical value
matches (``5.4|http://unitsofmeasure.org|g`` finds ``5400 mg``). ``value||code`` matches the
code or the unit text; a bare value ignores units. Comparison follows number search
(:mod:`wardbook.search.params.number`). Indexed from Quantity and its profiles (Age,
Count, Distance, Duration, SimpleQuantity, MoneyQuantity), Money (ISO 4217 currency as the
code) and Range (its low bound as the value, both limits kept).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import QuantityRow
from wardbook.search.params.escape import split_escaped, unescape
from wardbook.search.params.number import number_text, point_matches, precision_range
from wardbook.search.params.prefix import Prefix, split_prefix
from wardbook.search.ucum import UCUM_SYSTEM, to_canonical

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


@dataclass(frozen=True, slots=True)
class Canonical:
    """The search value converted to its canonical UCUM unit."""

    value: float
    low: float
    high: float
    code: str


@dataclass(frozen=True, slots=True)
class QuantityValue:
    prefix: Prefix
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    canonical: Canonical | None


def _canonical(value: float, low: float, high: float, code: str) -> Canonical | None:
    point = to_canonical(value, code)
    lo = to_canonical(low, code)
    hi = to_canonical(high, code)
    if point is None or lo is None or hi is None:
        return None
    return Canonical(point[0], lo[0], hi[0], point[1])


def parse(text: str) -> QuantityValue:
    """Parse ``[prefix]number[|[system]|code]``; ValueError when malformed."""
    parts = split_escaped(text, "|")
    if len(parts) not in (1, 3):
        raise ValueError(f"quantity must be number|system|code: {text!r}")
    prefix, number = split_prefix(parts[0])
    if not number or number.strip() != number:
        raise ValueError(f"not a number: {text!r}")
    value, low, high = precision_range(number)
    system = code = None
    if len(parts) == 3:
        system = unescape(parts[1]) or None
        code = unescape(parts[2]) or None
        if system is not None and code is None:
            raise ValueError(f"quantity with a system needs a code: {text!r}")
    canonical = None
    if code is not None and system in (None, UCUM_SYSTEM):
        canonical = _canonical(value, low, high, code)
    return QuantityValue(prefix, value, low, high, system, code, canonical)


# --- extraction ----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _quantity_row(param: str, quantity: dict[str, Any]) -> QuantityRow | None:
    raw = quantity.get("value")
    number = _number(raw)
    if number is None:
        return None
    _, low, high = precision_range(number_text(raw if isinstance(raw, int) else number))
    system = _text(quantity.get("system"))
    code = _text(quantity.get("code"))
    unit = _text(quantity.get("unit"))
    currency = _text(quantity.get("currency"))
    if currency is not None and code is None:
        system, code = CURRENCY_SYSTEM, currency
    canonical = None
    if code is not None and system in (None, UCUM_SYSTEM):
        canonical = to_canonical(number, code)
    return QuantityRow(
        param,
        number,
        low,
        high,
        system,
        code,
        unit,
        canonical[0] if canonical else None,
        canonical[1] if canonical else None,
    )


def _range_row(param: str, range_: dict[str, Any]) -> QuantityRow | None:
    low_q = range_.get("low") if isinstance(range_.get("low"), dict) else None
    high_q = range_.get("high") if isinstance(range_.get("high"), dict) else None
    low_row = _quantity_row(param, low_q) if low_q else None
    high_row = _quantity_row(param, high_q) if high_q else None
    base = low_row or high_row
    if base is None:
        return None
    return QuantityRow(
        param,
        base.value,
        low_row.value if low_row else -math.inf,
        high_row.value if high_row else math.inf,
        base.system,
        base.code,
        base.unit,
        base.canonical_value,
        base.canonical_code,
    )


def extract_quantity_rows(param: str, value: Any, datatype: str | None) -> Iterable[QuantityRow]:
    """Index rows of a Quantity, Money or Range element."""
    if not isinstance(value, dict):
        return
    if datatype == "Range" or (datatype is None and ("low" in value or "high" in value)):
        row = _range_row(param, value)
    elif datatype == "SampledData":
        row = None
    else:
        row = _quantity_row(param, value)
    if row is not None:
        yield row


# --- matching ------------------------------------------------------------------------------


def value_matches(row: QuantityRow, v: QuantityValue) -> bool:
    """Whether one row satisfies one search value (same logic as the SQL)."""
    if v.code is None:
        return point_matches(row.value, v.prefix, v.value, v.low, v.high)
    if v.system is None:
        unit_ok = row.code == v.code or row.unit == v.code
    else:
        unit_ok = row.system == v.system and row.code == v.code
    if unit_ok and point_matches(row.value, v.prefix, v.value, v.low, v.high):
        return True
    c = v.canonical
    return (
        c is not None
        and row.canonical_code == c.code
        and row.canonical_value is not None
        and point_matches(row.canonical_value, v.prefix, c.value, c.low, c.high)
    )


def matches(rows: Iterable[QuantityRow], values: Iterable[QuantityValue]) -> bool:
    """OR over values, any row."""
    rows = list(rows)
    return any(value_matches(r, v) for v in values for r in rows)
