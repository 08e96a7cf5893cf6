"""The core REST interactions of R4 http.html, through HTTP, on every storage backend."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

FHIR = "application/fhir+json"


def patient(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": "Okafor", "given": ["Adaeze"]}],
        "gender": "female",
        "birthDate": "1984-03-02",
        "identifier": [{"system": "https://wardbook.example.org/mrn", "value": "MRN0001"}],
    }
    body.update(extra)
    return body


async def create(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/Patient", json=body, headers={"Content-Type": FHIR, **headers})


async def test_create_assigns_id_version_and_location(client: httpx.AsyncClient) -> None:
    response = await create(client, patient())
    assert response.status_code == 201
    body = response.json()
    assert body["resourceType"] == "Patient"
    assert body["meta"]["versionId"] == "1"
    assert "lastUpdated" in body["meta"]
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert "last-modified" in response.headers


async def test_read_returns_what_was_created(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    response = await client.get(f"/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'


async def test_update_makes_new_version_and_vread_keeps_old(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    pid = created["id"]
    changed = {**created, "gender": "other"}
    response = await client.put(f"/Patient/{pid}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    old = await client.get(f"/Patient/{pid}/_history/1")
    assert old.status_code == 200
    assert old.json()["gender"] == "female"
    new = await client.get(f"/Patient/{pid}/_history/2")
    assert new.json()["gender"] == "other"
    missing = await client.get(f"/Patient/{pid}/_history/9")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


async def test_unchanged_update_keeps_the_version(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    again = await client.put(f"/Patient/{created['id']}", json=created)
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "1"


async def test_update_as_create_with_client_id(client: httpx.AsyncClient) -> None:
    response = await client.put("/Patient/client-chosen-1", json=patient(id="client-chosen-1"))
    assert response.status_code == 201
    assert response.json()["id"] == "client-chosen-1"
    assert (await client.get("/Patient/client-chosen-1")).status_code == 200


async def test_delete_then_read_is_gone_and_history_keeps_versions(
    client: httpx.AsyncClient,
) -> None:
    pid = (await create(client, patient())).json()["id"]
    deleted = await client.delete(f"/Patient/{pid}")
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == 'W/"2"'
    gone = await client.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert (await client.get(f"/Patient/{pid}/_history/1")).status_code == 200
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert history["type"] == "history"
    assert history["total"] == 2
    methods = [e["request"]["method"] for e in history["entry"]]
    assert methods == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    again = await client.delete(f"/Patient/{pid}")
    assert again.status_code == 204
    recreated = await client.put(f"/Patient/{pid}", json=patient(id=pid))
    assert recreated.status_code == 201
    assert recreated.json()["meta"]["versionId"] == "3"


async def test_delete_unknown_is_204(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/Patient/never-there")).status_code == 204


async def test_read_unknown_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/never-there")
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


async def test_if_match_stale_version_is_412(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    pid = created["id"]
    ok = await client.put(
        f"/Patient/{pid}", json={**created, "gender": "male"}, headers={"If-Match": 'W/"1"'}
    )
    assert ok.status_code == 200
    stale = await client.put(
        f"/Patient/{pid}", json={**created, "gender": "other"}, headers={"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "male"


async def test_conditional_read_304(client: httpx.AsyncClient) -> None:
    response = await create(client, patient())
    pid = response.json()["id"]
    same = await client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304
    other = await client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"7"'})
    assert other.status_code == 200
    since = await client.get(
        f"/Patient/{pid}", headers={"If-Modified-Since": response.headers["last-modified"]}
    )
    assert since.status_code == 304
    before = await client.get(
        f"/Patient/{pid}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert before.status_code == 200


async def test_prefer_return(client: httpx.AsyncClient) -> None:
    minimal = await create(client, patient(), Prefer="return=minimal")
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "location" in minimal.headers
    outcome = await create(client, patient(), Prefer="return=OperationOutcome")
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert "created" in outcome.json()["issue"][0]["diagnostics"]


async def test_conditional_create(client: httpx.AsyncClient) -> None:
    criteria = "identifier=https://wardbook.example.org/mrn|COND-1"
    body = patient(identifier=[{"system": "https://wardbook.example.org/mrn", "value": "COND-1"}])
    first = await create(client, body, **{"If-None-Exist": criteria})
    assert first.status_code == 201
    second = await create(client, body, **{"If-None-Exist": criteria})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    search = (await client.get("/Patient", params={"identifier": "COND-1"})).json()
    assert search["total"] == 1


async def test_conditional_create_with_the_criteria_in_the_url(client: httpx.AsyncClient) -> None:
    """fhirpy's get_or_create POSTs to ``Patient?identifier=...``: never a duplicate."""
    ident = [{"system": "https://wardbook.example.org/mrn", "value": "URL-1"}]
    url = "/Patient?identifier=https://wardbook.example.org/mrn|URL-1&_format=json"
    first = await client.post(url, json=patient(identifier=ident), headers={"Content-Type": FHIR})
    assert first.status_code == 201
    second = await client.post(url, json=patient(identifier=ident), headers={"Content-Type": FHIR})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    # the same criteria in the header too are fine; different ones are refused
    same = await client.post(
        url,
        json=patient(identifier=ident),
        headers={
            "Content-Type": FHIR,
            "If-None-Exist": "identifier=https://wardbook.example.org/mrn%7CURL-1",
        },
    )
    assert same.status_code == 200
    clash = await client.post(
        url,
        json=patient(identifier=ident),
        headers={"Content-Type": FHIR, "If-None-Exist": "name=x"},
    )
    assert clash.status_code == 400
    assert "differ" in clash.json()["issue"][0]["diagnostics"]
    search = (await client.get("/Patient", params={"identifier": "URL-1"})).json()
    assert search["total"] == 1


async def test_concurrent_conditional_creates_make_one_resource(
    client: httpx.AsyncClient,
) -> None:
    criteria = "identifier=https://wardbook.example.org/mrn|RACE-20"
    body = patient(identifier=[{"system": "https://wardbook.example.org/mrn", "value": "RACE-20"}])
    responses = await asyncio.gather(
        *(create(client, body, **{"If-None-Exist": criteria}) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 19, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    search = (await client.get("/Patient", params={"identifier": "RACE-20"})).json()
    assert search["total"] == 1


async def test_conditional_create_ambiguous_is_412(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await create(client, patient(birthDate="1901-01-01"))
    response = await create(
        client, patient(birthDate="1901-01-01"), **{"If-None-Exist": "birthdate=1901-01-01"}
    )
    assert response.status_code == 412


async def test_conditional_update(client: httpx.AsyncClient) -> None:
    ident = [{"system": "https://wardbook.example.org/mrn", "value": "CU-1"}]
    created = await client.put(
        "/Patient?identifier=https://wardbook.example.org/mrn|CU-1",
        json=patient(identifier=ident),
    )
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = await client.put(
        "/Patient?identifier=https://wardbook.example.org/mrn|CU-1",
        json=patient(identifier=ident, gender="male"),
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == pid
    assert updated.json()["meta"]["versionId"] == "2"


async def test_conditional_delete_single_and_multiple(client: httpx.AsyncClient) -> None:
    await create(client, patient(birthDate="1902-02-02"))
    one = await client.delete("/Patient", params={"birthdate": "1902-02-02"})
    assert one.status_code == 204
    assert one.headers["x-deleted-count"] == "1"
    for _ in range(3):
        await create(client, patient(birthDate="1903-03-03"))
    many = await client.delete("/Patient", params={"birthdate": "1903-03-03"})
    assert many.status_code == 204
    assert many.headers["x-deleted-count"] == "3"
    left = (await client.get("/Patient", params={"birthdate": "1903-03-03"})).json()
    assert left["total"] == 0


async def test_json_patch(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    patch = [{"op": "replace", "path": "/gender", "value": "male"}]
    response = await client.patch(
        f"/Patient/{pid}",
        content=__import__("json").dumps(patch),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["gender"] == "male"
    assert response.json()["meta"]["versionId"] == "2"
    invalid = [{"op": "replace", "path": "/gender", "value": "robot"}]
    rejected = await client.patch(
        f"/Patient/{pid}",
        content=__import__("json").dumps(invalid),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert rejected.status_code == 400
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "male"


async def test_fhirpath_patch(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.birthDate"},
                    {"name": "value", "valueDate": "1985-04-05"},
                ],
            }
        ],
    }
    response = await client.patch(
        f"/Patient/{pid}", json=parameters, headers={"Content-Type": FHIR}
    )
    assert response.status_code == 200, response.text
    assert response.json()["birthDate"] == "1985-04-05"


async def test_history_type_and_system_with_paging(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, patient())).json()["id"] for _ in range(5)]
    page = (await client.get("/Patient/_history", params={"_count": 2})).json()
    assert page["total"] >= 5
    assert len(page["entry"]) == 2
    seen = [e["resource"]["id"] for e in page["entry"]]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    page2 = (await client.get(next_url)).json()
    seen += [e["resource"]["id"] for e in page2["entry"]]
    assert len(set(seen)) == 4
    assert seen[0] == ids[-1]  # newest first
    system = (await client.get("/_history", params={"_count": 1})).json()
    assert system["entry"][0]["resource"]["id"] == ids[-1]


async def test_history_since(client: httpx.AsyncClient) -> None:
    first = (await create(client, patient())).json()
    second = (await create(client, patient())).json()
    since = second["meta"]["lastUpdated"]
    page = (await client.get("/Patient/_history", params={"_since": since})).json()
    got = {e["resource"]["id"] for e in page["entry"]}
    assert second["id"] in got
    assert first["id"] not in got


async def test_basic_search_by_id_and_paging(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, patient())).json()["id"] for _ in range(3)]
    by_id = (await client.get("/Patient", params={"_id": ids[1]})).json()
    assert by_id["total"] == 1
    assert by_id["entry"][0]["resource"]["id"] == ids[1]
    assert by_id["entry"][0]["search"]["mode"] == "match"
    paged = (await client.get("/Patient", params={"_count": 2})).json()
    assert len(paged["entry"]) == 2
    assert any(link["relation"] == "next" for link in paged["link"])


async def test_metadata_lists_every_type_and_interaction(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/metadata")).json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert len(resources) >= 140
    codes = {i["code"] for i in resources["Observation"]["interaction"]}
    assert codes >= {"read", "vread", "update", "patch", "delete", "create", "search-type"}
    params = {p["name"] for p in resources["Patient"]["searchParam"]}
    assert {"identifier", "birthdate", "name", "_id", "_lastUpdated"} <= params


async def test_system_search_and_capabilities_agree(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    found = (await client.get("", params={"_type": "Patient", "_id": pid})).json()
    assert found["total"] == 1
    statement = (await client.get("/metadata")).json()
    system = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert system == {"history-system", "search-system", "transaction", "batch"}
    patient_entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient_entry["conditionalRead"] == "full-support"
    assert patient_entry["conditionalDelete"] == "multiple"
    transaction = await client.post("", json={"resourceType": "Bundle", "type": "transaction"})
    assert transaction.status_code == 200
    assert transaction.json() == {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [],
    }
