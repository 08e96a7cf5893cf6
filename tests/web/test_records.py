"""Chart reads through the service layer: latest vital signs from widening time windows,
and the banner's age on the hospital's calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wardbook.auth.principal import LOCAL_DEVELOPER
from wardbook.demo import generate
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web import records
from wardbook.web.forms import VitalsEntry
from wardbook.web.localtime import local_date
from wardbook.web.writes import vital_sign_observations

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(heart_rate: int) -> VitalsEntry:
    return VitalsEntry(16, 97, False, None, 120, 70, heart_rate, "A", 37.0)


async def patient_with_sets(
    service: ResourceService, complete: list[timedelta], partial: Sequence[timedelta] = ()
) -> str:
    """Complete NEWS2 sets at ``complete`` ages (heart rate 60, 61, ...) and clinic sets
    (blood pressure and pulse only, heart rate 100) at ``partial`` ages."""
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Lamb"}]}
    observations = []
    for index, age in enumerate(complete):
        observations += vital_sign_observations(entry(60 + index), "p1", NOW - age, LOCAL_DEVELOPER)
    for age in partial:
        clinic = vital_sign_observations(entry(100), "p1", NOW - age, LOCAL_DEVELOPER)
        observations += [
            o for o in clinic if o["code"]["coding"][0]["code"] in ("85354-9", "8867-4")
        ]
    outcome = await service.put_many([patient, *observations])
    assert not [r for r in outcome if isinstance(r, Exception)]
    return "p1"


async def test_summary_reads_the_latest_values_of_each_code(repository: Repository) -> None:
    service = ResourceService(repository)
    hours = [2, 8, 14, 20, 26, 32]
    pid = await patient_with_sets(service, [timedelta(hours=h) for h in hours])
    summary = await records.load_chart(service, pid, NOW, recent_vitals=True)
    assert len(summary.vitals) == records.LATEST_SETS  # not all six
    latest = summary.latest_vitals
    assert latest is not None and latest.heart_rate == 60
    assert latest.news2 is not None and latest.news2.total == 0
    everything = await records.load_chart(service, pid, NOW)
    assert len(everything.vitals) == len(hours)
    assert [v.heart_rate for v in everything.vitals] == [65, 64, 63, 62, 61, 60]


async def test_summary_reads_everything_when_the_latest_values_are_partial(
    repository: Repository,
) -> None:
    service = ResourceService(repository)
    partial = [timedelta(hours=h) for h in (1, 2, 3, 4, 5)]
    pid = await patient_with_sets(service, [timedelta(days=40)], partial)
    summary = await records.load_chart(service, pid, NOW, recent_vitals=True)
    latest = summary.latest_vitals  # the latest set NEWS2 can score, weeks old
    assert latest is not None and latest.news2 is not None and latest.heart_rate == 60
    assert summary.vitals[-1].heart_rate == 100  # the clinic sets are there too


async def test_find_patients_by_each_kind_of_input(repository: Repository) -> None:
    service = ResourceService(repository)
    await service.put_many(
        [
            {
                "resourceType": "Patient",
                "id": "p2",
                "name": [{"family": "O'Neill", "given": ["Aoife"]}],
                "birthDate": "1961-03-09",
                "identifier": [
                    {"system": "https://wardbook.example.org/fhir/sid/mrn", "value": "MRN0000042"}
                ],
            }
        ]
    )
    for text in ("aoife", "o'neill aoife", "9/3/1961", "1961-03-09", "mrn0000042"):
        found = await records.find_patients(service, text)
        assert [p["id"] for p in found] == ["p2"], text
    assert await records.find_patients(service, "31/2/1961") == []  # not a date: a name
    assert records.patient_search_params("") is None


async def test_my_ward_lists_patients_with_a_current_encounter_there(
    repository: Repository,
) -> None:
    service = ResourceService(repository)
    records_by_patient = list(generate(6, seed=1))
    await service.put_many([r for record in records_by_patient for r in record])
    current: dict[str, set[str]] = {}
    for record in records_by_patient:
        for resource in record:
            if resource["resourceType"] == "Encounter" and resource["status"] == "in-progress":
                ward = resource["location"][0]["location"]["reference"].split("/")[1]
                current.setdefault(ward, set()).add(resource["subject"]["reference"][8:])
    assert current, "the demo data has current admissions"
    ward, expected = next(iter(current.items()))
    found = await records.ward_patients(service, frozenset({ward}))
    assert {p["id"] for p in found} == expected
    assert await records.ward_patients(service, frozenset()) == []
    assert await records.ward_patients(service, frozenset({"no-such-ward"})) == []


LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("now", "age"),
    [
        # 22:59 UTC on 14 July is 23:59 BST: still the day before her 76th birthday.
        (datetime(2026, 7, 14, 22, 59, tzinfo=UTC), "75 years"),
        # 23:30 UTC on 14 July is 00:30 BST on 15 July: the ward's calendar says 76 (the UTC
        # date, still the 14th, said 75 for the first hour of the day).
        (datetime(2026, 7, 14, 23, 30, tzinfo=UTC), "76 years"),
        (datetime(2026, 7, 15, 0, 30, tzinfo=UTC), "76 years"),
    ],
)
async def test_banner_age_turns_over_at_the_hospitals_midnight(
    repository: Repository, now: datetime, age: str
) -> None:
    service = ResourceService(repository)
    patient = {
        "resourceType": "Patient",
        "id": "born-in-july",
        "name": [{"family": "Ellis", "given": ["Margaret"]}],
        "birthDate": "1950-07-15",
    }
    await service.put_many([patient])
    chart = await records.load_chart(service, "born-in-july", now, zone=LONDON)
    assert chart.banner.age == age
    # The same instant on a UTC server's clock: the birthday starts an hour later.
    on_utc = await records.load_chart(service, "born-in-july", now)
    expected_utc = "76 years" if now.date() >= date(2026, 7, 15) else "75 years"
    assert on_utc.banner.age == expected_utc


def test_local_date_is_the_wall_calendar_date() -> None:
    late = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)
    assert local_date(late, LONDON) == date(2026, 7, 15)
    assert local_date(late, UTC) == date(2026, 7, 14)
    # In winter London is on GMT: the same time of night is still the 14th.
    assert local_date(datetime(2026, 1, 14, 23, 30, tzinfo=UTC), LONDON) == date(2026, 1, 14)
