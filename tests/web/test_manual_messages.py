"""The user manual quotes the web app's real error messages and field names.

Each form's validator (wardbook.web.forms) is given empty, malformed and out-of-range input;
every message it answers must appear word for word on the manual page for that task, so a
clinician who meets a message can find it there. Field labels come from the same source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from wardbook.web import forms
from wardbook.web.appointment_form import validate_appointment

Validator = Callable[[Mapping[str, str]], tuple[object | None, forms.FormErrors]]
MANUAL = Path(__file__).resolve().parents[2] / "docs" / "manual"

VALID_VITALS = {
    "respiratory_rate": "18",
    "spo2": "96",
    "supplemental_oxygen": "air",
    "systolic": "128",
    "diastolic": "76",
    "heart_rate": "82",
    "consciousness": "A",
    "temperature": "37.2",
}


def page_text(name: str) -> str:
    return (MANUAL / name).read_text(encoding="utf-8")


def vitals_messages() -> set[str]:
    """Every kind of message the vital signs form gives, from the validator itself."""
    forms_to_try: list[dict[str, str]] = [
        {},
        {**VALID_VITALS, "supplemental_oxygen": "oxygen", "oxygen_flow": ""},
        {**VALID_VITALS, "supplemental_oxygen": "oxygen", "oxygen_flow": "100"},
        {**VALID_VITALS, "respiratory_rate": "18.5", "heart_rate": "82 reg"},
        {**VALID_VITALS, "temperature": "98.6"},
        {**VALID_VITALS, "temperature": "37.25"},
        {**VALID_VITALS, "systolic": "70", "diastolic": "90"},
    ]
    for measure in forms.VITAL_MEASURES:
        forms_to_try.append({**VALID_VITALS, measure.name: str(measure.high + 1)})
    messages: set[str] = set()
    for form in forms_to_try:
        entry, errors = forms.validate_vitals(form)
        assert entry is None, form
        messages.update(message for _field, message in errors.summary())
    return messages


def test_vital_signs_page_quotes_every_message_and_label() -> None:
    text = page_text("record-vital-signs.md")
    messages = vitals_messages()
    assert len(messages) >= 18
    missing = sorted(m for m in messages if m not in text)
    assert missing == [], f"record-vital-signs.md does not quote: {missing}"
    labels = [m.label for m in forms.VITAL_MEASURES]
    labels += ["Supplemental oxygen", "Oxygen flow rate (if on oxygen)", "Level of consciousness"]
    labels += ["Air", "Oxygen", "Alert", "New confusion", "Voice", "Pain", "Unresponsive", "Save"]
    assert [label for label in labels if f"**{label}**" not in text] == []


@pytest.mark.parametrize(
    ("page", "validate", "inputs"),
    [
        ("write-a-note.md", forms.validate_note, [{}, {"title": "t" * 201, "note": "n" * 20_001}]),
        ("allergies.md", forms.validate_allergy, [{}]),
        ("help-and-feedback.md", forms.validate_feedback, [{}, {"feedback": "f" * 5001}]),
    ],
)
def test_form_pages_quote_every_message(
    page: str, validate: Validator, inputs: list[dict[str, str]]
) -> None:
    text = page_text(page)
    messages: set[str] = set()
    for form in inputs:
        entry, errors = validate(form)
        assert entry is None
        messages.update(message for _field, message in errors.summary())
    assert messages
    assert sorted(m for m in messages if m not in text) == []


def test_problems_page_quotes_every_message() -> None:
    text = page_text("problems.md")
    today = date(2026, 1, 15)
    messages: set[str] = set()
    for form in ({}, {"onset": "31/2/2020"}, {"onset": "1/1/2027"}, {"problem": "p" * 201}):
        _entry, errors = forms.validate_problem(form, today)
        messages.update(message for _field, message in errors.summary())
    assert len(messages) == 4
    assert sorted(m for m in messages if m not in text) == []


LONDON = ZoneInfo("Europe/London")


def test_vital_signs_page_quotes_every_time_taken_message() -> None:
    text = page_text("record-vital-signs.md")
    now = datetime(2027, 3, 29, 12, 0, tzinfo=UTC)  # the day after the clocks went forward
    messages: set[str] = set()
    for form in (
        {"taken_date": "31/2/2027", "taken_time": "9:00"},
        {"taken_date": "29/3/2027"},
        {"taken_time": "2.30pm"},
        {"taken_time": "13:30"},
        {"taken_date": "1/3/2027", "taken_time": "09:00"},
        {"taken_date": "28/3/2027", "taken_time": "01:30"},
    ):
        errors = forms.FormErrors()
        forms.validate_taken(form, now, LONDON, errors)
        messages.update(message for _field, message in errors.summary())
    assert len(messages) == 6
    # The manual quotes the gap message for one real night, the one the form gives here.
    assert sorted(m for m in messages if m not in " ".join(text.split())) == []


def test_read_the_chart_quotes_the_appointment_gap_message() -> None:
    text = " ".join(page_text("read-the-chart.md").split())
    now = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    form = {"reason": "Clinic", "date": "28/3/2027", "time": "01:30", "minutes": "30"}
    entry, errors = validate_appointment(form, now, LONDON)
    assert entry is None
    messages = [message for _field, message in errors.summary()]
    assert len(messages) == 1 and "clocks go forward" in messages[0]
    assert messages[0] in text
