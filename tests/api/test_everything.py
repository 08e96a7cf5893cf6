"""Patient/$everything and Encounter/$everything through HTTP on every backend."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

P = "urn:uuid:a0000000-0000-4000-8000-000000000001"
E = "urn:uuid:a0000000-0000-4000-8000-000000000002"
OTHER = "urn:uuid:a0000000-0000-4000-8000-000000000003"
MED = "urn:uuid:a0000000-0000-4000-8000-000000000004"
DOC = "urn:uuid:a0000000-0000-4000-8000-000000000005"


def obs(subject: str, when: str, encounter: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
    }
    if encounter:
        body["encounter"] = {"reference": encounter}
    return body


def entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        out["fullUrl"] = full_url
    return out


@pytest.fixture
async def record(client: httpx.AsyncClient) -> dict[str, str]:
    """A patient with an encounter, observations, a prescription, and a second patient."""
    entries = [
        entry({"resourceType": "Patient", "name": [{"family": "Adeyemi"}]}, P),
        entry({"resourceType": "Patient", "name": [{"family": "Other"}]}, OTHER),
        entry({"resourceType": "Practitioner", "name": [{"family": "Doc"}]}, DOC),
        entry(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode"}
                | {"code": "IMP"},
                "subject": {"reference": P},
                "participant": [{"individual": {"reference": DOC}}],
                "period": {"start": "2021-03-01", "end": "2021-03-04"},
            },
            E,
        ),
        entry(obs(P, "2019-06-01T10:00:00Z")),
        entry(obs(P, "2021-03-02T10:00:00Z", E)),
        entry(obs(P, "2023-01-01T10:00:00Z")),
        entry(obs(OTHER, "2021-03-02T10:00:00Z")),
        entry({"resourceType": "Medication", "status": "active"}, MED),
        entry(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": P},
                "medicationReference": {"reference": MED},
                "authoredOn": "2021-03-03",
            }
        ),
    ]
    response = await client.post(
        "", json={"resourceType": "Bundle", "type": "transaction"} | {"entry": entries}
    )
    assert response.status_code == 200, response.text
    ids = [e["resource"]["id"] for e in response.json()["entry"]]
    names = ["patient", "other", "doctor", "encounter", "obs2019", "obs2021", "obs2023"]
    names += ["obs_other", "medication", "prescription"]
    return dict(zip(names, ids, strict=True))


def found(bundle: dict[str, Any]) -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
    }


async def everything(client: httpx.AsyncClient, path: str, **params: str) -> set[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return found(bundle)


async def test_patient_everything_is_the_compartment_and_what_it_references(
    client: httpx.AsyncClient, record: dict[str, str]
) -> None:
    r = record
    result = await everything(client, f"/Patient/{r['patient']}/$everything")
    assert result == {
        f"Patient/{r['patient']}",
        f"Encounter/{r['encounter']}",
        f"Observation/{r['obs2019']}",
        f"Observation/{r['obs2021']}",
        f"Observation/{r['obs2023']}",
        f"MedicationRequest/{r['prescription']}",
        f"Medication/{r['medication']}",  # referenced, not in the compartment
        f"Practitioner/{r['doctor']}",
    }
    post = await client.post(
        f"/Patient/{r['patient']}/$everything",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "_type", "valueString": "Medication"}],
        },
    )
    assert found(post.json()) == {f"Medication/{r['medication']}"}


async def test_paging_visits_everything_once(
    client: httpx.AsyncClient, record: dict[str, str]
) -> None:
    seen: list[str] = []
    url: str | None = f"/Patient/{record['patient']}/$everything?_count=3"
    pages = 0
    while url is not None:
        bundle = (await client.get(url)).json()
        assert len(bundle.get("entry", [])) <= 3
        seen += sorted(found(bundle))
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next")
        if url is not None:
            assert "_count=3" in url
            url = url.split("/fhir", 1)[1]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 8


async def test_filters_type_since_and_care_dates(
    client: httpx.AsyncClient, record: dict[str, str]
) -> None:
    r = record
    path = f"/Patient/{r['patient']}/$everything"
    assert await everything(client, path, _type="Observation,Encounter") == {
        f"Encounter/{r['encounter']}",
        f"Observation/{r['obs2019']}",
        f"Observation/{r['obs2021']}",
        f"Observation/{r['obs2023']}",
    }
    in_2021 = await everything(client, path, start="2021-01-01", end="2021-12-31")
    assert f"Observation/{r['obs2021']}" in in_2021
    assert f"Encounter/{r['encounter']}" in in_2021
    assert f"MedicationRequest/{r['prescription']}" in in_2021
    assert f"Observation/{r['obs2019']}" not in in_2021
    assert f"Observation/{r['obs2023']}" not in in_2021
    assert f"Medication/{r['medication']}" in in_2021  # no care date: kept
    assert f"Patient/{r['patient']}" in in_2021
    from_2022 = await everything(client, path, start="2022")
    assert f"Observation/{r['obs2023']}" in from_2022
    assert f"Observation/{r['obs2021']}" not in from_2022
    assert await everything(client, path, _since="2999-01-01T00:00:00Z") == set()
    assert len(await everything(client, path, _since="2000-01-01T00:00:00Z")) == 8


async def test_encounter_everything(client: httpx.AsyncClient, record: dict[str, str]) -> None:
    r = record
    result = await everything(client, f"/Encounter/{r['encounter']}/$everything")
    assert result == {
        f"Encounter/{r['encounter']}",
        f"Observation/{r['obs2021']}",
        f"Patient/{r['patient']}",
        f"Practitioner/{r['doctor']}",
    }


async def test_errors(client: httpx.AsyncClient, record: dict[str, str]) -> None:
    path = f"/Patient/{record['patient']}/$everything"
    assert (await client.get("/Patient/nobody/$everything")).status_code == 404
    assert (await client.get(f"/Observation/{record['obs2019']}/$everything")).status_code == 404
    for params in (
        {"start": "not-a-date"},
        {"_type": "Nonsense"},
        {"_type": ","},
        {"_type": ""},
        {"_count": "x"},
        {"_cursor": "abc"},
        {"foo": "bar"},
        {"start": "2022", "end": "2021"},
    ):
        response = await client.get(path, params=params)
        assert response.status_code in (400, 404), (params, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    await client.delete(f"/Patient/{record['patient']}")
    assert (await client.get(path)).status_code == 410


async def test_capability_statement_lists_everything_on_patient_and_encounter(
    client: httpx.AsyncClient,
) -> None:
    statement = (await client.get("/metadata")).json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    patient_ops = {o["name"]: o["definition"] for o in by_type["Patient"]["operation"]}
    assert patient_ops["everything"].endswith("/Patient-everything")
    assert "everything" in {o["name"] for o in by_type["Encounter"]["operation"]}
    assert "everything" not in {o["name"] for o in by_type["Observation"].get("operation", [])}


async def walk(client: httpx.AsyncClient, url: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of an $everything, following next links: the entries and the pages."""
    pages: list[dict[str, Any]] = []
    seen: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        assert len(pages) < 50, "paging does not end"
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        seen += sorted(found(pages[-1]))
        links = {link["relation"]: link["url"] for link in pages[-1]["link"]}
        next_url = links["next"].split("/fhir", 1)[1] if "next" in links else None
    return seen, pages


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("", 8),  # the patient, its compartment and what that references
        ("_count=3", 8),
        ("_count=1", 8),
        ("_count=100", 8),
        ("_type=Observation&_count=2", 3),
        ("_type=Patient", 1),
        ("_since=2000-01-01T00:00:00Z&_count=5", 8),
        ("_since=2999-01-01T00:00:00Z", 0),
        ("start=2021-01-01&end=2021-12-31&_count=2", 6),
    ],
)
async def test_first_page_total_counts_every_page(
    client: httpx.AsyncClient, record: dict[str, str], params: str, expected: int
) -> None:
    """R4 patient-operation-everything.html returns a searchset; clients (HAPI's, Blaze's)
    read Bundle.total for progress. It counts what all pages return, filters applied."""
    path = f"/Patient/{record['patient']}/$everything"
    seen, pages = await walk(client, f"{path}?{params}" if params else path)
    assert pages[0]["total"] == expected
    assert len(seen) == len(set(seen)) == expected
    assert all("total" not in page for page in pages[1:])  # not counted again per page


async def test_total_follows_writes_to_the_record(
    client: httpx.AsyncClient, record: dict[str, str]
) -> None:
    path = f"/Patient/{record['patient']}/$everything?_count=2"
    response = await client.post("/Observation", json=obs(f"Patient/{record['patient']}", "2024"))
    assert response.status_code == 201, response.text
    seen, pages = await walk(client, path)
    assert pages[0]["total"] == len(seen) == 9
    assert (await client.delete(f"/Observation/{record['obs2019']}")).status_code in (200, 204)
    seen, pages = await walk(client, path)
    assert pages[0]["total"] == len(seen) == 8
