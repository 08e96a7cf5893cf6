"""The hospital's wall-clock time: instants shown in, and local times read from, one zone.

FHIR stores instants with an offset (R4 datatypes.html#instant); a ward reads the clock on
the wall. ``WARDBOOK_TIMEZONE`` (an IANA name, default UTC) is that clock. Showing converts
an instant to the zone and names the zone's abbreviation ("14:05 (BST)"), so a time read
across a daylight-saving change is never mistaken. Reading a typed local time resolves the
two daylight-saving edge cases explicitly instead of guessing silently:

- a time in the spring gap (Europe/London 01:00-01:59 on the last Sunday of March) never
  happens on the wall clock: :class:`NonexistentTime`, which forms show as an error;
- a time in the autumn overlap (01:00-01:59 on the last Sunday of October happens twice)
  is taken as its **first** occurrence (still summer time, PEP 495 ``fold=0``); the
  result says it was ambiguous, and every displayed time carries its abbreviation (BST or
  GMT), so the page shows which one was meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_CLOCK = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def parse_clock(text: str) -> time | None:
    """14:30 or 14.30 (24-hour clock); None when not a real time."""
    match = _CLOCK.match(text)
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


class NonexistentTime(ValueError):
    """A local time skipped when the clocks go forward (it never shows on the wall)."""

    def __init__(self, moment: datetime, before: str, after: str, jump: timedelta) -> None:
        self.moment = moment  # the naive local time that was asked for
        self.before = before  # abbreviation before the change, e.g. GMT
        self.after = after  # and after it, e.g. BST
        self.jump = jump
        super().__init__(f"{moment:%H:%M} does not exist on {moment:%Y-%m-%d}")


@dataclass(frozen=True, slots=True)
class LocalTime:
    """A typed local time resolved to an instant (aware, in the zone)."""

    moment: datetime
    ambiguous: bool  # the autumn overlap: the first of the two occurrences was taken


def zone_abbreviation(moment: datetime) -> str:
    """BST, GMT, CET...; zones without a letter abbreviation give UTC+05:30 style."""
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    text = f"UTC{sign}{minutes // 60:02d}"
    return text + (f":{minutes % 60:02d}" if minutes % 60 else "")


def to_local(moment: datetime, zone: tzinfo) -> datetime:
    """The instant on the hospital's clock (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The hospital's date at an instant (ages and "today" turn over at local midnight)."""
    return to_local(moment, zone).date()


def from_local(day: date, clock: time, zone: tzinfo) -> LocalTime:
    """The instant a wall-clock date and time in ``zone`` mean (see the module docstring)."""
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    # A real local time survives the round trip through UTC; one in the gap comes back moved.
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        earlier = to_local(first.astimezone(UTC) - timedelta(hours=3), zone)
        later = to_local(first.astimezone(UTC) + timedelta(hours=3), zone)
        jump = (later.utcoffset() or timedelta(0)) - (earlier.utcoffset() or timedelta(0))
        raise NonexistentTime(naive, zone_abbreviation(earlier), zone_abbreviation(later), jump)
    ambiguous = first.utcoffset() != second.utcoffset()
    return LocalTime(first, ambiguous)


def gap_message(error: NonexistentTime, what: str) -> str:
    """The form error for a time in the spring gap, in words a ward reads."""
    hours = int(error.jump.total_seconds() // 3600) or 1
    return (
        f"{what} cannot be {error.moment:%H:%M} on {error.moment.day}"
        f" {error.moment:%B %Y}: the clocks go forward {hours} hour"
        f"{'' if hours == 1 else 's'} that night ({error.before} to {error.after}), so that"
        " time does not exist. Enter a time before or after the change"
    )
