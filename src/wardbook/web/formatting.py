"""How dates, ages and numbers read on screen (NHS.UK content style: "25 November 2026")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import partial
from typing import Any

from wardbook.web.localtime import to_local, zone_abbreviation

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def parse_fhir_date(text: str | None) -> date | None:
    """The calendar date of a FHIR date or dateTime (partial dates give the first day)."""
    if not text:
        return None
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_fhir_datetime(text: str | None) -> datetime | None:
    """A FHIR dateTime or instant as an aware datetime (dates become midnight UTC)."""
    if not text:
        return None
    if len(text) <= 10:
        day = parse_fhir_date(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fhir_instant_precise(moment: datetime) -> str:
    """To the millisecond when the moment has one (a set saved "now"), else to the second.

    The web app charts one vital-sign set per ``effectiveDateTime``; two sets saved for the
    same patient within one second (two nurses, or a fast client) must stay two sets.
    FHIR dateTime allows fractional seconds (R4 datatypes.html#dateTime).
    """
    moment = moment.astimezone(UTC)
    if moment.microsecond // 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def long_date(value: date | str | None) -> str:
    """25 November 2026."""
    day = parse_fhir_date(value) if isinstance(value, str) or value is None else value
    if day is None:
        return ""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def short_date(value: date | str | None) -> str:
    """25 Nov 2026 (the patient banner's date of birth)."""
    day = parse_fhir_date(value) if isinstance(value, str) or value is None else value
    if day is None:
        return ""
    return f"{day.day} {MONTHS[day.month - 1][:3]} {day.year}"


def date_time(value: datetime | str | None, zone: tzinfo = UTC) -> str:
    """25 Nov 2026, 14:05 (GMT): the instant on the hospital's clock, naming its zone."""
    moment = parse_fhir_datetime(value) if isinstance(value, str) or value is None else value
    if moment is None:
        return ""
    local = to_local(moment, zone)
    return f"{short_date(local.date())}, {local:%H:%M} ({zone_abbreviation(local)})"


def clock_time(value: datetime | None, zone: tzinfo = UTC) -> str:
    """14:05 (BST): the time of day on the hospital's clock, naming its zone."""
    if value is None:
        return ""
    local = to_local(value, zone)
    return f"{local:%H:%M} ({zone_abbreviation(local)})"


def age_on(birth: date, today: date) -> str:
    """Age as the banner shows it: years from 2, else months, else days."""
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if years >= 2:
        return f"{years} years"
    months = (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)
    if months >= 1:
        return f"{months} month" + ("s" if months != 1 else "")
    days = (today - birth).days
    return f"{days} day" + ("s" if days != 1 else "")


def nhs_number(value: str) -> str:
    """485 777 3456: NHS numbers read in groups of 3, 3 and 4."""
    digits = value.replace(" ", "")
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return value


def number(value: float | int | None) -> str:
    """A measured value without a spurious ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


FILTERS: dict[str, Callable[..., Any]] = {
    "long_date": long_date,
    "short_date": short_date,
    "date_time": date_time,
    "clock_time": clock_time,
    "nhs_number": nhs_number,
    "number": number,
}


def filters(zone: tzinfo) -> dict[str, Callable[..., Any]]:
    """The template filters, with times shown in the hospital's zone."""
    return {
        **FILTERS,
        "date_time": partial(date_time, zone=zone),
        "clock_time": partial(clock_time, zone=zone),
    }
