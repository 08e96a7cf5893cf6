"""Date search, R4 3.1.1.5.3 (http://hl7.org/fhir/R4/search.html#date).

Every date is a range [low, high) in epoch microseconds at the precision it was written
with: ``2020`` covers the whole year, ``2020-03-01T10:00:00Z`` one second. A Period is the
range from its start to its end (open ends are unbounded), a Timing the outer limits of its
events and bounds (R4 search.html#date: "the specified scheduling details are ignored").
Date-times without a time zone are taken as UTC (the server's time zone).

Prefixes compare ranges (R4 search.html#prefix), target range T = [tl, th), search S = [sl, sh):

===  =============================================  ===========================
eq   S fully contains T                             sl <= tl and th <= sh
ne   S does not fully contain T                     not eq
gt   the range above S intersects T                 th > sh
lt   the range below S intersects T                 tl < sl
ge   gt or eq                                       th > sh or eq
le   lt or eq                                       tl < sl or eq
sa   T starts after S                               tl >= sh
eb   T ends before S                                th <= sl
ap   T intersects S widened by 10% of its distance  tl < ah and th > al
     to now (at least one day)
===  =============================================  ===========================
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from wardbook.search.index import DateRow
from wardbook.search.params.prefix import Prefix, split_prefix

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MIN_MICROS = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * DAY
MAX_MICROS = (date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * DAY


@dataclass(frozen=True, slots=True)
class DateValue:
    """A parsed date search value: prefix and the range the written precision implies."""

    prefix: Prefix
    low: int
    high: int
    text: str


def _digits(text: str, start: int, end: int) -> int:
    part = text[start:end]
    if len(part) != end - start or not (part.isascii() and part.isdigit()):
        raise ValueError(text)
    return int(part)


def _day_micros(year: int, month: int, day: int) -> int:
    return (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * DAY


def _parse_range(text: str) -> tuple[int, int]:
    n = len(text)
    year = _digits(text, 0, 4)
    if year < 1:
        raise ValueError(text)
    if n == 4:
        return _day_micros(year, 1, 1), _day_micros(year, 12, 31) + DAY
    if text[4] != "-":
        raise ValueError(text)
    month = _digits(text, 5, 7)
    if n == 7:
        last = monthrange(year, month)[1] if 1 <= month <= 12 else 0
        return _day_micros(year, month, 1), _day_micros(year, month, last) + DAY
    if text[7] != "-":
        raise ValueError(text)
    day = _digits(text, 8, 10)
    start = _day_micros(year, month, day)
    if n == 10:
        return start, start + DAY
    if text[10] != "T" or n < 16 or text[13] != ":":
        raise ValueError(text)
    hour = _digits(text, 11, 13)
    minute = _digits(text, 14, 16)
    if hour > 23 or minute > 59:
        raise ValueError(text)
    micros = hour * HOUR + minute * MINUTE
    width = MINUTE
    pos = 16
    if pos < n and text[pos] == ":":
        second = _digits(text, 17, 19)
        if second > 60:
            raise ValueError(text)
        micros += min(second, 59) * SECOND
        width = SECOND
        pos = 19
        if pos < n and text[pos] == ".":
            end = pos + 1
            while end < n and "0" <= text[end] <= "9":
                end += 1
            fraction = text[pos + 1 : end]
            if not fraction:
                raise ValueError(text)
            precision = min(len(fraction), 6)
            micros += int(fraction[:precision].ljust(6, "0"))
            width = 10 ** (6 - precision)
            pos = end
    offset = 0
    if pos < n:
        zone = text[pos:]
        if zone == "Z":
            pass
        elif len(zone) == 6 and zone[0] in "+-" and zone[3] == ":":
            tz_hour = _digits(zone, 1, 3)
            tz_minute = _digits(zone, 4, 6)
            if tz_hour > 14 or tz_minute > 59:
                raise ValueError(text)
            offset = (tz_hour * HOUR + tz_minute * MINUTE) * (1 if zone[0] == "+" else -1)
        else:
            raise ValueError(text)
    low = start + micros - offset
    return low, low + width


def parse_date_range(text: str) -> tuple[int, int] | None:
    """The range [low, high) in epoch µs a FHIR date/dateTime/instant covers; None if invalid."""
    try:
        return _parse_range(text)
    except (ValueError, IndexError, OverflowError):
        return None


def parse(text: str) -> DateValue:
    """Parse ``[prefix]date`` (R4 search.html#date); ValueError when it is not a date.

    A space before the zone offset is read as ``+``: clients often leave the ``+`` of
    ``2020-01-01T10:00:00+01:00`` unencoded in the URL, and form decoding makes it a space.
    """
    prefix, rest = split_prefix(text)
    if len(rest) > 19 and rest[-6] == " ":
        rest = rest[:-6] + "+" + rest[-5:]
    bounds = parse_date_range(rest)
    if bounds is None:
        raise ValueError(f"not a valid date: {text!r}")
    return DateValue(prefix, bounds[0], bounds[1], text)


def approximate(value: DateValue, now: int) -> tuple[int, int]:
    """The widened range for ``ap``: 10% of the gap between the value and now, at least a day."""
    gap = abs(now - (value.low + value.high) // 2)
    margin = max(gap // 10, DAY)
    return max(value.low - margin, MIN_MICROS), min(value.high + margin, MAX_MICROS)


# --- extraction ----------------------------------------------------------------------------

_DATE_TYPES = frozenset(("date", "dateTime", "instant"))


def _period_range(period: dict[str, Any]) -> tuple[int, int] | None:
    start = period.get("start")
    end = period.get("end")
    if start is None and end is None:
        return None
    low = MIN_MICROS
    high = MAX_MICROS
    if isinstance(start, str):
        bounds = parse_date_range(start)
        if bounds is None:
            return None
        low = bounds[0]
    if isinstance(end, str):
        bounds = parse_date_range(end)
        if bounds is None:
            return None
        high = bounds[1]
    return (low, high) if low < high else (high, low)


def _timing_range(timing: dict[str, Any]) -> tuple[int, int] | None:
    ranges: list[tuple[int, int]] = []
    events = timing.get("event")
    for event in events if isinstance(events, list) else ():
        if isinstance(event, str) and (bounds := parse_date_range(event)) is not None:
            ranges.append(bounds)
    repeat = timing.get("repeat")
    if isinstance(repeat, dict):
        period = repeat.get("boundsPeriod")
        if isinstance(period, dict) and (bounds := _period_range(period)) is not None:
            ranges.append(bounds)
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def date_bounds(value: Any, datatype: str | None) -> tuple[int, int] | None:
    """The range a date-like element covers (date, dateTime, instant, Period, Timing)."""
    if isinstance(value, str):
        if datatype is None or datatype in _DATE_TYPES:
            return parse_date_range(value)
        return None
    if isinstance(value, dict):
        if datatype == "Period" or (datatype is None and ("start" in value or "end" in value)):
            return _period_range(value)
        if datatype == "Timing" or (datatype is None and ("event" in value or "repeat" in value)):
            return _timing_range(value)
    return None


def extract_date_rows(param: str, value: Any, datatype: str | None) -> Iterable[DateRow]:
    """Index rows of a date-like element (R4 search.html#date, table of target types)."""
    bounds = date_bounds(value, datatype)
    if bounds is not None:
        yield DateRow(param, bounds[0], bounds[1])


# --- matching ------------------------------------------------------------------------------


def range_matches(low: int, high: int, value: DateValue, now: int) -> bool:
    """Whether the target range [low, high) satisfies the prefixed search value."""
    sl, sh = value.low, value.high
    prefix = value.prefix
    if prefix == "eq":
        return sl <= low and high <= sh
    if prefix == "ne":
        return not (sl <= low and high <= sh)
    if prefix == "gt":
        return high > sh
    if prefix == "lt":
        return low < sl
    if prefix == "ge":
        return high > sh or (sl <= low and high <= sh)
    if prefix == "le":
        return low < sl or (sl <= low and high <= sh)
    if prefix == "sa":
        return low >= sh
    if prefix == "eb":
        return high <= sl
    al, ah = approximate(value, now)
    return low < ah and high > al


def matches(rows: Iterable[DateRow], value: DateValue, now: int) -> bool:
    """Whether any row satisfies the value."""
    return any(range_matches(r.low, r.high, value, now) for r in rows)
