"""Booking appointments, role-aware landing pages and the NEWS2 escalation warning.

Pure validation first, then the pages over HTTP on the real ASGI app on both backends, with
real signed-in sessions for a receptionist and an auditor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.web.test_pages import SAME_SITE, mrn, signed_in_as
from tests.web.test_pages import patient as patient
from tests.web.test_pages import web as web
from wardbook.auth.principal import Principal
from wardbook.storage.base import Repository
from wardbook.web.appointment_form import appointment_resource, validate_appointment
from wardbook.web.localtime import parse_clock

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def errors_of(form: dict[str, str]) -> list[tuple[str, str]]:
    entry, errors = validate_appointment(form, NOW)
    assert entry is None
    return errors.summary()


def test_an_empty_booking_names_every_field_in_page_order() -> None:
    assert errors_of({}) == [
        ("reason", "Enter what the appointment is for"),
        ("date", "Enter the date of the appointment"),
        ("time", "Enter the time of the appointment"),
        ("minutes", "Select how long the appointment is"),
    ]


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("31/02/2027", "10:30", ("date", "must be a real date")),
        ("2027-13-01", "10:30", ("date", "must be a real date")),
        ("next week", "10:30", ("date", "must be a real date")),
        ("1/1/2027", "25:00", ("time", "must be a real time")),
        ("1/1/2027", "10:75", ("time", "must be a real time")),
        ("1/1/2027", "half ten", ("time", "must be a real time")),
        ("25/11/2026", "08:59", ("date", "must be in the future")),
        ("1/1/2030", "10:00", ("date", "within the next 2 years")),
    ],
)
def test_impossible_or_past_dates_and_times_are_refused(
    date: str, time: str, expected: tuple[str, str]
) -> None:
    form = {"reason": "Clinic", "date": date, "time": time, "minutes": "30"}
    [(field, message)] = errors_of(form)
    assert field == expected[0]
    assert expected[1] in message


def test_a_valid_booking_is_a_booked_fhir_appointment() -> None:
    form = {"reason": " Respiratory clinic ", "date": "3/2/2027", "time": "14.30", "minutes": "60"}
    entry, errors = validate_appointment(form, NOW)
    assert not errors and entry is not None
    assert entry.start == datetime(2027, 2, 3, 14, 30, tzinfo=UTC)
    resource = appointment_resource(
        entry, "p1", "Margaret Ellis", NOW, Principal(kind="user", subject="rec.patel")
    )
    assert resource["status"] == "booked"
    assert resource["description"] == "Respiratory clinic"
    assert (resource["start"], resource["end"]) == ("2027-02-03T14:30:00Z", "2027-02-03T15:30:00Z")
    assert resource["minutesDuration"] == 60
    assert resource["participant"] == [
        {
            "actor": {"reference": "Patient/p1", "display": "Margaret Ellis"},
            "required": "required",
            "status": "accepted",
        }
    ]


def test_clock_times() -> None:
    assert parse_clock("9:05") is not None
    assert parse_clock("24:00") is None
    assert parse_clock("0930") is None


@pytest.mark.anyio
async def test_a_receptionist_books_and_sees_the_appointment_but_not_the_chart(
    repository: Repository, web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    day = (datetime.now(UTC) + timedelta(days=42)).date()
    async with signed_in_as(repository, "rec.patel", ["receptionist"]) as desk:
        found = await desk.get("/", params={"q": mrn(patient)})
        assert f'href="/patients/{pid}/appointments"' in found.text
        assert f'href="/patients/{pid}"' not in found.text
        listing = await desk.get(f"/patients/{pid}/appointments")
        assert listing.status_code == 200
        assert "Allergies are not shown to your role" in listing.text
        assert f'href="/patients/{pid}/vitals"' not in listing.text  # no clinical links
        assert '<a href="/manual/manual/read-the-chart/">' in listing.text
        form = await desk.get(f"/patients/{pid}/appointments/new")
        assert '<label class="nhsuk-label" for="reason">What the appointment is for</label>' in (
            form.text
        )
        bad = await desk.post(
            f"/patients/{pid}/appointments/new",
            data={"reason": "Respiratory clinic follow-up", "date": "31/02/2027", "time": "10:30"},
            headers=SAME_SITE,
        )
        assert bad.status_code == 422
        assert "<title>Error: Book an appointment" in bad.text
        assert '<a href="#date">Date of the appointment must be a real date' in bad.text
        assert '<a href="#minutes">Select how long the appointment is</a>' in bad.text
        assert re.search(r'id="date" name="date" type="text" value="31/02/2027"', bad.text)
        assert 'value="Respiratory clinic follow-up"' in bad.text
        assert re.search(r'id="date"[^>]*aria-invalid="true"', bad.text)
        booked = await desk.post(
            f"/patients/{pid}/appointments/new",
            data={
                "reason": "Respiratory clinic follow-up",
                "date": f"{day.day}/{day.month}/{day.year}",
                "time": "10:30",
                "minutes": "30",
            },
            headers=SAME_SITE,
        )
        assert booked.status_code == 303
        assert booked.headers["location"] == f"/patients/{pid}/appointments?booked=1"
        after = await desk.get(booked.headers["location"])
        upcoming = after.text.split("<h2>Upcoming</h2>")[1].split("<h2>Past</h2>")[0]
        assert "Respiratory clinic follow-up" in upcoming
        assert "10:30" in upcoming
        refused = await desk.get(f"/patients/{pid}/vitals")
        assert refused.status_code == 403
    stored = await web.get("/fhir/Appointment", params={"patient": f"Patient/{pid}"})
    ours = [
        e["resource"]
        for e in stored.json()["entry"]
        if e["resource"].get("description") == "Respiratory clinic follow-up"
    ]
    assert len(ours) == 1
    assert ours[0]["start"] == f"{day.isoformat()}T10:30:00Z"
    assert ours[0]["status"] == "booked"
    summary = await web.get(f"/patients/{pid}")
    section = summary.text.split('id="appointments-heading"')[1].split("</section>")[0]
    assert "Respiratory clinic follow-up" in section


@pytest.mark.anyio
async def test_an_auditor_lands_on_the_access_log_and_may_not_book(
    repository: Repository, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    async with signed_in_as(repository, "aud.lin", ["auditor"]) as auditor:
        found = await auditor.get("/", params={"q": mrn(patient)})
        assert f'href="/patients/{pid}/audit"' in found.text
        log = await auditor.get(f"/patients/{pid}/audit")
        assert log.status_code == 200
        assert "<h1>Who looked at this record</h1>" in log.text
        assert "Allergies are not shown to your role" in log.text
        for path in (f"/patients/{pid}/appointments", f"/patients/{pid}/appointments/new"):
            assert (await auditor.get(path)).status_code == 403, path
        posted = await auditor.post(
            f"/patients/{pid}/appointments/new",
            data={"reason": "x", "date": "1/1/2027", "time": "10:00", "minutes": "30"},
            headers=SAME_SITE,
        )
        assert posted.status_code == 403


VITALS = {
    "respiratory_rate": "16",
    "spo2": "97",
    "supplemental_oxygen": "air",
    "systolic": "128",
    "diastolic": "76",
    "heart_rate": "78",
    "consciousness": "A",
    "temperature": "36.9",
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changes", "headline"),
    [
        ({}, None),
        ({"respiratory_rate": "26"}, "Urgent ward-based response needed: NEWS2 score 3"),
        (
            {"respiratory_rate": "22", "spo2": "95", "systolic": "108", "heart_rate": "96"},
            "Urgent response needed: NEWS2 score 5: medium clinical risk",
        ),
        (
            {"respiratory_rate": "26", "spo2": "91", "heart_rate": "131"},
            "Emergency response needed: NEWS2 score 9: high clinical risk",
        ),
    ],
)
async def test_a_worrying_news2_prompts_escalation_on_summary_and_vital_signs(
    web: httpx.AsyncClient, patient: dict[str, Any], changes: dict[str, str], headline: str | None
) -> None:
    pid = patient["id"]
    saved = await web.post(f"/patients/{pid}/vitals/new", data=VITALS | changes, headers=SAME_SITE)
    assert saved.status_code == 303
    for path in (f"/patients/{pid}", f"/patients/{pid}/vitals"):
        page = await web.get(path)
        alerts = re.findall(
            r'<div class="wb-escalation[^"]*" role="alert">\s*<h2[^>]*>([^<]+)', page.text
        )
        if headline is None:
            assert alerts == [], path
        else:
            assert len(alerts) == 1 and alerts[0].startswith(headline), (path, alerts)
            assert "Escalate now" in page.text
