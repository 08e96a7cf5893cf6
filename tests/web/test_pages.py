"""The web app over HTTP on the real ASGI app, on both storage backends.

These check what the server sends (status, headers, HTML, and the FHIR resources a form
wrote, read back through the FHIR API); the browser journeys are in test_browser.py.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import AsyncIterator
from typing import Any

import brotli
import httpx
import pytest

from wardbook.app import build_app
from wardbook.auth.sessions import SessionStore
from wardbook.auth.users import UserStore
from wardbook.config import Settings
from wardbook.demo import generate, shared_resources
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.web.session import SESSION_COOKIE

pytestmark = pytest.mark.anyio

BASE = "http://testserver"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def patient(repository: Repository) -> dict[str, Any]:
    """One demo patient and the shared hospital resources, loaded through the service."""
    service = ResourceService(repository)
    record = next(iter(generate(1, seed=7)))
    results = await service.put_many([*shared_resources(seed=7), *record])
    assert not [r for r in results if isinstance(r, Exception)]
    patient: dict[str, Any] = record[0]
    assert patient["resourceType"] == "Patient"
    return patient


@pytest.fixture
async def web(repository: Repository) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Settings(env="test", no_auth=True), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def mrn(patient: dict[str, Any]) -> str:
    return next(i["value"] for i in patient["identifier"] if i["system"].endswith("/mrn"))


async def test_find_a_patient_by_name_dob_and_mrn(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert '<search class="wb-search"' in page.text
    assert '<label class="nhsuk-label nhsuk-label--s" for="q">Find a patient</label>' in page.text
    family = patient["name"][0]["family"]
    given = patient["name"][0]["given"][0]
    link = f'href="/patients/{patient["id"]}"'
    birth = patient["birthDate"]
    dmy = f"{int(birth[8:])}/{int(birth[5:7])}/{birth[:4]}"
    for query in (family.lower()[:3], f"{given} {family}", dmy, birth, mrn(patient)):
        fragment = await web.get("/patients/search", params={"q": query})
        assert fragment.status_code == 200, query
        assert link in fragment.text, query
        assert "<html" not in fragment.text  # a fragment for htmx, not a page
    nothing = await web.get("/", params={"q": "Zzyzx"})
    assert "0 patients found" in nothing.text


async def test_chart_shows_banner_sections_and_actions(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    page = await web.get(f"/patients/{patient['id']}")
    assert page.status_code == 200
    text = page.text
    assert 'aria-label="Patient banner"' in text
    assert patient["name"][0]["family"].upper() in text
    assert mrn(patient) in text
    for heading in (
        "Active problems",
        "Allergies",
        "Current medicines",
        "Latest vital signs",
        "Latest results",
        "Upcoming appointments",
        "Timeline",
    ):
        assert f">{heading}</h2>" in text, heading
    assert ">Record vital signs</a>" in text
    assert ">Write a note</a>" in text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in text and " style=" not in text  # nothing inline for the CSP


async def test_unknown_and_invalid_patients_are_error_pages_not_500(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    missing = await web.get("/patients/no-such-patient")
    assert missing.status_code == 404
    assert "<h1>Page not found</h1>" in missing.text
    invalid = await web.get("/patients/bad!id/vitals")
    assert invalid.status_code == 400
    too_long = await web.get("/patients/search", params={"q": "x" * 500})
    assert too_long.status_code == 400


async def test_vitals_errors_are_summarised_linked_and_values_kept(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    url = f"/patients/{patient['id']}/vitals/new"
    form = {
        "respiratory_rate": "22",
        "spo2": "",
        "systolic": "120",
        "diastolic": "130",
        "heart_rate": "fast",
        "temperature": "98.6",
    }
    page = await web.post(url, data=form, headers=SAME_SITE)
    assert page.status_code == 422
    summary = page.text.split('class="nhsuk-error-summary"')[1].split("</ul>")[0]
    links = re.findall(r'<a href="#([a-z0-9-]+)">([^<]+)</a>', summary)
    assert [fid for fid, _ in links] == [
        "spo2",
        "supplemental-oxygen",
        "diastolic",
        "heart-rate",
        "consciousness",
        "temperature",
    ]
    assert dict(links)["temperature"].endswith("(enter degrees Celsius, not Fahrenheit)")
    assert re.search(r'id="spo2" name="spo2"[^>]*aria-invalid="true"', page.text)
    assert re.search(r'id="respiratory-rate"[^>]*value="22"', page.text)
    assert 'aria-invalid="true"' not in page.text.split('id="respiratory-rate"')[1].split(">")[0]
    assert re.search(r'id="heart-rate"[^>]*value="fast"', page.text)
    assert "<title>Error: Record vital signs" in page.text


async def test_saving_vitals_writes_observations_and_shows_news2(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    form = {
        "respiratory_rate": "26",
        "spo2": "93",
        "supplemental_oxygen": "oxygen",
        "oxygen_flow": "2",
        "systolic": "105",
        "diastolic": "60",
        "heart_rate": "95",
        "consciousness": "A",
        "temperature": "37.0",
    }
    saved = await web.post(f"/patients/{pid}/vitals/new", data=form, headers=SAME_SITE)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/patients/{pid}/vitals?saved=1"
    page = await web.get(saved.headers["location"])
    assert "NEWS2 score 9: high clinical risk" in page.text
    assert "Vital signs saved" in page.text
    found = await web.get(
        "/fhir/Observation",
        params={
            "subject": f"Patient/{pid}",
            "code": "http://loinc.org|9279-1",
            "value-quantity": "26",
        },
    )
    entries = [
        e["resource"]
        for e in found.json().get("entry", [])
        if e["resource"]["performer"] == [{"display": "local"}]  # ours, not the demo's
    ]
    assert len(entries) == 1
    rr = entries[0]
    assert rr["category"][0]["coding"][0]["code"] == "vital-signs"
    assert rr["valueQuantity"] == {
        "value": 26,
        "unit": "breaths/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" in rr["meta"]["profile"]
    same_time = await web.get(
        "/fhir/Observation",
        params={"subject": f"Patient/{pid}", "date": rr["effectiveDateTime"]},
    )
    assert len(same_time.json()["entry"]) == 7  # the whole NEWS2 set shares one time


async def test_a_note_is_a_document_reference_in_the_timeline(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    empty = await web.post(
        f"/patients/{pid}/notes/new", data={"title": "Ward round"}, headers=SAME_SITE
    )
    assert empty.status_code == 422
    assert '<a href="#note">Enter the note</a>' in empty.text
    assert 'value="Ward round"' in empty.text
    saved = await web.post(
        f"/patients/{pid}/notes/new",
        data={"title": "Ward round <b>", "note": "Comfortable overnight.\nPlan: home tomorrow."},
        headers=SAME_SITE,
    )
    assert saved.status_code == 303
    chart = await web.get(saved.headers["location"])
    assert "Note saved" in chart.text
    assert "Ward round &lt;b&gt;</a>" in chart.text
    docs = await web.get("/fhir/DocumentReference", params={"subject": f"Patient/{pid}"})
    ours = [
        e["resource"]
        for e in docs.json()["entry"]
        if e["resource"].get("description") == "Ward round <b>"
    ]
    assert len(ours) == 1
    note_page = await web.get(f"/patients/{pid}/notes/{ours[0]['id']}")
    assert "Comfortable overnight.\nPlan: home tomorrow." in note_page.text


async def test_problems_allergies_and_medicines(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    added = await web.post(
        f"/patients/{pid}/problems/new",
        data={"problem": "Delirium", "onset": "3/11/2026"},
        headers=SAME_SITE,
    )
    assert added.status_code == 303
    conditions = await web.get(
        "/fhir/Condition", params={"subject": f"Patient/{pid}", "code:text": "Delirium"}
    )
    condition = conditions.json()["entry"][0]["resource"]
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    assert condition["onsetDateTime"] == "2026-11-03"
    resolved = await web.post(
        f"/patients/{pid}/problems/{condition['id']}/resolve", headers=SAME_SITE
    )
    assert resolved.status_code == 303
    again = await web.get(f"/fhir/Condition/{condition['id']}")
    assert again.json()["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert again.json()["meta"]["versionId"] == "2"

    allergy = await web.post(
        f"/patients/{pid}/allergies/new",
        data={
            "substance": "Latex",
            "reaction": "Hives",
            "severity": "moderate",
            "criticality": "low",
        },
        headers=SAME_SITE,
    )
    assert allergy.status_code == 303
    chart = await web.get(f"/patients/{pid}")
    assert "Latex" in chart.text.split('aria-label="Patient banner"')[1].split("</section>")[0]

    meds = await web.get(
        "/fhir/MedicationRequest", params={"subject": f"Patient/{pid}", "status": "active"}
    )
    active = meds.json().get("entry", [])
    if active:
        med_id = active[0]["resource"]["id"]
        confirm = await web.get(f"/patients/{pid}/medications/{med_id}/stop")
        assert "Stop medicine</button>" in confirm.text
        stopped = await web.post(f"/patients/{pid}/medications/{med_id}/stop", headers=SAME_SITE)
        assert stopped.status_code == 303
        assert (await web.get(f"/fhir/MedicationRequest/{med_id}")).json()["status"] == "stopped"


async def test_cross_site_posts_are_refused(
    web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    refused = await web.post(
        f"/patients/{patient['id']}/notes/new",
        data={"title": "x", "note": "y"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status_code == 403
    other_origin = await web.post(
        f"/patients/{patient['id']}/notes/new",
        data={"title": "x", "note": "y"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_origin.status_code == 403
    docs = await web.get(
        "/fhir/DocumentReference",
        params={"subject": f"Patient/{patient['id']}", "description": "x"},
    )
    assert not docs.json().get("entry")


async def test_feedback_is_stored_listed_and_exported(
    web: httpx.AsyncClient, repository: Repository
) -> None:
    bad = await web.post("/help/feedback", data={"feedback": "hi"}, headers=SAME_SITE)
    assert bad.status_code == 422
    assert '<a href="#kind">Select what your feedback is about</a>' in bad.text
    sent = await web.post(
        "/help/feedback",
        data={"kind": "idea", "feedback": "=HYPERLINK(1) please add a ward list", "page": "/help"},
        headers=SAME_SITE,
    )
    assert sent.status_code == 303
    listed = await web.get("/admin/feedback")
    assert "please add a ward list" in listed.text
    exported = await web.get("/admin/feedback.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0] == "sent,kind,page,from,feedback"
    assert lines[1].endswith(
        ",An idea or suggestion,/help,local,'=HYPERLINK(1) please add a ward list"
    )


async def test_static_assets_are_fingerprinted_immutable_and_compressed(
    web: httpx.AsyncClient,
) -> None:
    page = await web.get("/help")
    css = re.search(r'href="(/static/vendor/nhsuk-frontend\.min\.[0-9a-f]{12}\.css)"', page.text)
    assert css is not None
    plain = await web.get(css.group(1), headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"] == "text/css; charset=utf-8"
    assert "content-encoding" not in plain.headers
    raw_br = await web.get(css.group(1), headers={"Accept-Encoding": "br"})
    assert raw_br.headers["content-encoding"] == "br"
    # httpx decodes br itself when brotli is installed: compare the decoded bytes.
    assert raw_br.content == plain.content or brotli.decompress(raw_br.content) == plain.content
    raw_gz = await web.get(css.group(1), headers={"Accept-Encoding": "gzip"})
    assert raw_gz.headers["content-encoding"] == "gzip"
    assert raw_gz.content == plain.content or gzip.decompress(raw_gz.content) == plain.content
    # Images the stylesheet uses are fingerprinted too; nothing points at a CDN.
    assert b"assets.nhs.uk" not in plain.content
    for image in re.findall(rb'url\("(/static/[^"]+)"\)', plain.content):
        assert re.search(rb"\.[0-9a-f]{12}\.svg$", image)
        assert (await web.get(image.decode())).status_code == 200
    etag = plain.headers["etag"]
    assert (await web.get(css.group(1), headers={"If-None-Match": etag})).status_code == 304
    assert (await web.get("/static/vendor/htmx.min.js")).status_code == 404


@contextlib.asynccontextmanager
async def signed_in_as(
    repository: Repository, username: str, roles: list[str], wards: list[str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a real signed-in session (password and MFA done) for a new user,
    assigned to ``wards`` when given."""
    settings = Settings(env="test", no_auth=False)
    users = UserStore(repository)
    if await users.get(username) is None:
        await users.add(username, roles, None, wards=wards)
    sessions = SessionStore(
        repository,
        idle_minutes=settings.session_idle_minutes,
        absolute_minutes=settings.session_absolute_minutes,
    )
    cookie, _session = await sessions.create(username, mfa_done=True, source_ip=None)
    app = build_app(settings, repository)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, cookies={SESSION_COOKIE: cookie}
    ) as client:
        yield client


async def test_break_the_glass_outside_care_relationships(
    repository: Repository, web: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    pid = patient["id"]
    async with signed_in_as(repository, "nurse.jones", ["nurse"]) as as_nurse:
        warned = await as_nurse.get(f"/patients/{pid}/vitals")
        assert warned.status_code == 403
        assert "You are not caring for this patient" in warned.text
        assert '<label class="nhsuk-label" for="reason">Reason</label>' in warned.text
        assert ">Break the glass</button>" in warned.text
        assert patient["name"][0]["family"] not in warned.text  # nothing of the record yet
        short = await as_nurse.post(
            f"/patients/{pid}/break-glass", data={"reason": "need"}, headers=SAME_SITE
        )
        assert short.status_code == 403
        assert 'href="#reason">Enter the reason you need this record' in short.text
        assert 'value="need"' not in short.text and ">need</textarea>" in short.text
        opened = await as_nurse.post(
            f"/patients/{pid}/break-glass",
            data={"reason": "Called to a cardiac arrest", "next": f"/patients/{pid}/vitals"},
            headers=SAME_SITE,
        )
        assert opened.status_code == 303
        assert opened.headers["location"] == f"/patients/{pid}/vitals"
        chart = await as_nurse.get(f"/patients/{pid}/vitals")
        assert chart.status_code == 200
        assert "<h1>Vital signs</h1>" in chart.text
    audit = await web.get(f"/patients/{pid}/audit")
    glass = audit.text.split("Break-the-glass reviews")[1].split("All access")[0]
    assert "nurse.jones" in glass
    assert "Called to a cardiac arrest" in glass


async def test_admin_pages_list_users_and_roles_for_admins_only(
    repository: Repository, web: httpx.AsyncClient
) -> None:
    users = UserStore(repository)
    await users.add("sister.okafor", ["nurse"], None)
    await users.add("dr.patel", ["physician"], None)
    await users.set_disabled("dr.patel", True)
    listed = await web.get("/admin/users")
    assert listed.status_code == 200
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", listed.text
    )
    assert rows == [
        ("dr.patel", "physician", "Not set up", "Disabled"),
        ("sister.okafor", "nurse", "Not set up", "Active"),
    ]
    roles = await web.get("/admin/roles")
    assert "<h2>Nurse</h2>" in roles.text and "<h2>Auditor</h2>" in roles.text
    async with signed_in_as(repository, "sister.okafor", ["nurse"]) as as_nurse:
        for path in (
            "/admin",
            "/admin/users",
            "/admin/roles",
            "/admin/feedback",
            "/admin/feedback.csv",
        ):
            refused = await as_nurse.get(path)
            assert refused.status_code == 403, path
        home = await as_nurse.get("/")
        assert 'href="/admin"' not in home.text
        assert "Sign out</button>" in home.text


async def test_session_keepalive_and_timeout_warning_for_signed_in_users(
    repository: Repository,
) -> None:
    async with signed_in_as(repository, "sister.okafor", ["nurse"]) as as_nurse:
        alive = await as_nurse.get("/session/keepalive")
        assert alive.status_code == 204
        page = await as_nurse.get("/help")
        assert 'role="alertdialog"' in page.text
        assert f'data-idle-seconds="{15 * 60}"' in page.text
        assert ">Stay signed in</button>" in page.text
        as_nurse.cookies.clear()
        gone = await as_nurse.get("/session/keepalive")
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/sign-in")
