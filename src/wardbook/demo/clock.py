"""Time for the demo: a fixed default "now" and FHIR date/dateTime/instant formatting.

All generated times are UTC and written with ``Z`` (R4 datatypes.html#dateTime: a time
needs a zone). A fixed default anchor keeps output byte-identical between runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

DEFAULT_NOW = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)


def anchor(now: datetime | None) -> datetime:
    """The generation anchor in UTC, to the second; naive datetimes are taken as UTC."""
    if now is None:
        return DEFAULT_NOW
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def fhir_datetime(moment: datetime) -> str:
    """An instant/dateTime with seconds, e.g. ``2026-10-30T14:05:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fhir_date(day: date) -> str:
    """A date, e.g. ``1948-03-07``."""
    return day.isoformat()
