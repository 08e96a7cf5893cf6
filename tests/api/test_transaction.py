"""Transactions and batches through HTTP on every backend (R4 http.html#transaction, #batch)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

MRN = "https://wardbook.example.org/mrn"
NPI = "http://hl7.org/fhir/sid/us-npi"
PATIENT_URN = "urn:uuid:4f1c1f5e-7d0a-4f7e-9a55-6d2b1d7e0a01"
OBS_URN = "urn:uuid:4f1c1f5e-7d0a-4f7e-9a55-6d2b1d7e0a02"
BINARY_URN = "urn:oid:1.2.3.4.5"


def patient(mrn: str = "TX-1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN, "value": mrn}],
        "name": [{"family": "Nwosu", "given": ["Chidi"]}],
        **extra,
    }


def observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min"},
        **extra,
    }


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def call(method: str, url: str, resource: Any = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        entry["resource"] = resource
    return entry


async def send(client: httpx.AsyncClient, body: Any, path: str = "", **headers: str) -> Any:
    return await client.post(path, json=body, headers=headers)


async def total(client: httpx.AsyncClient, query: str) -> int:
    return int((await client.get(query)).json()["total"])


async def test_links_between_entries_are_rewritten_everywhere(client: httpx.AsyncClient) -> None:
    extension = {"url": "https://wardbook.example.org/ext/about", "valueReference": {}}
    extension["valueReference"] = {"reference": PATIENT_URN}
    obs = observation(
        PATIENT_URN,
        extension=[extension],
        contained=[
            {"resourceType": "Device", "id": "d1", "patient": {"reference": PATIENT_URN}},
        ],
        device={"reference": "#d1"},
        hasMember=[{"reference": "urn:uuid:4f1c1f5e-7d0a-4f7e-9a55-6d2b1d7e0a03"}],
        text={
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{PATIENT_URN}">x</a></div>',
        },
    )
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": PATIENT_URN},
        "content": [{"attachment": {"contentType": "text/plain", "url": BINARY_URN}}],
    }
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="}
    response = await send(
        client,
        bundle(
            "transaction",
            post(obs, OBS_URN),
            post(document),
            post(patient(), PATIENT_URN),
            post(binary, BINARY_URN),
            post(observation(PATIENT_URN), "urn:uuid:4f1c1f5e-7d0a-4f7e-9a55-6d2b1d7e0a03"),
        ),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 5
    saved = [e["resource"] for e in body["entry"]]
    saved_obs, saved_doc, saved_patient, saved_binary, saved_member = saved
    patient_ref = f"Patient/{saved_patient['id']}"
    assert saved_obs["subject"]["reference"] == patient_ref
    assert saved_obs["extension"][0]["valueReference"]["reference"] == patient_ref
    assert saved_obs["contained"][0]["patient"]["reference"] == patient_ref
    assert saved_obs["device"]["reference"] == "#d1"
    assert saved_obs["hasMember"][0]["reference"] == f"Observation/{saved_member['id']}"
    assert f'href="{patient_ref}"' in saved_obs["text"]["div"]
    assert saved_doc["content"][0]["attachment"]["url"] == f"Binary/{saved_binary['id']}"
    first = body["entry"][2]["response"]
    assert first["location"].endswith(f"/fhir/{patient_ref}/_history/1")
    assert first["etag"] == 'W/"1"'
    assert first["lastModified"].startswith("20")
    assert body["entry"][2]["fullUrl"].endswith(f"/fhir/{patient_ref}")
    # The stored resources are what the response said, and searchable by the new link.
    read = await client.get(f"/{patient_ref}")
    assert read.json() == saved_patient
    assert await total(client, f"/Observation?subject={patient_ref}") == 2


async def test_a_failing_entry_rolls_back_everything(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/keep", json=patient("KEEP", id="keep"))
    bad = observation(PATIENT_URN, status="not-a-status")
    response = await send(
        client,
        bundle(
            "transaction",
            post(patient(), PATIENT_URN),
            call("DELETE", "Patient/keep"),
            post(bad),
        ),
    )
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"].startswith("Bundle.entry[2]")
    assert any(e.startswith("Bundle.entry[2]") for e in outcome["issue"][0]["expression"])
    assert await total(client, f"/Patient?identifier={MRN}|TX-1") == 0
    assert (await client.get("/Patient/keep")).status_code == 200


async def test_failure_inside_the_database_transaction_rolls_back(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/Patient/p1", json=patient("P1", id="p1"))
    response = await send(
        client,
        bundle(
            "transaction",
            post(patient("NEW"), PATIENT_URN),
            call("DELETE", "Patient/p1"),
            call("PUT", "Patient/p1x", patient("P1X", id="p1x"), ifMatch='W/"4"'),
        ),
    )
    assert response.status_code == 412
    assert "Bundle.entry[2]" in response.json()["issue"][0]["diagnostics"]
    assert await total(client, f"/Patient?identifier={MRN}|NEW") == 0
    assert (await client.get("/Patient/p1")).status_code == 200
    assert (await client.get("/Patient/p1x")).status_code == 404


async def test_processing_order_is_delete_post_put_get(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/old", json=patient("OLD", id="old"))
    response = await send(
        client,
        bundle(
            "transaction",
            call("GET", f"Patient?identifier={MRN}|ORDER"),
            call("PUT", "Patient/put-1", patient("PUT", id="put-1")),
            post(patient("ORDER")),
            call("DELETE", "Patient/old"),
            call("GET", "Patient/put-1"),
        ),
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    statuses = [e["response"]["status"] for e in entries]
    assert statuses == ["200 OK", "201 Created", "201 Created", "204 No Content", "200 OK"]
    searchset = entries[0]["resource"]
    assert searchset["type"] == "searchset"
    assert searchset["total"] == 1  # the GET ran after the POST
    assert entries[4]["resource"]["id"] == "put-1"  # ...and after the PUT
    assert (await client.get("/Patient/old")).status_code == 410


async def test_post_to_base_with_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await send(client, bundle("transaction", post(patient())), path="/")
    assert response.status_code == 200
    assert response.json()["entry"][0]["response"]["status"] == "201 Created"


async def test_conditional_references_resolve_or_fail(client: httpx.AsyncClient) -> None:
    doctor = {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": "111"}]}
    created = (await client.post("/Practitioner", json=doctor)).json()
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "participant": [{"individual": {"reference": f"Practitioner?identifier={NPI}|111"}}],
    }
    ok = await send(client, bundle("transaction", post(encounter)))
    assert ok.status_code == 200, ok.text
    saved = ok.json()["entry"][0]["resource"]
    assert saved["participant"][0]["individual"]["reference"] == f"Practitioner/{created['id']}"

    missing = dict(encounter)
    missing["participant"] = [{"individual": {"reference": f"Practitioner?identifier={NPI}|999"}}]
    response = await send(client, bundle("transaction", post(patient()), post(missing)))
    assert response.status_code == 404
    assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]

    await client.post("/Practitioner", json=doctor)  # now two match
    response = await send(client, bundle("transaction", post(patient()), post(encounter)))
    assert response.status_code == 412
    assert "more than one" in response.json()["issue"][0]["diagnostics"]
    assert await total(client, f"/Patient?identifier={MRN}|TX-1") == 0


async def test_if_none_exist_reuses_the_match_and_links_to_it(client: httpx.AsyncClient) -> None:
    existing = (await client.put("/Patient/known", json=patient("KNOWN", id="known"))).json()
    entries = (
        post(patient("KNOWN"), PATIENT_URN, ifNoneExist=f"identifier={MRN}|KNOWN"),
        post(observation(PATIENT_URN)),
    )
    response = await send(client, bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    first, second = response.json()["entry"]
    assert first["response"]["status"] == "200 OK"
    assert first["resource"]["id"] == existing["id"]
    assert second["resource"]["subject"]["reference"] == "Patient/known"
    assert await total(client, f"/Patient?identifier={MRN}|KNOWN") == 1


async def test_search_parameters_on_a_post_url_make_it_conditional(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/Patient/known2", json=patient("KNOWN2", id="known2"))
    url = f"Patient?identifier={MRN}|KNOWN2"
    response = await send(client, bundle("transaction", call("POST", url, patient("KNOWN2"))))
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"] == "200 OK"
    assert await total(client, f"/Patient?identifier={MRN}|KNOWN2") == 1
    clash = call("POST", url, patient("KNOWN2"), ifNoneExist="name=other")
    refused = await send(client, bundle("transaction", clash))
    assert refused.status_code == 400
    assert "differ" in refused.json()["issue"][0]["diagnostics"]


async def test_conditional_update_delete_and_patch_entries(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/a", json=patient("A", id="a"))
    await client.put("/Patient/b", json=patient("B", id="b"))
    json_patch = [{"op": "add", "path": "/gender", "value": "male"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(json_patch).encode()).decode(),
    }
    response = await send(
        client,
        bundle(
            "transaction",
            call("PUT", f"Patient?identifier={MRN}|A", patient("A", gender="female")),
            call("DELETE", f"Patient?identifier={MRN}|B"),
            call("PATCH", "Patient/a2", binary),
            call("PUT", "Patient/a2", patient("A2", id="a2")),
        ),
    )
    assert response.status_code == 400  # a2 is both PUT and PATCHed: identities overlap
    assert "only once" in response.json()["issue"][0]["diagnostics"]
    await client.put("/Patient/a2", json=patient("A2", id="a2"))
    response = await send(
        client,
        bundle(
            "transaction",
            call("PUT", f"Patient?identifier={MRN}|A", patient("A", gender="female")),
            call("DELETE", f"Patient?identifier={MRN}|B"),
            call("PATCH", "Patient/a2", binary),
        ),
    )
    assert response.status_code == 200, response.text
    put, delete, patch = response.json()["entry"]
    assert put["response"]["status"] == "200 OK"
    assert put["resource"]["id"] == "a"
    assert put["resource"]["gender"] == "female"
    assert delete["response"]["status"] == "204 No Content"
    assert patch["resource"]["gender"] == "male"
    assert (await client.get("/Patient/b")).status_code == 410


async def test_if_match_and_if_none_match(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/v", json=patient("V", id="v"))
    response = await send(
        client,
        bundle(
            "transaction",
            call("PUT", "Patient/v", patient("V", id="v", gender="male"), ifMatch='W/"1"'),
        ),
    )
    assert response.status_code == 200
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    stale = await send(
        client,
        bundle("transaction", call("PUT", "Patient/v", patient("V", id="v"), ifMatch='W/"1"')),
    )
    assert stale.status_code == 412
    reads = await send(
        client,
        bundle(
            "batch",
            call("GET", "Patient/v", ifNoneMatch='W/"2"'),
            call("GET", "Patient/v", ifNoneMatch='W/"1"'),
            call("GET", "Patient/v", ifModifiedSince="Fri, 01 Jan 2100 00:00:00 GMT"),
            call("GET", "Patient/v", ifModifiedSince="Mon, 01 Jan 2001 00:00:00 GMT"),
            call("GET", "Patient/v", ifModifiedSince="not a date"),
        ),
    )
    statuses = [e["response"]["status"] for e in reads.json()["entry"]]
    assert statuses == ["304 Not Modified", "200 OK", "304 Not Modified", "200 OK", "200 OK"]


async def test_dangling_urn_and_malformed_entries_are_400(client: httpx.AsyncClient) -> None:
    response = await send(client, bundle("transaction", post(observation(PATIENT_URN))))
    assert response.status_code == 400
    assert PATIENT_URN in response.json()["issue"][0]["diagnostics"]
    for broken in (
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Patient"},
        bundle("transaction", {"request": {"method": "FETCH", "url": "Patient"}}),
        bundle("transaction", {"request": {"method": "GET"}}),
        bundle("transaction", call("POST", "Patient", {"resourceType": "Observation"})),
        bundle("transaction", call("GET", "Patient/1/$everything")),
        bundle("transaction", call("POST", "Patient/1", patient())),
        bundle("transaction", call("PUT", "Patient", patient())),
        bundle("transaction", call("GET", "http://elsewhere.example.org/fhir/Patient/1")),
        bundle("transaction", post(patient(), "urn:uuid:x"), post(patient(), "urn:uuid:x")),
    ):
        response = await send(client, broken)
        assert response.status_code == 400, (broken, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_batch_entries_succeed_or_fail_on_their_own(client: httpx.AsyncClient) -> None:
    response = await send(
        client,
        bundle(
            "batch",
            post(patient("BATCH")),
            call("GET", "Patient/nobody"),
            post(observation("Patient/x", status="bogus")),
            call("PUT", "Patient/b1", patient("B1", id="b1")),
            {"request": {"method": "GET"}},
        ),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == [
        "201 Created",
        "404 Not Found",
        "400 Bad Request",
        "201 Created",
        "400 Bad Request",
    ]
    for failed in (1, 2, 4):
        outcome = body["entry"][failed]["response"]["outcome"]
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] == "error"
    assert await total(client, f"/Patient?identifier={MRN}|BATCH") == 1
    assert (await client.get("/Patient/b1")).status_code == 200


async def test_prefer_minimal_and_outcome(client: httpx.AsyncClient) -> None:
    minimal = await send(client, bundle("transaction", post(patient())), Prefer="return=minimal")
    entry = minimal.json()["entry"][0]
    assert "resource" not in entry
    assert entry["response"]["location"]
    outcome = await send(
        client, bundle("transaction", post(patient("O"))), Prefer="return=OperationOutcome"
    )
    entry = outcome.json()["entry"][0]
    assert "resource" not in entry
    assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome"


async def test_capability_statement_lists_transaction_and_batch(
    client: httpx.AsyncClient,
) -> None:
    statement = (await client.get("/metadata")).json()
    codes = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert {"transaction", "batch"} <= codes


async def test_an_update_that_only_removes_index_rows(client: httpx.AsyncClient) -> None:
    # Only a delete of index rows, no insert (a statement shape of its own on PostgreSQL).
    await client.put("/Patient/drop", json=patient("DROP", id="drop", gender="male"))
    response = await send(
        client, bundle("transaction", call("PUT", "Patient/drop", patient("DROP", id="drop")))
    )
    assert response.status_code == 200, response.text
    assert await total(client, "/Patient?_id=drop&gender=male") == 0
    assert await total(client, "/Patient?_id=drop") == 1


async def test_absolute_entry_urls_on_this_server(client: httpx.AsyncClient) -> None:
    base = str(client.base_url).rstrip("/")
    response = await send(
        client,
        bundle(
            "batch",
            call("PUT", f"{base}/Patient/abs-1", patient("ABS", id="abs-1")),
            call("GET", f"{base}/Patient/abs-1"),
            call("GET", f"{base}/Patient?identifier={MRN}|ABS"),
        ),
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "200 OK", "200 OK"]
    assert entries[2]["resource"]["total"] == 1


async def test_head_entries_answer_without_a_resource(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/h1", json=patient("H1", id="h1"))
    response = await send(client, bundle("batch", call("HEAD", "Patient/h1")))
    entry = response.json()["entry"][0]
    assert entry["response"]["status"] == "200 OK"
    assert entry["response"]["etag"] == 'W/"1"'
    assert "resource" not in entry
