"""Discharge from the web app: the confirmation form, roles, If-Match conflicts, the ward list.

Over HTTP on the real ASGI app on both backends, with real signed-in sessions: a nurse and a
physician assigned to the patient's ward, a receptionist and an auditor. The patient is
admitted (an in-progress in-patient Encounter at a ward Location) the way a PAS feed would.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import httpx
import pytest

from tests.web.test_pages import SAME_SITE, signed_in_as
from tests.web.test_pages import patient as patient
from tests.web.test_pages import web as web
from wardbook.auth.principal import Principal
from wardbook.auth.roles import user_may
from wardbook.demo import shared_resources
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web.discharge import discharged

pytestmark = pytest.mark.anyio

ADMITTED = "2026-11-20T10:15:00Z"


@pytest.fixture
async def ward(repository: Repository, patient: dict[str, Any]) -> dict[str, str]:
    """The patient admitted to a ward: its Location id and the Encounter id."""
    location = next(r for r in shared_resources(seed=7) if r["resourceType"] == "Location")
    service = ResourceService(repository)
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP",
            "display": "inpatient encounter",
        },
        "type": [{"text": "Emergency hospital admission"}],
        "subject": {"reference": f"Patient/{patient['id']}"},
        "period": {"start": ADMITTED},
        "location": [
            {
                "location": {"reference": f"Location/{location['id']}", "display": "Ward 7"},
                "status": "active",
                "period": {"start": ADMITTED},
            }
        ],
    }
    written = await service.create("Encounter", encounter)
    return {"location": location["id"], "encounter": written.stored.id}


def signed_in(
    repository: Repository, username: str, roles: list[str], wards: list[str]
) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    """A real signed-in session for a new user assigned to ``wards``."""
    return signed_in_as(repository, username, roles, wards)


def ward_list(page: str) -> str:
    """The "Patients on my ward" section of the find page ("" when the ward is empty)."""
    if "<h2>Patients on my ward</h2>" not in page:
        return ""
    return page.split("<h2>Patients on my ward</h2>")[1].split("</ul>")[0]


def hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert match, name
    return match[1]


def confirm_form(page: str) -> dict[str, str]:
    return {name: hidden(page, name) for name in ("csrf_token", "encounter", "version")}


async def stored_encounter(repository: Repository, encounter_id: str) -> dict[str, Any]:
    stored = await repository.read("Encounter", encounter_id)
    assert stored is not None and stored.body is not None
    body: dict[str, Any] = json.loads(stored.body)
    return body


async def encounter_of(client: httpx.AsyncClient, encounter_id: str) -> dict[str, Any]:
    found = await client.get(f"/fhir/Encounter/{encounter_id}")
    assert found.status_code == 200
    body: dict[str, Any] = found.json()
    return body


async def test_a_nurse_discharges_and_the_patient_leaves_the_ward_list(
    repository: Repository, patient: dict[str, Any], ward: dict[str, str]
) -> None:
    pid = patient["id"]
    async with signed_in(repository, "nurse.ward", ["nurse"], [ward["location"]]) as nurse:
        before = await nurse.get("/")
        assert f'href="/patients/{pid}"' in ward_list(before.text)
        summary = await nurse.get(f"/patients/{pid}")
        assert f'href="/patients/{pid}/discharge">Discharge</a>' in summary.text
        page = await nurse.get(f"/patients/{pid}/discharge")
        assert page.status_code == 200
        assert "<h1>Discharge " in page.text and "?</h1>" in page.text
        assert "Ward 7" in page.text
        assert "20 Nov 2026, 10:15 (UTC)" in page.text
        form = confirm_form(page.text)
        assert form["encounter"] == ward["encounter"] and form["version"] == "1"
        assert form["csrf_token"]
        done = await nurse.post(f"/patients/{pid}/discharge", data=form, headers=SAME_SITE)
        assert done.status_code == 303
        assert done.headers["location"] == "/?discharged=1"
        after = await nurse.get(done.headers["location"])
        assert "Patient discharged" in after.text
        assert f'href="/patients/{pid}"' not in ward_list(after.text)
        assert f'href="/patients/{pid}"' in after.text  # still in recent patients
        stay = await stored_encounter(repository, ward["encounter"])
        assert stay["status"] == "finished"
        assert stay["meta"]["versionId"] == "2"
        assert stay["period"]["start"] == ADMITTED
        assert stay["period"]["end"] > ADMITTED
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stay["period"]["end"])
        assert [p["status"] for p in stay["location"]] == ["completed"]
        assert stay["location"][0]["period"]["end"] == stay["period"]["end"]
        # Nothing left to discharge: a readable page, not a 500.
        again = await nurse.get(f"/patients/{pid}/discharge")
        assert again.status_code in (403, 404)  # 403 once the ward no longer links them


async def test_a_physician_may_discharge_and_an_auditor_may_not(
    repository: Repository, patient: dict[str, Any], ward: dict[str, str]
) -> None:
    pid = patient["id"]
    async with signed_in(repository, "dr.ward", ["physician"], [ward["location"]]) as doctor:
        page = await doctor.get(f"/patients/{pid}/discharge")
        assert page.status_code == 200
        assert ">Discharge patient</button>" in page.text
    async with signed_in(repository, "audit.ward", ["auditor"], [ward["location"]]) as auditor:
        refused = await auditor.get(f"/patients/{pid}/discharge")
        assert refused.status_code == 403
        assert "Your role cannot discharge patients" in refused.text
        form = {"encounter": ward["encounter"], "version": "1"}
        posted = await auditor.post(f"/patients/{pid}/discharge", data=form, headers=SAME_SITE)
        assert posted.status_code == 403
    service = ResourceService(repository)
    stored = await service.repository.read("Encounter", ward["encounter"])
    assert stored is not None and stored.version == 1  # nothing was written


@pytest.mark.parametrize(
    ("role", "expected"),
    [("nurse", 200), ("physician", 200), ("auditor", 403), ("receptionist", None)],
)
async def test_who_may_discharge_follows_the_role_table(
    repository: Repository,
    patient: dict[str, Any],
    ward: dict[str, str],
    role: str,
    expected: int | None,
) -> None:
    # Receptionists hold the scheduling group's writes (Encounter is in it, roles.py), so the
    # page follows the table rather than a rule of its own.
    may = user_may(
        Principal(kind="user", subject="x", roles=frozenset({role})), "update", "Encounter"
    )
    assert expected is None or may == (expected == 200)
    async with signed_in(repository, f"{role}.table", [role], [ward["location"]]) as client:
        page = await client.get(f"/patients/{patient['id']}/discharge")
        assert page.status_code == (200 if may else 403)


async def test_a_change_by_someone_else_is_a_readable_conflict_and_nothing_is_written(
    web: httpx.AsyncClient, patient: dict[str, Any], ward: dict[str, str]
) -> None:
    pid = patient["id"]
    page = await web.get(f"/patients/{pid}/discharge")
    form = confirm_form(page.text)
    # Meanwhile the PAS feed moves the patient to another bed: a new version.
    current = await encounter_of(web, ward["encounter"])
    current["location"][0]["location"]["display"] = "Ward 7, bed 4"
    moved = await web.put(f"/fhir/Encounter/{ward['encounter']}", json=current)
    assert moved.status_code == 200
    conflict = await web.post(f"/patients/{pid}/discharge", data=form, headers=SAME_SITE)
    assert conflict.status_code == 409
    assert "Someone else changed this stay" in conflict.text
    assert "Reload the page to see the latest details" in conflict.text
    assert f'href="/patients/{pid}/discharge">Reload</a>' in conflict.text
    assert "<title>Error: Discharge" in conflict.text
    stay = await encounter_of(web, ward["encounter"])
    assert stay["status"] == "in-progress" and stay["meta"]["versionId"] == "2"
    # Reloaded, the page carries the new version and the discharge goes through.
    fresh = confirm_form((await web.get(f"/patients/{pid}/discharge")).text)
    assert (
        fresh["version"] == "2"
        and "Ward 7, bed 4" in (await web.get(f"/patients/{pid}/discharge")).text
    )
    done = await web.post(f"/patients/{pid}/discharge", data=fresh, headers=SAME_SITE)
    assert done.status_code == 303
    assert (await encounter_of(web, ward["encounter"]))["status"] == "finished"


async def test_bad_posts_are_refused_readably(
    web: httpx.AsyncClient, patient: dict[str, Any], ward: dict[str, str]
) -> None:
    pid = patient["id"]
    url = f"/patients/{pid}/discharge"
    good = {"encounter": ward["encounter"], "version": "1"}
    cross_site = await web.post(url, data=good, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    incomplete = await web.post(url, data={"encounter": ward["encounter"]}, headers=SAME_SITE)
    assert incomplete.status_code == 400
    assert "The discharge form is incomplete" in incomplete.text
    stay = await encounter_of(web, ward["encounter"])
    assert stay["status"] == "in-progress"


async def test_no_current_stay_is_a_readable_404(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    page = await web.get(f"/patients/{patient['id']}/discharge")
    assert page.status_code == 404
    assert "has no current stay to discharge" in page.text


def test_discharged_refuses_another_patients_or_an_ended_stay() -> None:
    stay = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "in-progress",
        "subject": {"reference": "Patient/p1"},
        "period": {"start": ADMITTED},
    }
    from datetime import UTC, datetime

    when = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    ended = discharged(stay, "p1", when)
    assert ended["status"] == "finished"
    assert ended["period"] == {"start": ADMITTED, "end": "2026-11-25T09:30:00Z"}
    assert stay["status"] == "in-progress"  # the input is not changed
    with pytest.raises(Exception, match="does not belong"):
        discharged(stay, "p2", when)
    with pytest.raises(Exception, match="already ended"):
        discharged(ended, "p1", when)


async def test_the_ward_is_named_from_the_location_when_the_stay_has_no_display(
    repository: Repository, patient: dict[str, Any]
) -> None:
    service = ResourceService(repository)
    location = await service.create(
        "Location", {"resourceType": "Location", "status": "active", "name": "Rowan Ward"}
    )
    await service.create(
        "Encounter",
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "period": {"start": ADMITTED},
            "location": [
                {"location": {"reference": f"Location/{location.stored.id}"}, "status": "active"}
            ],
        },
    )
    wards = [location.stored.id]
    async with signed_in(repository, "nurse.rowan", ["nurse"], wards) as nurse:
        page = await nurse.get(f"/patients/{patient['id']}/discharge")
        assert page.status_code == 200, page.text
        assert "Rowan Ward" in page.text
        assert "Not recorded" not in page.text
