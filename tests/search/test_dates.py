"""Date ranges and prefix semantics, R4 search.html#date and search.html#prefix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wardbook.search.params.date import (
    DAY,
    MAX_MICROS,
    MIN_MICROS,
    SECOND,
    DateValue,
    date_bounds,
    parse,
    parse_date_range,
    range_matches,
)
from wardbook.storage.base import to_micros


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return to_micros(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


NOW = at(2026, 1, 1)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2020", at(2020, 1, 1), at(2021, 1, 1)),
        ("2020-02", at(2020, 2, 1), at(2020, 3, 1)),
        ("2020-12", at(2020, 12, 1), at(2021, 1, 1)),
        ("2024-02", at(2024, 2, 1), at(2024, 3, 1)),
        ("2020-02-29", at(2020, 2, 29), at(2020, 3, 1)),
        ("2020-03-01T10:15Z", at(2020, 3, 1, 10, 15), at(2020, 3, 1, 10, 16)),
        ("2020-03-01T10:15:30Z", at(2020, 3, 1, 10, 15, 30), at(2020, 3, 1, 10, 15, 31)),
        ("2020-03-01T10:15:30.5Z", at(2020, 3, 1, 10, 15, 30) + 500_000, None),
        ("2020-03-01T10:15:30.123+02:00", at(2020, 3, 1, 8, 15, 30) + 123_000, None),
        ("2020-03-01T01:00:00-05:00", at(2020, 3, 1, 6), at(2020, 3, 1, 6, 0, 1)),
        # R4: without a time zone the time is the server's local time; we run on UTC.
        ("2020-03-01T10:15:30", at(2020, 3, 1, 10, 15, 30), at(2020, 3, 1, 10, 15, 31)),
        ("9999", at(9999, 1, 1), MAX_MICROS),
        ("0001-01-01", MIN_MICROS, MIN_MICROS + DAY),
    ],
)
def test_a_date_covers_the_range_of_its_precision(text: str, low: int, high: int | None) -> None:
    bounds = parse_date_range(text)

    assert bounds is not None
    assert bounds[0] == low
    if high is not None:
        assert bounds[1] == high
    else:
        fraction = len(text.split(".")[1].rstrip("Z").split("+")[0])
        assert bounds[1] - bounds[0] == 10 ** (6 - fraction)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "2020-1",
        "2020-00",
        "2020-13-01",
        "2021-02-29",
        "2020-01-01T",
        "2020-01-01T24:00Z",
        "2020-01-01T10:60Z",
        "2020-01-01T10:00:00.Z",
        "2020-01-01T10:00:00+1:00",
        "0000",
        "\uff12\uff10\uff12\uff10",  # fullwidth digits
    ],
)
def test_invalid_dates_have_no_range(text: str) -> None:
    assert parse_date_range(text) is None


def test_period_ends_are_inclusive_of_their_precision_and_open_ends_unbounded() -> None:
    closed = date_bounds({"start": "2020-01", "end": "2020-02"}, "Period")
    open_end = date_bounds({"start": "2020-01-15"}, "Period")
    open_start = date_bounds({"end": "2020-01-15"}, "Period")

    assert closed == (at(2020, 1, 1), at(2020, 3, 1))
    assert open_end == (at(2020, 1, 15), MAX_MICROS)
    assert open_start == (MIN_MICROS, at(2020, 1, 16))
    assert date_bounds({}, "Period") is None


def test_timing_uses_the_outer_limits_of_events_and_bounds() -> None:
    timing = {
        "event": ["2020-03-05", "2020-01-10T08:00:00Z"],
        "repeat": {"boundsPeriod": {"start": "2020-02-01", "end": "2020-04-01"}},
    }

    assert date_bounds(timing, "Timing") == (at(2020, 1, 10, 8), at(2020, 4, 2))


# Target: the day 2020-06-15. Search values around it.
TARGET = (at(2020, 6, 15), at(2020, 6, 16))


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        # eq: the search range fully contains the target
        ("2020", True),
        ("2020-06", True),
        ("2020-06-15", True),
        ("2020-06-15T12:00Z", False),  # target is wider than the search range
        ("2021", False),
        ("ne2020", False),
        ("ne2021", True),
        ("ne2020-06-15T12:00Z", True),
        # gt: the range above the search value intersects the target
        ("gt2020-06-14", True),
        ("gt2020-06-15", False),
        ("gt2020-06-15T12:00Z", True),  # the target ends after the search minute
        ("gt2020", False),
        # lt: the range below the search value intersects the target
        ("lt2020-06-16", True),
        ("lt2020-06-15", False),
        ("lt2020-06-15T12:00Z", True),
        # ge = gt or eq, le = lt or eq
        ("ge2020-06-15", True),
        ("ge2020-06-16", False),
        ("ge2020", True),
        ("le2020-06-15", True),
        ("le2020-06-14", False),
        ("le2020", True),
        # sa: the target starts after the search range; eb: ends before it
        ("sa2020-06-14", True),
        ("sa2020-06-15", False),
        ("sa2020-06-15T12:00Z", False),
        ("eb2020-06-16", True),
        ("eb2020-06-15", False),
        ("eb2020-06-15T12:00Z", False),
        # ap: overlap with the search range widened by 10% of its distance to now
        ("ap2020-06-15", True),
        ("ap2020-01-01", True),  # 6 years before now: ±219 days
        ("ap2019-01-01", False),  # 7 years ago: ±255 days, ends 2019-09 (target 2020-06)
        ("ap2025-12-31", False),  # a day ago: ±1 day
    ],
)
def test_prefix_semantics_on_a_day(search: str, expected: bool) -> None:
    assert range_matches(*TARGET, parse(search), NOW) is expected


def test_ap_widens_by_at_least_a_day_even_near_now() -> None:
    value = parse("ap2025-12-31T23:59:59Z")

    assert range_matches(NOW, NOW + SECOND, value, NOW)
    assert not range_matches(NOW + 2 * DAY, NOW + 2 * DAY + 1, value, NOW)


def test_prefix_semantics_on_an_open_period() -> None:
    ongoing = (at(2020, 1, 1), MAX_MICROS)

    assert range_matches(*ongoing, parse("gt2030"), NOW)
    assert not range_matches(*ongoing, parse("lt2019"), NOW)
    assert not range_matches(*ongoing, parse("2020"), NOW)  # not contained in 2020
    assert range_matches(*ongoing, parse("ne2020"), NOW)
    assert range_matches(*ongoing, parse("ge2020"), NOW)


def test_parse_keeps_the_prefix_and_the_range() -> None:
    assert parse("le2020-02") == DateValue("le", at(2020, 2, 1), at(2020, 3, 1), "le2020-02")
    with pytest.raises(ValueError, match="not a valid date"):
        parse("gt")
