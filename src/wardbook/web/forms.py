"""Form validation for the web app (pure): typed values or errors per field.

Follows the GOV.UK / NHS.UK error message pattern: each error names the field in plain
words, says what to do, and is shown both next to the field and in an error summary
linking to it; everything the user typed is kept and shown again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from wardbook.web import news2
from wardbook.web.localtime import (
    NonexistentTime,
    from_local,
    gap_message,
    parse_clock,
    to_local,
)
from wardbook.web.records import parse_birth_date

MAX_TITLE = 200
MAX_NOTE = 20_000
MAX_SHORT_TEXT = 200
MAX_FEEDBACK = 5_000


@dataclass(slots=True)
class FormErrors:
    """Errors by field id, in the order the fields appear on the page."""

    items: dict[str, str] = field(default_factory=dict)

    def add(self, field_id: str, message: str) -> None:
        self.items.setdefault(field_id, message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def get(self, field_id: str) -> str | None:
        return self.items.get(field_id)

    def summary(self) -> list[tuple[str, str]]:
        return list(self.items.items())


def text_of(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Measure:
    """One numeric field: its label, unit and the range a real measurement falls in."""

    name: str
    label: str
    unit: str
    low: Decimal
    high: Decimal
    decimals: int  # 0: whole numbers only
    hint: str = ""


VITAL_MEASURES: tuple[Measure, ...] = (
    Measure(
        "respiratory_rate", "Respiratory rate", "breaths per minute", Decimal(1), Decimal(80), 0
    ),
    Measure("spo2", "Oxygen saturation (SpO2)", "%", Decimal(50), Decimal(100), 0),
    Measure("systolic", "Systolic blood pressure", "mmHg", Decimal(40), Decimal(300), 0),
    Measure("diastolic", "Diastolic blood pressure", "mmHg", Decimal(20), Decimal(200), 0),
    Measure("heart_rate", "Heart rate", "beats per minute", Decimal(20), Decimal(250), 0),
    Measure("temperature", "Temperature", "°C", Decimal(25), Decimal("45.0"), 1),
)
OXYGEN_FLOW = Measure(
    "oxygen_flow", "Oxygen flow rate", "litres per minute", Decimal("0.5"), Decimal(60), 1
)


def field_id(name: str) -> str:
    return name.replace("_", "-")


def parse_measure(raw: str, measure: Measure, errors: FormErrors) -> Decimal | None:
    """A number in range with the allowed precision, or an error naming the field."""
    fid = field_id(measure.name)
    label = measure.label
    if raw == "":
        errors.add(fid, f"Enter the {label[0].lower() + label[1:]}")
        return None
    text = raw.replace(",", ".")
    for suffix in ("°c", "°", "c", "%", "mmhg", "bpm", "/min", "l/min"):
        if text.lower().endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.add(fid, f"{label} must be a number")
        return None
    if not value.is_finite():
        errors.add(fid, f"{label} must be a number")
        return None
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > measure.decimals:
        if measure.decimals == 0:
            errors.add(fid, f"{label} must be a whole number")
        else:
            errors.add(fid, f"{label} must have no more than {measure.decimals} decimal place")
        return None
    if not measure.low <= value <= measure.high:
        message = f"{label} must be between {measure.low} and {measure.high} {measure.unit}"
        if measure.name == "temperature" and Decimal(90) <= value <= Decimal(113):
            message += " (enter degrees Celsius, not Fahrenheit)"
        errors.add(fid, message)
        return None
    return value


@dataclass(frozen=True, slots=True)
class VitalsEntry:
    """A validated set of vital signs."""

    respiratory_rate: int
    spo2: int
    on_oxygen: bool
    oxygen_flow: float | None
    systolic: int
    diastolic: int
    heart_rate: int
    consciousness: news2.Acvpu
    temperature: float

    def news2(self) -> news2.News2:
        return news2.score(
            news2.VitalSigns(
                self.respiratory_rate,
                self.spo2,
                self.on_oxygen,
                self.systolic,
                self.heart_rate,
                self.consciousness,
                self.temperature,
            )
        )


def validate_vitals(form: Mapping[str, Any]) -> tuple[VitalsEntry | None, FormErrors]:
    """Check every field (all errors at once) in the order the form shows them."""
    errors = FormErrors()
    values: dict[str, Decimal | None] = {}
    by_name = {m.name: m for m in VITAL_MEASURES}
    values["respiratory_rate"] = parse_measure(
        text_of(form, "respiratory_rate"), by_name["respiratory_rate"], errors
    )
    values["spo2"] = parse_measure(text_of(form, "spo2"), by_name["spo2"], errors)
    oxygen = text_of(form, "supplemental_oxygen")
    flow: Decimal | None = None
    if oxygen not in ("air", "oxygen"):
        errors.add("supplemental-oxygen", "Select whether the patient is breathing air or oxygen")
    elif oxygen == "oxygen":
        flow = parse_measure(text_of(form, "oxygen_flow"), OXYGEN_FLOW, errors)
    for name in ("systolic", "diastolic"):
        values[name] = parse_measure(text_of(form, name), by_name[name], errors)
    systolic, diastolic = values["systolic"], values["diastolic"]
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        errors.add("diastolic", "Diastolic blood pressure must be lower than the systolic")
    values["heart_rate"] = parse_measure(text_of(form, "heart_rate"), by_name["heart_rate"], errors)
    consciousness = text_of(form, "consciousness")
    if consciousness not in news2.ACVPU_LABELS:
        errors.add("consciousness", "Select the level of consciousness")
    values["temperature"] = parse_measure(
        text_of(form, "temperature"), by_name["temperature"], errors
    )
    if errors:
        return None, errors
    rr, spo2, sbp, dbp, hr, temp = (
        values["respiratory_rate"],
        values["spo2"],
        values["systolic"],
        values["diastolic"],
        values["heart_rate"],
        values["temperature"],
    )
    if rr is None or spo2 is None or sbp is None or dbp is None:
        raise RuntimeError("internal error: rr or spo2 or sbp or dbp is missing")
    if hr is None or temp is None:
        raise RuntimeError("internal error: hr or temp is missing")
    entry = VitalsEntry(
        respiratory_rate=int(rr),
        spo2=int(spo2),
        on_oxygen=oxygen == "oxygen",
        oxygen_flow=float(flow) if flow is not None else None,
        systolic=int(sbp),
        diastolic=int(dbp),
        heart_rate=int(hr),
        consciousness=consciousness,  # type: ignore[arg-type]
        temperature=float(temp),
    )
    return entry, errors


# A set is charted when it is taken; a late entry may be back-timed up to a week (a date
# typo of a year would otherwise chart silently in the wrong place), never ahead of the
# clock beyond a few minutes of drift between the bedside device and the server.
TAKEN_WINDOW = timedelta(days=7)
TAKEN_DRIFT = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Taken:
    """When a set of observations was taken."""

    moment: datetime
    entered: bool  # typed by the user (else: now, at saving)
    ambiguous: bool = False  # the autumn overlap: the first occurrence was taken


def validate_taken(
    form: Mapping[str, Any], now: datetime, zone: tzinfo, errors: FormErrors
) -> Taken:
    """The optional "Date taken" and "Time taken" on the hospital's clock; empty means now."""
    date_text, time_text = text_of(form, "taken_date"), text_of(form, "taken_time")
    if not date_text and not time_text:
        return Taken(now, entered=False)
    today = to_local(now, zone).date()
    day = parse_birth_date(date_text) if date_text else today
    clock = parse_clock(time_text) if time_text else None
    if day is None:
        errors.add("taken-date", "Date taken must be a real date, like 25/11/2026")
    if not time_text:
        errors.add("taken-time", "Enter the time the observations were taken")
    elif clock is None:
        errors.add("taken-time", "Time taken must be a real time, like 14:30")
    if day is None or clock is None:
        return Taken(now, entered=False)
    try:
        local = from_local(day, clock, zone)
    except NonexistentTime as gap:
        errors.add("taken-time", gap_message(gap, "Time taken"))
        return Taken(now, entered=False)
    if local.moment > now + TAKEN_DRIFT:
        errors.add("taken-time", "Time taken cannot be in the future")
    elif local.moment < now - TAKEN_WINDOW:
        errors.add("taken-date", "Date taken must be within the last 7 days")
    return Taken(local.moment, entered=True, ambiguous=local.ambiguous)


def validate_text(
    form: Mapping[str, Any],
    name: str,
    label: str,
    errors: FormErrors,
    *,
    limit: int,
    required: bool = True,
) -> str:
    value = text_of(form, name)
    if required and not value:
        errors.add(field_id(name), f"Enter {label}")
    elif len(value) > limit:
        errors.add(
            field_id(name), f"{label[0].upper() + label[1:]} must be {limit:,} characters or fewer"
        )
    if "\x00" in value:
        errors.add(
            field_id(name),
            f"{label[0].upper() + label[1:]} contains a character that cannot be saved",
        )
    return value


@dataclass(frozen=True, slots=True)
class NoteEntry:
    title: str
    text: str


def validate_note(form: Mapping[str, Any]) -> tuple[NoteEntry | None, FormErrors]:
    errors = FormErrors()
    title = validate_text(form, "title", "a title", errors, limit=MAX_TITLE)
    text = validate_text(form, "note", "the note", errors, limit=MAX_NOTE)
    return (None if errors else NoteEntry(title, text)), errors


@dataclass(frozen=True, slots=True)
class ProblemEntry:
    name: str
    onset: str | None  # YYYY-MM-DD


def validate_problem(form: Mapping[str, Any], today: Any) -> tuple[ProblemEntry | None, FormErrors]:
    from wardbook.web.records import parse_birth_date

    errors = FormErrors()
    name = validate_text(form, "problem", "the problem", errors, limit=MAX_SHORT_TEXT)
    onset_text = text_of(form, "onset")
    onset = None
    if onset_text:
        day = parse_birth_date(onset_text)
        if day is None:
            errors.add("onset", "Date of onset must be a real date, like 27/3/2024")
        elif day > today:
            errors.add("onset", "Date of onset must be today or in the past")
        else:
            onset = day.isoformat()
    return (None if errors else ProblemEntry(name, onset)), errors


CRITICALITIES = {"low": "Low risk", "high": "High risk", "unable-to-assess": "Unable to assess"}
SEVERITIES = {"mild": "Mild", "moderate": "Moderate", "severe": "Severe"}


@dataclass(frozen=True, slots=True)
class AllergyEntry:
    substance: str
    reaction: str
    severity: str
    criticality: str


def validate_allergy(form: Mapping[str, Any]) -> tuple[AllergyEntry | None, FormErrors]:
    errors = FormErrors()
    substance = validate_text(form, "substance", "the substance", errors, limit=MAX_SHORT_TEXT)
    reaction = validate_text(form, "reaction", "the reaction", errors, limit=MAX_SHORT_TEXT)
    severity = text_of(form, "severity")
    if severity not in SEVERITIES:
        errors.add("severity", "Select how severe the reaction was")
    criticality = text_of(form, "criticality")
    if criticality not in CRITICALITIES:
        errors.add("criticality", "Select the risk of a future reaction")
    if errors:
        return None, errors
    return AllergyEntry(substance, reaction, severity, criticality), errors


FEEDBACK_KINDS = {
    "problem": "Something is not working",
    "idea": "An idea or suggestion",
    "other": "Something else",
}


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    kind: str
    text: str
    page: str


def validate_feedback(form: Mapping[str, Any]) -> tuple[FeedbackEntry | None, FormErrors]:
    errors = FormErrors()
    kind = text_of(form, "kind")
    if kind not in FEEDBACK_KINDS:
        errors.add("kind", "Select what your feedback is about")
    text = validate_text(form, "feedback", "your feedback", errors, limit=MAX_FEEDBACK)
    page = text_of(form, "page")[:300]
    return (None if errors else FeedbackEntry(kind, text, page)), errors
