"""No path around the policy: every way of assembling a result keeps patient B out.

A SMART token in patient A's launch context (``patient/*.rs``, ``patient/Observation.rs``)
and a nurse with a care relationship to A only try every route by which B's data -- or its
existence, through a count -- could come back: ``_include``/``_revinclude`` (with
``:iterate`` and ``*``), ``_has``, chaining, compartment search, ``$everything``, history,
system search, batch/transaction GET entries, ``$lastn``, ``_total`` and ``_summary=count``.
Bob's records are seeded so that each path *would* find them without the policy
(``test_the_paths_do_find_bob_without_restriction`` proves the probes are live).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.conftest import BASE, Records, TokenFactory, add_nurse_caring_for_alice, bearer
from wardbook.app import build_app
from wardbook.auth.principal import Principal, acting_as
from wardbook.auth.users import UserStore
from wardbook.config import Settings
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}

# Each probe, unrestricted, returns Bob's resources or matches only because of Bob's data.
SEARCH_PROBES = [
    "/Observation?code=8867-4&_total=accurate",
    "/Patient?_has:Observation:subject:code=8867-4",
    "/Encounter?_has:Observation:encounter:category=laboratory&_total=accurate",
    "/Observation?_include=Observation:subject",
    "/Observation?_include=*&_include:iterate=Patient:link",
    "/Patient?_revinclude=Observation:subject",
    "/Patient?_revinclude=*",
    "/Patient?_revinclude:iterate=Observation:has-member&_revinclude=Observation:subject",
    "/Encounter?_revinclude=Observation:encounter&_include=Encounter:subject",
    "/Patient/bob/*",
    "/Patient/bob/Observation",
    "/Patient/bob/$everything",
    "/?_type=Observation,Encounter&_total=accurate",
    "/?_lastUpdated=gt2000-01-01&_total=accurate",
    "/?_content=Brown",
    "/_history",
    "/Observation/_history",
    "/Observation/lab-bob/_history",
    "/Observation/$lastn?max=5",
    "/Medication?_contained=true&_total=accurate",
    "/Medication?_contained=both&code=1049221&_total=accurate",
    *(
        INFERENCE := [
            "/Observation?subject:Patient.name=Brown",
            "/Observation?patient.name=Brown&_total=accurate",
            "/Observation?encounter.subject:Patient.family=Brown",
            "/Observation?has-member:Observation.code=2345-7",
            "/Observation?has-member:Observation.subject:Patient.family=Brown",
            "/Patient?_has:Observation:patient:_has:Provenance:target:agent=Practitioner/pr-x",
            "/Patient?link:Patient.name=Brown",
            "/Observation/$lastn?patient=bob",
            "/Observation/$lastn?subject:Patient.name=Brown",
            "/Medication?_contained=true&_containedType=contained&code=1049221",
        ]
    ),
]
BOB = {
    "Patient/bob",
    "Observation/lab-bob",
    "Observation/vital-bob",
    "Observation/panel-bob",
    "Encounter/enc-bob",
    "Provenance/prov-bob",
    "MedicationRequest/mr-bob",
}
# The nurse's care relationship guards the "clinical" group (wardbook.auth.roles):
# Encounters are scheduling data there, Provenance its own group, both outside it.
BOB_CLINICAL = {
    "Observation/lab-bob",
    "Observation/vital-bob",
    "Observation/panel-bob",
    "MedicationRequest/mr-bob",
}


def traces(path: str, response: httpx.Response, bob: set[str], inference: list[str]) -> list[str]:
    """What of Bob a response reveals: his resources, a match only his data can explain
    (``inference`` probes), or a total that counts more than the matches shown."""
    if response.status_code in (401, 403, 404):
        return []
    body = response.json()
    if body.get("resourceType") != "Bundle":
        return ["not a Bundle"]
    shown = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in body.get("entry", [])
        if "resource" in e
    }
    found = sorted(shown & bob)
    matches = [e for e in body.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    if path in inference and matches:
        found.append(f"{len(matches)} matches")
    paged = any(link["relation"] == "next" for link in body.get("link", []))
    if "total" in body and not paged and body["total"] != len(matches):
        found.append(f"total {body['total']} for {len(matches)} matches")
    return found


def counted(response: httpx.Response) -> int | None:
    body = response.json()
    return body.get("total") if body.get("resourceType") == "Bundle" else None


async def seed_cross_links(repository: Repository) -> None:
    """Cross-patient links a real record has (linked Patient records, panels): they must
    not be a way from Alice's data to Bob's."""
    results = await ResourceService(repository).put_many(
        [
            {
                "resourceType": "Patient",
                "id": "alice",
                "name": [{"family": "Alvarez", "given": ["Alice"]}],
                "birthDate": "1970-01-01",
                "managingOrganization": {"reference": "Organization/ward"},
                "link": [{"other": {"reference": "Patient/bob"}, "type": "seealso"}],
            },
            {
                "resourceType": "Observation",
                "id": "panel-alice",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85353-1"}]},
                "subject": {"reference": "Patient/alice"},
                "hasMember": [{"reference": "Observation/lab-bob"}],
            },
            {
                "resourceType": "Observation",
                "id": "panel-bob",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85353-1"}]},
                "subject": {"reference": "Patient/bob"},
                "hasMember": [{"reference": "Observation/lab-alice"}],
            },
            {
                # R4 search.html#contained: _contained=true finds it through its Medication.
                "resourceType": "MedicationRequest",
                "id": "mr-bob",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/bob"},
                "medicationReference": {"reference": "#med"},
                "contained": [
                    {
                        "resourceType": "Medication",
                        "id": "med",
                        "code": {
                            "coding": [
                                {
                                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                    "code": "1049221",
                                }
                            ]
                        },
                    }
                ],
            },
            {
                "resourceType": "Provenance",
                "id": "prov-bob",
                "target": [{"reference": "Observation/lab-bob"}],
                "recorded": "2024-01-01T00:00:00Z",
                "agent": [{"who": {"reference": "Practitioner/pr-x"}}],
            },
        ]
    )
    assert all(not isinstance(r, Exception) for r in results), results


@pytest.fixture
async def linked(repository: Repository, records: Records) -> Records:
    await seed_cross_links(repository)
    return records


Probe = Callable[[str], Awaitable[httpx.Response]]


async def probe_all(get: Probe, bob: set[str], inference: list[str]) -> dict[str, Any]:
    """Bob's traces per probe (empty when nothing leaked)."""
    leaks: dict[str, Any] = {}
    for path in SEARCH_PROBES:
        response = await get(path)
        assert response.status_code < 500, (path, response.text)
        found = traces(path, response, bob, inference)
        if found:
            leaks[path] = found
    return leaks


async def test_the_paths_do_find_bob_without_restriction(
    api: httpx.AsyncClient, linked: Records, make_token: TokenFactory
) -> None:
    """The probes are live: a user/*.rs token (no patient limit) finds Bob through each."""
    h = bearer(await make_token("user/*.rs"))
    silent = []
    for path in SEARCH_PROBES:
        response = await api.get(path, headers=h)
        assert response.status_code == 200, (path, response.text)
        if not traces(path, response, BOB, INFERENCE):
            silent.append(path)
    assert silent == [], "these probes would not notice a leak"


@pytest.mark.parametrize("scope", ["patient/*.rs", "patient/*.read"])
async def test_a_patient_token_never_reaches_bob(
    api: httpx.AsyncClient, linked: Records, make_token: TokenFactory, scope: str
) -> None:
    h = bearer(await make_token(scope, patient="alice"))
    assert await probe_all(lambda path: api.get(path, headers=h), BOB, INFERENCE) == {}


async def test_a_granular_patient_token_never_reaches_bob(
    api: httpx.AsyncClient, linked: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/Observation.rs patient/Patient.rs", patient="alice"))
    assert await probe_all(lambda path: api.get(path, headers=h), BOB, INFERENCE) == {}
    # What Alice's token may see still comes back: the probes are not just refused.
    mine = (await api.get("/Observation?code=8867-4&_total=accurate", headers=h)).json()
    assert mine["total"] == 1
    assert mine["entry"][0]["resource"]["id"] == "vital-alice"


async def test_counts_count_only_alice(
    api: httpx.AsyncClient, linked: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    expected = {
        "/Observation?_summary=count": 3,  # lab, vital, panel
        "/Observation?code=8867-4&_total=accurate": 1,
        "/Patient?_has:Observation:subject:code=8867-4&_summary=count": 1,
        "/Observation?subject:Patient.name=Brown&_summary=count": 0,
        "/?_type=Observation&_summary=count": 3,
        "/Patient/bob/Observation?_summary=count": 0,
    }
    for path, total in expected.items():
        response = await api.get(path, headers=h)
        assert counted(response) == total, (path, response.text)


async def test_batch_and_transaction_gets_are_authorized_per_entry(
    api: httpx.AsyncClient, linked: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    requests = [
        "Observation/lab-bob",
        "Patient/bob",
        "Observation?subject=Patient/bob",
        "Observation?subject:Patient.name=Brown&_total=accurate",
        "Patient?_has:Observation:subject:code=8867-4",
        "Patient?_revinclude=Observation:subject",
        "Patient/bob/_history",
        "Patient/bob/$everything",
        "Observation/lab-alice",
    ]
    searches = [url for url in requests if "?" in url or url.endswith("lab-alice")]
    for kind, urls in (("batch", requests), ("transaction", searches)):
        bundle = {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
        }
        response = await api.post("", json=bundle, headers=h)
        assert response.status_code == 200, (kind, response.text)
        for entry in response.json()["entry"]:
            inner = entry.get("resource")
            if inner is not None and inner.get("resourceType") == "Bundle":
                shown = {
                    f"{e['resource']['resourceType']}/{e['resource']['id']}"
                    for e in inner.get("entry", [])
                    if "resource" in e
                }
                assert not shown & BOB, (kind, shown)
                assert inner.get("total", 0) <= len(shown), (kind, inner.get("total"))
            elif inner is not None:
                assert f"{inner['resourceType']}/{inner.get('id')}" not in BOB, (kind, inner)
        if kind == "batch":
            statuses = [e["response"]["status"] for e in response.json()["entry"]]
            assert statuses[0].startswith("403") and statuses[-1].startswith("200"), statuses
    # A transaction's read sees the transaction's own state: it is authorized all the same.
    read_bob = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "GET", "url": "Observation/lab-bob"}}],
    }
    refused = await api.post("", json=read_bob, headers=h)
    assert refused.status_code == 403, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"


# -- a nurse with a care relationship to Alice only -----------------------------------------


@pytest.fixture
async def nurse(repository: Repository, linked: Records) -> str:
    return await add_nurse_caring_for_alice(repository)


# Bob's demographics stay findable by the nurse (one must find him to break the glass): a
# chain through his Patient resource alone is not a leak for her.
NURSE_INFERENCE = [p for p in INFERENCE if p != "/Patient?link:Patient.name=Brown"]


CARE_COUNTS = {
    "/Observation?_summary=count": 3,
    "/Observation?code=8867-4&_total=accurate": 1,
    "/Observation?subject:Patient.name=Brown&_summary=count": 0,
    "/Observation?patient.name=Brown&_total=accurate": 0,
    "/Patient?_has:Observation:subject:code=8867-4&_summary=count": 1,
    "/Patient?_has:Observation:subject:code=8867-4": 1,
    "/Encounter?_has:Observation:encounter:category=laboratory&_total=accurate": 1,
    "/Patient/bob/Observation?_summary=count": 0,
    "/?_type=Observation&_summary=count": 3,
    "/?_type=Observation,Encounter&_total=accurate": 5,  # both Encounters: not clinical
}


async def test_a_nurse_token_never_reaches_a_patient_outside_her_care(
    api: httpx.AsyncClient, nurse: str, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("user/*.rs", user=nurse))
    get = lambda path: api.get(path, headers=h)  # noqa: E731
    assert await probe_all(get, BOB_CLINICAL, NURSE_INFERENCE) == {}
    for path, total in CARE_COUNTS.items():
        assert counted(await api.get(path, headers=h)) == total, path


async def test_a_nurse_in_the_web_app_sees_the_same(
    repository: Repository, nurse: str, auth_settings: Settings
) -> None:
    """The web session's principal (no token) goes through the same policy."""
    user = await UserStore(repository).require(nurse)
    app = build_app(Settings(env="test", no_auth=True), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        with acting_as(user.principal()):
            assert await probe_all(http.get, BOB_CLINICAL, NURSE_INFERENCE) == {}
            for path, total in CARE_COUNTS.items():
                assert counted(await http.get(path)) == total, path


async def test_break_the_glass_opens_bob_to_the_nurse(
    api: httpx.AsyncClient, repository: Repository, nurse: str, make_token: TokenFactory
) -> None:
    from wardbook.auth import break_glass

    h = bearer(await make_token("user/*.rs", user=nurse))
    before = (await api.get("/Observation?_summary=count", headers=h)).json()["total"]
    user = await UserStore(repository).require(nurse)
    await break_glass.open_record(
        repository, user.principal(), "bob", "Covering colleague on the ward", minutes=30
    )
    after = (await api.get("/Observation?_summary=count", headers=h)).json()
    assert after["total"] == before + 3  # Bob's lab, vital signs and panel
    chained = (await api.get("/Observation?subject:Patient.name=Brown", headers=h)).json()
    assert chained["total"] == 3


# -- bulk export ----------------------------------------------------------------------------


async def test_export_refuses_principals_limited_by_care_relationships(
    repository: Repository, nurse: str, tmp_path: Path
) -> None:
    """A physician may export clinical data by role, but only of the patients in their
    care: a bulk export cannot honour that per patient, so it is refused with a clear 403."""
    await UserStore(repository).add("phil", ["physician"], None, fhir_user="Practitioner/pr-nina")
    physician = (await UserStore(repository).require("phil")).principal()
    app = build_app(
        Settings(env="test", no_auth=True, export_dir=str(tmp_path / "exports")), repository
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        with acting_as(physician):
            for path in ("/$export", "/Patient/$export", "/Group/any/$export"):
                response = await http.get(path, headers=ASYNC)
                assert response.status_code == 403, (path, response.text)
                outcome = response.json()
                assert outcome["resourceType"] == "OperationOutcome"
                assert outcome["issue"][0]["code"] == "forbidden"
                assert "care relationship" in outcome["issue"][0]["diagnostics"]
        # An administrator's role is not limited by care relationships: export still works.
        admin = Principal(kind="user", subject="ada", roles=frozenset({"admin"}))
        with acting_as(admin):
            kicked = await http.get("/$export?_type=Organization", headers=ASYNC)
            assert kicked.status_code == 202, kicked.text
