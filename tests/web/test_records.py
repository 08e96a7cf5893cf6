"""Chart reads through the service layer: latest vital signs from widening time windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wardbook.auth.principal import LOCAL_DEVELOPER
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web import records
from wardbook.web.forms import VitalsEntry
from wardbook.web.writes import vital_sign_observations

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(heart_rate: int) -> VitalsEntry:
    return VitalsEntry(16, 97, False, None, 120, 70, heart_rate, "A", 37.0)


async def patient_with_sets(service: ResourceService, ages: list[timedelta]) -> str:
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Lamb"}]}
    observations = []
    for index, age in enumerate(ages):
        observations += vital_sign_observations(entry(60 + index), "p1", NOW - age, LOCAL_DEVELOPER)
    outcome = await service.put_many([patient, *observations])
    assert not [r for r in outcome if isinstance(r, Exception)]
    return "p1"


@pytest.mark.parametrize(
    ("ages_hours", "expected_sets", "latest_heart_rate"),
    [
        ([2, 30, 24 * 40], 1, 60),  # the last day holds a complete set: only it is read
        ([30, 24 * 40], 1, 60),  # nothing today: the 30-day window
        ([24 * 40, 24 * 50], 2, 60),  # nothing in 30 days: everything
    ],
)
async def test_summary_reads_the_narrowest_window_with_a_complete_set(
    repository: Repository, ages_hours: list[int], expected_sets: int, latest_heart_rate: int
) -> None:
    service = ResourceService(repository)
    pid = await patient_with_sets(service, [timedelta(hours=h) for h in ages_hours])
    summary = await records.load_chart(service, pid, NOW, recent_vitals=True)
    assert len(summary.vitals) == expected_sets
    latest = summary.latest_vitals
    assert latest is not None and latest.heart_rate == latest_heart_rate
    assert latest.news2 is not None and latest.news2.total == 0
    everything = await records.load_chart(service, pid, NOW)
    assert len(everything.vitals) == len(ages_hours)
    assert everything.vitals[-1].heart_rate == 60  # oldest first, the newest last


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
