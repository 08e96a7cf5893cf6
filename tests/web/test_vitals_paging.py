"""The vital signs page is paged on time: a record with years of observations shows the
newest sets and an "Older readings" link, each page one bounded search (both backends)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from wardbook.app import build_app
from wardbook.auth.principal import Principal
from wardbook.config import Settings
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web import forms, writes
from wardbook.web.formatting import fhir_instant_precise
from wardbook.web.patients import VITALS_PAGE_SETS

pytestmark = pytest.mark.anyio
SETS = VITALS_PAGE_SETS + 12  # more than one page
FIRST = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def web(repository: Repository) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Settings(env="test", no_auth=True), repository)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


@pytest.fixture
async def patient(repository: Repository) -> str:
    """A patient with SETS complete vital sign sets, one a week (heart rate = set number)."""
    service = ResourceService(repository)
    resources = [{"resourceType": "Patient", "id": "pat-long", "name": [{"family": "Long"}]}]
    nurse = Principal(kind="user", subject="nurse.test", roles=frozenset({"nurse"}))
    for n in range(SETS):
        entry, errors = forms.validate_vitals(
            {
                "respiratory_rate": "16",
                "spo2": "97",
                "supplemental_oxygen": "air",
                "systolic": "120",
                "diastolic": "80",
                "heart_rate": str(60 + n),
                "consciousness": "A",
                "temperature": "36.8",
            }
        )
        assert entry is not None, errors
        taken = FIRST + timedelta(weeks=n)
        for index, observation in enumerate(
            writes.vital_sign_observations(entry, "pat-long", taken, nurse)
        ):
            resources.append({**observation, "id": f"v{n}-{index}"})
    results = await service.put_many(resources)
    assert not [r for r in results if isinstance(r, Exception)]
    return "pat-long"


def heart_rates(html: str) -> list[int]:
    """The heart rate column of the table (7th cell of each row), newest first."""
    body = html.split('id="vitals-table"')[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], flags=re.S)
    return [int(re.findall(r"<td>([^<]*)</td>", row)[5]) for row in rows]


def older_link(html: str) -> str | None:
    found = re.search(r'href="([^"]+)">\s*<span class="nhsuk-pagination__title">Older', html)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_vitals_are_paged_newest_first_with_an_older_readings_link(
    web: httpx.AsyncClient, patient: str
) -> None:
    first = await web.get(f"/patients/{patient}/vitals")
    assert first.status_code == 200
    newest = heart_rates(first.text)
    assert newest == [60 + n for n in reversed(range(SETS - VITALS_PAGE_SETS, SETS))]
    assert '<nav class="nhsuk-pagination wb-pagination" role="navigation"' in first.text
    assert 'aria-label="Vital signs pages"' in first.text
    assert "Newest readings" not in first.text
    # The latest set, scored: heart rate 60 + 61 = 121 scores 2 (RCP 2017), all else 0.
    assert "NEWS2 score 2: low clinical risk" in first.text
    link = older_link(first.text)
    assert link is not None and link.startswith(f"/patients/{patient}/vitals?before=")

    second = await web.get(link)
    assert second.status_code == 200
    older = heart_rates(second.text)
    assert older == [60 + n for n in reversed(range(SETS - VITALS_PAGE_SETS))]
    assert set(newest).isdisjoint(older)
    assert len(newest) + len(older) == SETS  # every set exactly once across the pages
    assert older_link(second.text) is None  # the last page
    assert f'href="/patients/{patient}/vitals">' in second.text  # "Newest readings"
    assert "Newest readings" in second.text
    assert "Older observations" in second.text
    # The charts hold the page's sets, oldest to newest.
    data = second.text.split('id="vitals-data">')[1].split("</script>")[0]
    assert data.count(",") >= len(older) - 1


async def test_a_bad_older_readings_link_is_a_readable_400(
    web: httpx.AsyncClient, patient: str
) -> None:
    for before in ("yesterday", "2021-13-01T08:00:00Z", "x" * 100):
        response = await web.get(f"/patients/{patient}/vitals", params={"before": before})
        assert response.status_code == 400, before
        assert "older readings is not valid" in response.text
    empty = await web.get(f"/patients/{patient}/vitals", params={"before": "2000-01-01T00:00:00Z"})
    assert empty.status_code == 200
    assert "No older vital signs." in empty.text


async def test_sets_saved_within_one_second_stay_separate_sets_across_pages(
    web: httpx.AsyncClient, repository: Repository
) -> None:
    """Sets saved "now" carry milliseconds: two nurses saving within one second chart two
    sets, and the "Older readings" link keeps the millisecond so no set is lost or repeated."""
    service = ResourceService(repository)
    nurse = Principal(kind="user", subject="nurse.test", roles=frozenset({"nurse"}))
    resources: list[dict[str, object]] = [
        {"resourceType": "Patient", "id": "pat-fast", "name": [{"family": "Fast"}]}
    ]
    second = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    count = VITALS_PAGE_SETS + 3
    for n in range(count):
        entry, errors = forms.validate_vitals(
            {
                "respiratory_rate": "16",
                "spo2": "97",
                "supplemental_oxygen": "air",
                "systolic": "120",
                "diastolic": "80",
                "heart_rate": str(60 + n),
                "consciousness": "A",
                "temperature": "36.8",
            }
        )
        assert entry is not None, errors
        taken = second + timedelta(milliseconds=10 * n + 1)  # all within the same second
        for observation in writes.vital_sign_observations(entry, "pat-fast", taken, nurse):
            assert observation["effectiveDateTime"] == (f"2026-11-25T12:00:00.{10 * n + 1:03d}Z")
            resources.append(observation)
    results = await service.put_many(resources)
    assert not [r for r in results if isinstance(r, Exception)]

    first = await web.get("/patients/pat-fast/vitals")
    assert first.status_code == 200
    newest = heart_rates(first.text)
    assert newest == [60 + n for n in reversed(range(3, count))]
    link = older_link(first.text)
    assert link is not None and ".031Z" in link
    rest = heart_rates((await web.get(link)).text)
    assert rest == [62, 61, 60]


def test_a_time_the_nurse_typed_is_written_to_the_second() -> None:
    assert fhir_instant_precise(datetime(2026, 11, 25, 8, 0, tzinfo=UTC)) == (
        "2026-11-25T08:00:00Z"
    )
    assert fhir_instant_precise(datetime(2026, 11, 25, 8, 0, 0, 999_999, tzinfo=UTC)) == (
        "2026-11-25T08:00:00.999Z"
    )
