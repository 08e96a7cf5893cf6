"""The "Book an appointment" form (pure): validation and the FHIR Appointment it makes.

Errors follow the GOV.UK/NHS.UK pattern of :mod:`wardbook.web.forms`. Times are entered on
the hospital's clock (``WARDBOOK_TIMEZONE``, 24-hour), as Wardbook shows them everywhere, and
stored as UTC instants; the daylight-saving edge cases are :mod:`wardbook.web.localtime`'s.
The resource is an R4 Appointment (http://hl7.org/fhir/R4/appointment.html): status
``booked``, ``start``/``end`` instants,
``minutesDuration`` and the patient as an accepted, required participant (participant is
1..*, and app-1 wants its actor or type; app-2 and app-3: a booked appointment has both
start and end).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from wardbook.auth.principal import Principal
from wardbook.web.chart import Resource
from wardbook.web.forms import MAX_SHORT_TEXT, FormErrors, text_of, validate_text
from wardbook.web.localtime import NonexistentTime, from_local, gap_message, parse_clock
from wardbook.web.records import parse_birth_date
from wardbook.web.writes import fhir_instant

DURATIONS: list[tuple[str, str]] = [("15", "15 minutes"), ("30", "30 minutes"), ("60", "1 hour")]
BOOKING_HORIZON_DAYS = 2 * 366  # clinics book up to about two years ahead


@dataclass(frozen=True, slots=True)
class AppointmentEntry:
    """A validated booking."""

    reason: str
    start: datetime  # aware, on the hospital's clock
    minutes: int
    ambiguous: bool = False  # the autumn overlap: the first occurrence was taken


def validate_appointment(
    form: Mapping[str, Any], now: datetime, zone: tzinfo = UTC
) -> tuple[AppointmentEntry | None, FormErrors]:
    """A booking in the future with a reason, date, time (in ``zone``) and length, or errors."""
    errors = FormErrors()
    reason = validate_text(
        form, "reason", "what the appointment is for", errors, limit=MAX_SHORT_TEXT
    )
    date_text = text_of(form, "date")
    day = parse_birth_date(date_text) if date_text else None
    if not date_text:
        errors.add("date", "Enter the date of the appointment")
    elif day is None:
        errors.add("date", "Date of the appointment must be a real date, like 15/1/2027")
    time_text = text_of(form, "time")
    clock = parse_clock(time_text) if time_text else None
    if not time_text:
        errors.add("time", "Enter the time of the appointment")
    elif clock is None:
        errors.add("time", "Time of the appointment must be a real time, like 14:30")
    minutes_text = text_of(form, "minutes")
    if minutes_text not in dict(DURATIONS):
        errors.add("minutes", "Select how long the appointment is")
    start = None
    ambiguous = False
    if day is not None and clock is not None:
        try:
            local = from_local(day, clock, zone)
        except NonexistentTime as gap:
            errors.add("time", gap_message(gap, "Time of the appointment"))
        else:
            start, ambiguous = local.moment, local.ambiguous
    if start is not None:
        if start <= now:
            errors.add("date", "Date and time of the appointment must be in the future")
        elif start > now + timedelta(days=BOOKING_HORIZON_DAYS):
            errors.add("date", "Date of the appointment must be within the next 2 years")
    if errors or start is None:
        return None, errors
    return AppointmentEntry(reason, start, int(minutes_text), ambiguous), errors


def appointment_resource(
    entry: AppointmentEntry,
    patient_id: str,
    patient_name: str,
    booked: datetime,
    principal: Principal,
) -> Resource:
    """The booked R4 Appointment for one patient."""
    end = entry.start + timedelta(minutes=entry.minutes)
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "description": entry.reason,
        "start": fhir_instant(entry.start),
        "end": fhir_instant(end),
        "minutesDuration": entry.minutes,
        "created": fhir_instant(booked),
        "comment": f"Booked in Wardbook by {principal.subject}",
        "participant": [
            {
                "actor": {"reference": f"Patient/{patient_id}", "display": patient_name},
                "required": "required",
                "status": "accepted",
            }
        ],
    }
