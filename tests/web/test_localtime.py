"""The hospital's clock: WARDBOOK_TIMEZONE, conversion across daylight saving, and pages.

Pure conversions first (Europe/London's spring gap and autumn overlap), then the setting's
validation, then the pages over HTTP on both backends with the zone set to Europe/London: a
summer and a winter reading show in BST and GMT, and a booking in the spring gap is refused.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.web.test_pages import BASE, SAME_SITE
from tests.web.test_pages import patient as patient
from wardbook.app import build_app
from wardbook.auth.principal import Principal
from wardbook.config import ConfigError, Settings, load_settings
from wardbook.ops.config_check import check
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web.appointment_form import validate_appointment
from wardbook.web.formatting import clock_time, date_time
from wardbook.web.forms import FormErrors, Taken, VitalsEntry, validate_taken
from wardbook.web.localtime import (
    NonexistentTime,
    from_local,
    gap_message,
    to_local,
    zone_abbreviation,
)
from wardbook.web.writes import vital_sign_observations

LONDON = ZoneInfo("Europe/London")
# 2027: the clocks go forward at 01:00 GMT on 28 March and back at 02:00 BST on 31 October.
SPRING = date(2027, 3, 28)
AUTUMN = date(2027, 10, 31)


# -- conversion ----------------------------------------------------------------------------


def test_summer_and_winter_instants_show_on_the_wall_clock_with_their_zone() -> None:
    assert date_time("2026-07-01T13:05:00Z", LONDON) == "1 Jul 2026, 14:05 (BST)"
    assert date_time("2026-12-01T13:05:00Z", LONDON) == "1 Dec 2026, 13:05 (GMT)"
    # An offset written by another system is the same instant.
    assert date_time("2026-07-01T15:05:00+02:00", LONDON) == "1 Jul 2026, 14:05 (BST)"
    # The default keeps UTC, and says so.
    assert date_time("2026-07-01T13:05:00Z") == "1 Jul 2026, 13:05 (UTC)"
    assert clock_time(datetime(2026, 7, 1, 23, 30, tzinfo=UTC), LONDON) == "00:30 (BST)"


def test_the_local_date_changes_at_local_midnight_not_utc_midnight() -> None:
    assert date_time("2026-06-30T23:30:00Z", LONDON) == "1 Jul 2026, 00:30 (BST)"


def test_zones_without_letter_abbreviations_show_their_offset() -> None:
    moment = to_local(datetime(2026, 12, 1, 13, 5, tzinfo=UTC), ZoneInfo("America/Sao_Paulo"))
    assert zone_abbreviation(moment) == "UTC-03"
    kathmandu = to_local(datetime(2026, 12, 1, 13, 5, tzinfo=UTC), ZoneInfo("Asia/Kathmandu"))
    assert zone_abbreviation(kathmandu) == "UTC+05:45"


def test_ordinary_local_times_become_the_right_instant() -> None:
    summer = from_local(date(2027, 7, 1), time(14, 5), LONDON)
    assert summer.moment.astimezone(UTC) == datetime(2027, 7, 1, 13, 5, tzinfo=UTC)
    assert not summer.ambiguous
    winter = from_local(date(2027, 1, 15), time(14, 5), LONDON)
    assert winter.moment.astimezone(UTC) == datetime(2027, 1, 15, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize("clock", [time(1, 0), time(1, 30), time(1, 59)])
def test_a_time_in_the_spring_gap_does_not_exist(clock: time) -> None:
    assert last_sunday(2027, 3) == SPRING and last_sunday(2027, 10) == AUTUMN
    with pytest.raises(NonexistentTime) as raised:
        from_local(SPRING, clock, LONDON)
    error = raised.value
    assert (error.before, error.after, error.jump) == ("GMT", "BST", timedelta(hours=1))
    message = gap_message(error, "Time of the appointment")
    assert message.startswith(f"Time of the appointment cannot be {clock:%H:%M} on 28 March 2027")
    assert "clocks go forward 1 hour that night (GMT to BST)" in message


def test_the_edges_of_the_spring_gap_exist() -> None:
    before = from_local(SPRING, time(0, 59), LONDON).moment.astimezone(UTC)
    after = from_local(SPRING, time(2, 0), LONDON).moment.astimezone(UTC)
    assert before == datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
    assert after == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 02:00 BST is 01:00 UTC


def test_a_time_in_the_autumn_overlap_is_its_first_occurrence_and_says_so() -> None:
    taken = from_local(AUTUMN, time(1, 30), LONDON)
    assert taken.ambiguous
    assert taken.moment.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert date_time(taken.moment, LONDON) == "31 Oct 2027, 01:30 (BST)"
    # The second 01:30 exists too and reads differently, so a list never confuses the two.
    assert date_time("2027-10-31T01:30:00Z", LONDON) == "31 Oct 2027, 01:30 (GMT)"
    assert not from_local(AUTUMN, time(2, 0), LONDON).ambiguous


def test_the_appointment_form_reads_times_in_the_hospital_zone() -> None:
    now = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    form = {"reason": "Clinic", "date": "1/7/2027", "time": "14:30", "minutes": "30"}
    entry, errors = validate_appointment(form, now, LONDON)
    assert not errors and entry is not None
    assert entry.start.astimezone(UTC) == datetime(2027, 7, 1, 13, 30, tzinfo=UTC)
    gap = {**form, "date": "28/3/2027", "time": "01:30"}
    entry, errors = validate_appointment(gap, now, LONDON)
    assert entry is None
    [(field, message)] = errors.summary()
    assert field == "time" and "does not exist" in message
    overlap = {**form, "date": "31/10/2027", "time": "01:30"}
    entry, errors = validate_appointment(overlap, now, LONDON)
    assert entry is not None and entry.ambiguous


# -- the setting ---------------------------------------------------------------------------


def test_the_setting_defaults_to_utc_and_reads_wardbook_timezone() -> None:
    assert load_settings({}).zone == ZoneInfo("UTC")
    assert load_settings({"WARDBOOK_TIMEZONE": "Europe/London"}).zone == LONDON


@pytest.mark.parametrize("name", ["Europe/Lodnon", "BST", "../../etc/passwd", "/etc/localtime"])
def test_an_unknown_zone_is_a_config_error_naming_the_setting(name: str) -> None:
    settings = Settings(env="test", timezone=name)
    with pytest.raises(ConfigError, match=r"WARDBOOK_TIMEZONE=.* is not a known IANA time zone"):
        settings.check()
    report = check(settings, {"WARDBOOK_TIMEZONE": name})
    assert not report.ok
    assert any("WARDBOOK_TIMEZONE" in p for p in report.problems)
    assert any(e.name == "timezone" and e.source == "env WARDBOOK_TIMEZONE" for e in report.entries)


def test_a_bad_zone_is_listed_with_the_other_problems() -> None:
    report = check(Settings(env="production", timezone="Mars/Olympus"), {})
    assert any("WARDBOOK_TIMEZONE" in p for p in report.problems)
    assert any("SECRET_KEY" in p for p in report.problems)


# -- pages -----------------------------------------------------------------------------------


@pytest.fixture
async def london(repository: Repository) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Settings(env="test", no_auth=True, timezone="Europe/London"), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


SET = VitalsEntry(18, 97, False, None, 124, 78, 72, "A", 36.8)


async def record_set(repository: Repository, patient_id: str, taken: datetime) -> None:
    service = ResourceService(repository)
    principal = Principal(kind="user", subject="nurse.test")
    outcome = await service.put_many(vital_sign_observations(SET, patient_id, taken, principal))
    assert not [r for r in outcome if isinstance(r, Exception)]


def last_sunday(year: int, month: int) -> date:
    """The EU rule: summer time starts and ends on the last Sunday of March and October."""
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


# Page tests book next year, so they hold whatever year they run in (the horizon is 2 years).
NEXT = datetime.now(UTC).year + 1


def dmy(day: date) -> str:
    return f"{day.day}/{day.month}/{day.year}"


@pytest.mark.anyio
async def test_vitals_page_shows_a_summer_and_a_winter_reading_in_local_time(
    repository: Repository, london: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    await record_set(repository, pid, datetime(2026, 7, 1, 13, 5, tzinfo=UTC))
    await record_set(repository, pid, datetime(2026, 12, 1, 13, 5, tzinfo=UTC))
    page = await london.get(f"/patients/{pid}/vitals")
    assert page.status_code == 200
    assert '<th scope="row">1 Jul 2026, 14:05 (BST)</th>' in page.text
    assert '<th scope="row">1 Dec 2026, 13:05 (GMT)</th>' in page.text
    assert "Times are hospital time (Europe/London)." in page.text
    assert '"zone": "Europe/London"' in page.text  # the chart axes use the same clock


@pytest.mark.anyio
async def test_booking_in_the_spring_gap_is_a_form_error_and_a_summer_time_is_stored_utc(
    london: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    url = f"/patients/{pid}/appointments/new"
    form = {"reason": "Clinic", "date": dmy(last_sunday(NEXT, 3)), "time": "01:30", "minutes": "30"}
    refused = await london.post(url, data=form, headers=SAME_SITE)
    assert refused.status_code == 422
    assert "the clocks go forward 1 hour that night (GMT to BST)" in refused.text
    assert "24-hour clock, hospital time (Europe/London)" in refused.text
    booked = await london.post(
        url, data={**form, "date": f"1/7/{NEXT}", "time": "14:30"}, headers=SAME_SITE
    )
    assert booked.status_code == 303
    stored = await london.get("/fhir/Appointment", params={"patient": f"Patient/{pid}"})
    ours = [
        e["resource"] for e in stored.json()["entry"] if e["resource"]["description"] == "Clinic"
    ]
    assert [a["start"] for a in ours] == [f"{NEXT}-07-01T13:30:00Z"]
    listed = await london.get(booked.headers["location"])
    assert f"1 Jul {NEXT}, 14:30 (BST)" in listed.text


@pytest.mark.anyio
async def test_an_autumn_time_that_happens_twice_is_booked_as_the_first_and_the_page_says_so(
    london: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    autumn = last_sunday(NEXT, 10)
    form = {"reason": "Night clinic", "date": dmy(autumn), "time": "01:30", "minutes": "15"}
    booked = await london.post(f"/patients/{pid}/appointments/new", data=form, headers=SAME_SITE)
    assert booked.status_code == 303
    assert booked.headers["location"].endswith("?booked=1&first=1")
    listed = await london.get(booked.headers["location"])
    assert "booked for the first one, still on summer time" in listed.text
    assert f"{autumn.day} Oct {NEXT}, 01:30 (BST)" in listed.text


# -- "Date taken" and "Time taken" on the vital signs form -----------------------------------


def taken(form: dict[str, str], now: datetime) -> tuple[Taken, list[tuple[str, str]]]:
    errors = FormErrors()
    result = validate_taken(form, now, LONDON, errors)
    return result, errors.summary()


def test_vitals_taken_empty_means_now_and_a_time_alone_means_today_locally() -> None:
    now = datetime(2027, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 BST on 2 July
    result, errors = taken({}, now)
    assert (result.moment, result.entered, errors) == (now, False, [])
    result, errors = taken({"taken_time": "00:10"}, now)
    assert not errors and result.entered
    assert result.moment.astimezone(UTC) == datetime(2027, 7, 1, 23, 10, tzinfo=UTC)
    result, errors = taken({"taken_date": "1/7/2027", "taken_time": "23:50"}, now)
    assert not errors
    assert result.moment.astimezone(UTC) == datetime(2027, 7, 1, 22, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"taken_date": "28/3/2027", "taken_time": "01:15"}, "taken-time", "does not exist"),
        ({"taken_date": "28/3/2027"}, "taken-time", "Enter the time"),
        ({"taken_date": "30/2/2027", "taken_time": "10:00"}, "taken-date", "real date"),
        ({"taken_time": "25:00"}, "taken-time", "real time"),
        ({"taken_date": "28/3/2027", "taken_time": "12:00"}, "taken-time", "in the future"),
        ({"taken_date": "20/3/2027", "taken_time": "10:00"}, "taken-date", "last 7 days"),
    ],
)
def test_vitals_taken_errors_are_readable(form: dict[str, str], field: str, words: str) -> None:
    now = datetime(2027, 3, 28, 9, 0, tzinfo=UTC)  # 10:00 BST, the morning after the gap
    _result, errors = taken(form, now)
    [(where, message)] = errors
    assert where == field and words in message


def test_vitals_taken_in_the_autumn_overlap_is_the_first_occurrence() -> None:
    now = datetime(2027, 10, 31, 9, 0, tzinfo=UTC)
    result, errors = taken({"taken_time": "01:30"}, now)
    assert not errors and result.ambiguous
    assert result.moment.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


@pytest.mark.anyio
async def test_back_timed_vitals_are_stored_as_the_instant_and_shown_on_the_local_clock(
    london: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    when = to_local(datetime.now(UTC) - timedelta(hours=2), LONDON).replace(second=0, microsecond=0)
    form = {
        "respiratory_rate": "18",
        "spo2": "97",
        "supplemental_oxygen": "air",
        "systolic": "124",
        "diastolic": "78",
        "heart_rate": "72",
        "consciousness": "A",
        "temperature": "36.8",
        "taken_date": f"{when.day}/{when.month}/{when.year}",
        "taken_time": f"{when:%H:%M}",
    }
    page = await london.get(f"/patients/{pid}/vitals/new")
    assert "24-hour clock, hospital time (Europe/London)" in page.text
    saved = await london.post(f"/patients/{pid}/vitals/new", data=form, headers=SAME_SITE)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?saved=1&earlier=1")
    found = await london.get(
        "/fhir/Observation", params={"subject": f"Patient/{pid}", "code": "http://loinc.org|9279-1"}
    )
    ours = [
        e["resource"]["effectiveDateTime"]
        for e in found.json()["entry"]
        if e["resource"]["performer"] == [{"display": "local"}]
    ]
    assert ours == [when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
    shown = await london.get(saved.headers["location"])
    assert "charted at the time they were taken" in shown.text
    assert f"{when:%H:%M} ({zone_abbreviation(when)})</th>" in shown.text
    later = to_local(when + timedelta(hours=3), LONDON)
    future = {**form, "taken_date": dmy(later.date()), "taken_time": f"{later:%H:%M}"}
    refused = await london.post(f"/patients/{pid}/vitals/new", data=future, headers=SAME_SITE)
    assert refused.status_code == 422
    assert "Time taken cannot be in the future" in refused.text
    assert re.search(r'id="taken-time"[^>]*aria-invalid="true"', refused.text)


@pytest.mark.anyio
async def test_an_onset_of_today_means_the_hospitals_today_after_midnight_bst(
    london: httpx.AsyncClient, patient: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23:30 UTC on 1 July is 00:30 BST on 2 July: on the ward it is already the 2nd.
    monkeypatch.setattr("wardbook.web.record.now", lambda: datetime(2027, 7, 1, 23, 30, tzinfo=UTC))
    url = f"/patients/{patient['id']}/problems/new"
    saved = await london.post(url, data={"problem": "Fall", "onset": "2/7/2027"}, headers=SAME_SITE)
    assert saved.status_code == 303
    tomorrow = await london.post(
        url, data={"problem": "Fall", "onset": "3/7/2027"}, headers=SAME_SITE
    )
    assert tomorrow.status_code == 422
    assert "Date of onset must be today or in the past" in tomorrow.text
