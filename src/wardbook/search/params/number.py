"""Number search, R4 3.1.1.5.1 (http://hl7.org/fhir/R4/search.html#number).

A search value's precision is a range: ``100`` is [99.5, 100.5), ``100.00`` is
[99.995, 100.005). ``eq``/``ne`` test the stored value against that range; ``gt``/``lt``/
``ge``/``le`` compare with the exact value ("lt100: values that are less than exactly 100");
``sa``/``eb`` require the value to lie above/below the whole range; ``ap`` accepts values
within 10% of the search value (R4 search.html#prefix, the recommended approximation).
Stored values are points; their own precision range is kept in the index for later use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from wardbook.search.index import NumberRow
from wardbook.search.params.prefix import Prefix, split_prefix


@dataclass(frozen=True, slots=True)
class NumberValue:
    prefix: Prefix
    value: float
    low: float  # the precision range of the search value, [low, high)
    high: float
    text: str


@lru_cache(maxsize=16_384)
def precision_range(text: str) -> tuple[float, float, float]:
    """(value, low, high) of a decimal written as ``text``; ValueError if not a number.

    Cached: a pure function of the text, run for every number and quantity indexed, and
    real data repeats its values (vital signs, lab results, amounts) all the time.
    """
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int):
        raise RuntimeError("internal error: expected isinstance(exponent, int)")
    half = Decimal(5).scaleb(exponent - 1)
    return float(number), float(number - half), float(number + half)


def parse(text: str) -> NumberValue:
    """Parse ``[prefix]number``; ValueError when malformed."""
    prefix, rest = split_prefix(text)
    if not rest or rest.strip() != rest:
        raise ValueError(f"not a number: {text!r}")
    value, low, high = precision_range(rest)
    return NumberValue(prefix, value, low, high, text)


def number_text(value: int | float) -> str:
    """The shortest decimal text of a JSON number (its written precision, where known)."""
    return str(value) if isinstance(value, int) else repr(value)


# --- extraction ----------------------------------------------------------------------------


def _point_row(param: str, value: int | float) -> NumberRow | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    number, low, high = precision_range(number_text(value))
    return NumberRow(param, number, low, high)


def extract_number_rows(param: str, value: Any, datatype: str | None) -> Iterable[NumberRow]:
    """Index rows of integer/decimal elements; a Range gives its low bound and both limits."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        row = _point_row(param, value)
        if row is not None:
            yield row
    elif isinstance(value, dict) and (datatype == "Range" or "low" in value or "high" in value):
        low_q, high_q = value.get("low"), value.get("high")
        low = low_q.get("value") if isinstance(low_q, dict) else None
        high = high_q.get("value") if isinstance(high_q, dict) else None
        lo = float(low) if isinstance(low, int | float) and not isinstance(low, bool) else None
        hi = float(high) if isinstance(high, int | float) and not isinstance(high, bool) else None
        if lo is None and hi is None:
            return
        point = lo if lo is not None else hi
        if point is None:
            raise RuntimeError("internal error: point is missing")
        yield NumberRow(
            param, point, lo if lo is not None else -math.inf, hi if hi is not None else math.inf
        )


# --- matching ------------------------------------------------------------------------------


def approximate_bounds(value: float, low: float, high: float) -> tuple[float, float]:
    """The closed interval ``ap`` accepts: 10% either side, at least the precision range."""
    margin = abs(value) * 0.1
    return min(value - margin, low), max(value + margin, high)


def point_matches(target: float, prefix: Prefix, value: float, low: float, high: float) -> bool:
    """Whether the stored point ``target`` satisfies ``prefix`` against the search value."""
    if prefix == "eq":
        return low <= target < high
    if prefix == "ne":
        return not (low <= target < high)
    if prefix == "gt":
        return target > value
    if prefix == "lt":
        return target < value
    if prefix == "ge":
        return target >= value
    if prefix == "le":
        return target <= value
    if prefix == "sa":
        return target >= high
    if prefix == "eb":
        return target < low
    lo, hi = approximate_bounds(value, low, high)
    return lo <= target <= hi


def matches(rows: Iterable[NumberRow], values: Iterable[NumberValue]) -> bool:
    """OR over values, any row."""
    rows = list(rows)
    return any(
        point_matches(r.value, v.prefix, v.value, v.low, v.high) for v in values for r in rows
    )
