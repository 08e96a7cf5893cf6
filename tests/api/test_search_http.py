"""Search over HTTP: includes, compartments, projections and paging links (both backends).

R4 search.html#include (entries with ``search.mode=include``), #compartments, #summary,
#elements, #sort and paging links (``next``/``previous``) that stay stable while other
clients write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from wardbook.auth.principal import Principal
from wardbook.search.parse import parse_search
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Page, Repository

pytestmark = pytest.mark.anyio

FHIR = "application/fhir+json"


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    url = f"/{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers={"Content-Type": FHIR})
    assert response.status_code in (200, 201), response.text


async def get(client: httpx.AsyncClient, url: str, **headers: str) -> dict[str, Any]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle["link"]:
        if item["relation"] == relation:
            parts = urlsplit(item["url"])
            return f"{parts.path.removeprefix('/fhir')}?{parts.query}"
    return None


async def strict_ids(client: httpx.AsyncClient, url: str) -> list[str]:
    """The sorted ids of one page of ``url``'s matches, under ``Prefer: handling=strict``."""
    bundle = await get(client, f"/{url}", Prefer="handling=strict")
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def by_mode(bundle: dict[str, Any], mode: str) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


@pytest.fixture
async def ward(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Two patients with a GP, an organization, encounters and observations."""
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "St Elsewhere"})
    await put(
        client,
        {
            "resourceType": "Practitioner",
            "id": "gp1",
            "name": [{"family": "Who"}],
            "gender": "male",
        },
    )
    for pid, family, gender in (("p1", "Brown", "female"), ("p2", "Green", "male")):
        await put(
            client,
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": family}],
                "gender": gender,
                "birthDate": "1980-01-0" + pid[-1],
                "generalPractitioner": [{"reference": "Practitioner/gp1"}],
                "managingOrganization": {"reference": "Organization/org1"},
            },
        )
        await put(
            client,
            {
                "resourceType": "Encounter",
                "id": f"e-{pid}",
                "status": "finished",
                "class": {"code": "IMP" if pid == "p1" else "AMB"},
                "subject": {"reference": f"Patient/{pid}"},
            },
        )
        for n in range(3):
            await put(
                client,
                {
                    "resourceType": "Observation",
                    "id": f"o-{pid}-{n}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": f"code-{n}"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "encounter": {"reference": f"Encounter/e-{pid}"},
                    "valueQuantity": {"value": n + (0 if pid == "p1" else 10)},
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml">obs</div>',
                    },
                },
            )
    return client


async def test_include_and_revinclude_entries(ward: httpx.AsyncClient) -> None:
    bundle = await get(
        ward,
        "/Observation?code=code-1&_include=Observation:subject"
        "&_include:iterate=Patient:general-practitioner&_sort=_id",
    )
    assert by_mode(bundle, "match") == ["Observation/o-p1-1", "Observation/o-p2-1"]
    assert sorted(by_mode(bundle, "include")) == ["Patient/p1", "Patient/p2", "Practitioner/gp1"]
    assert bundle["total"] == 2
    # The next link keeps the include directives.
    paged = await get(ward, "/Observation?code=code-1&_include=Observation:subject&_count=1")
    follow = link(paged, "next")
    assert follow is not None and "_include=Observation:subject" in follow
    second = await get(ward, follow)
    assert by_mode(second, "match") == ["Observation/o-p2-1"]
    assert by_mode(second, "include") == ["Patient/p2"]

    rev = await get(ward, "/Patient?_id=p1&_revinclude=Encounter:subject")
    assert by_mode(rev, "match") == ["Patient/p1"]
    assert by_mode(rev, "include") == ["Encounter/e-p1"]


async def test_chains_and_has_over_http(ward: httpx.AsyncClient) -> None:
    chained = await get(ward, "/Observation?subject:Patient.family=brown&_sort=_id")
    assert by_mode(chained, "match") == [f"Observation/o-p1-{n}" for n in range(3)]
    deep = await get(ward, "/Observation?patient.general-practitioner.family=who&_total=accurate")
    assert deep["total"] == 6
    has = await get(ward, "/Patient?_has:Encounter:patient:class=IMP")
    assert by_mode(has, "match") == ["Patient/p1"]
    nested = await get(
        ward, "/Practitioner?_has:Patient:general-practitioner:_has:Encounter:patient:class=AMB"
    )
    assert by_mode(nested, "match") == ["Practitioner/gp1"]
    bad = await ward.get("/Observation?status.name=x")
    assert bad.status_code == 200 and by_mode(bad.json(), "outcome")
    strict = await ward.get("/Observation?status.name=x", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"


async def test_compartment_search(ward: httpx.AsyncClient) -> None:
    observations = await get(ward, "/Patient/p1/Observation?code=code-2")
    assert by_mode(observations, "match") == ["Observation/o-p1-2"]
    assert "/Patient/p1/Observation?" in observations["link"][0]["url"]
    everything = await get(ward, "/Patient/p2/*?_count=100")
    assert sorted(by_mode(everything, "match")) == [
        "Encounter/e-p2",
        "Observation/o-p2-0",
        "Observation/o-p2-1",
        "Observation/o-p2-2",
        "Patient/p2",
    ]
    narrowed = await get(ward, "/Patient/p2/*?_type=Encounter")
    assert by_mode(narrowed, "match") == ["Encounter/e-p2"]
    assert (await ward.get("/Patient/p1/Organization")).status_code == 400
    assert (await ward.get("/Observation/o-p1-1/Patient")).status_code == 400
    assert (await ward.get("/Patient/p1/Nope")).status_code == 404


async def test_summary_and_elements_are_subsetted(ward: httpx.AsyncClient) -> None:
    summary = await get(ward, "/Patient?_id=p1&_summary=true")
    patient = summary["entry"][0]["resource"]
    assert patient["name"] == [{"family": "Brown"}] and patient["id"] == "p1"
    assert "SUBSETTED" in [t["code"] for t in patient["meta"]["tag"]]
    data = await get(ward, "/Observation?_id=o-p1-0&_summary=data")
    assert "text" not in data["entry"][0]["resource"]
    assert "valueQuantity" in data["entry"][0]["resource"]
    text = await get(ward, "/Observation?_id=o-p1-0&_summary=text")
    resource = text["entry"][0]["resource"]
    # text, id, meta and the mandatory elements (status, code) only.
    assert set(resource) == {"resourceType", "id", "meta", "text", "status", "code"}
    elements = await get(
        ward, "/Observation?_id=o-p1-0&_elements=value,subject&_include=Observation:subject"
    )
    match, included = elements["entry"]
    assert set(match["resource"]) == {
        "resourceType",
        "id",
        "meta",
        "status",
        "code",
        "valueQuantity",
        "subject",
    }
    assert included["search"]["mode"] == "include" and "birthDate" in included["resource"]
    whole = await get(ward, "/Observation?_id=o-p1-0&_summary=false")
    assert "tag" not in whole["entry"][0]["resource"]["meta"]
    count = await get(ward, "/Observation?_summary=count")
    assert count["total"] == 6 and "entry" not in count


async def test_sort_links_stay_stable_under_concurrent_writes(ward: httpx.AsyncClient) -> None:
    """Keyset paging by value-quantity: inserts and updates between pages neither repeat
    nor skip the resources that did not change (R4 search.html#paging)."""
    first = await get(ward, "/Observation?_sort=-value-quantity&_count=2")
    seen = by_mode(first, "match")
    assert seen == ["Observation/o-p2-2", "Observation/o-p2-1"]
    assert link(first, "previous") is None
    # Another client adds one observation that sorts before the cursor, one after it,
    # and one without any value (sorted last).
    for oid, value in (("late-high", 100), ("late-low", -1), ("late-none", None)):
        body: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"text": "x"},
        }
        if value is not None:
            body["valueQuantity"] = {"value": value}
        await put(ward, body)
    pages = [first]
    while (follow := link(pages[-1], "next")) is not None:
        pages.append(await get(ward, follow))
    order = [m for p in pages for m in by_mode(p, "match")]
    assert order == [
        "Observation/o-p2-2",
        "Observation/o-p2-1",
        "Observation/o-p2-0",
        "Observation/o-p1-2",
        "Observation/o-p1-1",
        "Observation/o-p1-0",
        "Observation/late-low",
        "Observation/late-none",
    ]
    # Previous links walk the same pages back, and now also reach the new first row.
    back = [pages[-1]]
    while (follow := link(back[-1], "previous")) is not None:
        back.append(await get(ward, follow))
    walked = [by_mode(p, "match") for p in reversed(back)]
    assert walked == [["Observation/late-high"], *(by_mode(p, "match") for p in pages)]


async def test_service_filters_see_matches_and_includes(repository: Repository) -> None:
    """The one hook access control uses: it sees the whole page and can drop entries."""
    seen: list[tuple[str, int, int]] = []

    async def hide_practitioners(principal: Principal, page: Page) -> Page:
        seen.append((principal.subject, len(page.entries), len(page.included)))
        kept = [e for e in page.included if e.resource_type != "Practitioner"]
        return Page(page.entries, page.total, page.next_cursor, page.prev_cursor, kept)

    service = ResourceService(repository, [hide_practitioners])
    await service.update("Practitioner", "gp1", {"resourceType": "Practitioner", "id": "gp1"})
    await service.update("Organization", "org1", {"resourceType": "Organization", "id": "org1"})
    await service.update(
        "Patient",
        "p1",
        {
            "resourceType": "Patient",
            "id": "p1",
            "generalPractitioner": [{"reference": "Practitioner/gp1"}],
            "managingOrganization": {"reference": "Organization/org1"},
        },
    )
    query = parse_search(
        "Patient",
        [("_include", "Patient:general-practitioner"), ("_include", "Patient:organization")],
        strict=True,
    )
    page = await service.search(query)

    assert seen == [("local", 1, 2)]
    assert [(e.resource_type, e.id) for e in page.included] == [("Organization", "org1")]


async def test_id_and_last_updated_take_not_missing_and_the_no_system_form(
    client: httpx.AsyncClient,
) -> None:
    """R4 search.html#token: ``_id`` is a token, so ``:not``, ``:missing`` and ``|id`` apply
    (an id has no system); every resource has an id and a lastUpdated, so ``:missing=true``
    finds none of them."""
    for rid in ("a1", "a2", "a3"):
        await put(client, {"resourceType": "Basic", "id": rid, "code": {"text": "x"}})
    assert await strict_ids(client, "Basic?_id:not=a1") == ["a2", "a3"]
    assert await strict_ids(client, "Basic?_id:not=a1,a3") == ["a2"]
    assert await strict_ids(client, "Basic?_id=|a2") == ["a2"]
    assert await strict_ids(client, "Basic?_id=a1,|a3") == ["a1", "a3"]
    assert await strict_ids(client, "Basic?_id:missing=true") == []
    assert await strict_ids(client, "Basic?_id:missing=false") == ["a1", "a2", "a3"]
    assert await strict_ids(client, "Basic?_lastUpdated:missing=true") == []
    assert await strict_ids(client, "Basic?_lastUpdated:missing=false&_id:not=a2") == ["a1", "a3"]


async def test_no_system_token_form_finds_bare_codes(client: httpx.AsyncClient) -> None:
    """``status=|final``: a ``code`` element has no system property (R4 search.html#token),
    although the index files it under the system its required binding implies."""
    for rid, status in (("o1", "final"), ("o2", "preliminary")):
        await put(
            client,
            {"resourceType": "Observation", "id": rid, "status": status, "code": {"text": "t"}},
        )
    assert await strict_ids(client, "Observation?status=|final") == ["o1"]
    assert await strict_ids(
        client, "Observation?status=http://hl7.org/fhir/observation-status|final"
    ) == ["o1"]
    assert await strict_ids(client, "Observation?status:not=|final") == ["o2"]
    assert await strict_ids(client, "Observation?status=|final,|preliminary") == ["o1", "o2"]
    assert await strict_ids(client, "Observation?status=http://example.org/other|final") == []


async def test_composite_with_a_quantity_is_applied_not_ignored(client: httpx.AsyncClient) -> None:
    """R4 search.html#composite: code and value of one component; once ignored (lenient)."""

    def blood_pressure(rid: str, systolic: int, diastolic: int) -> dict[str, Any]:
        def component(code: str, value: int) -> dict[str, Any]:
            return {
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {
                    "value": value,
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            }

        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "component": [component("8480-6", systolic), component("8462-4", diastolic)],
        }

    await put(client, blood_pressure("high", 150, 80))
    await put(client, blood_pressure("normal", 118, 76))
    url = "/Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140"
    for headers in ({"Prefer": "handling=strict"}, {}):
        bundle = await get(client, url, **headers)
        assert by_mode(bundle, "match") == ["Observation/high"]
        assert by_mode(bundle, "outcome") == []
    paired = await get(client, "/Observation?component-code-value-quantity=8462-4$gt140")
    assert by_mode(paired, "match") == []


async def test_missing_sees_contained_references_and_text_sees_a_display_alone(
    client: httpx.AsyncClient,
) -> None:
    """``:missing`` is about a value for the parameter (R4 search.html#modifiers): a reference
    to a contained resource is one. ``:text`` reads ``Coding.display`` (#token), also of a
    Coding without a code."""
    await put(
        client,
        {
            "resourceType": "MedicationRequest",
            "id": "local",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p"},
            "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "x"}}],
            "medicationReference": {"reference": "#m"},
        },
    )
    await put(
        client,
        {
            "resourceType": "MedicationRequest",
            "id": "coded",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p"},
            "medicationCodeableConcept": {"coding": [{"display": "Wheelchair access"}]},
        },
    )
    assert await strict_ids(client, "MedicationRequest?medication:missing=false") == ["local"]
    assert await strict_ids(client, "MedicationRequest?medication:missing=true") == ["coded"]
    assert await strict_ids(client, "MedicationRequest?code:text=wheelchair") == ["coded"]
    assert await strict_ids(client, "MedicationRequest?code:missing=false") == ["coded"]
