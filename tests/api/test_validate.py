"""$validate at type and instance level (R4 operation-resource-validate.html)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

FHIR = {"Content-Type": "application/fhir+json"}


def errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


async def test_valid_resource_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient/$validate", json={"resourceType": "Patient", "gender": "female"}, headers=FHIR
    )
    assert response.status_code == 200
    outcome = response.json()
    assert not errors(outcome)
    assert outcome["issue"][0]["severity"] == "information"


async def test_every_problem_is_reported_with_its_location(client: httpx.AsyncClient) -> None:
    body = {
        "resourceType": "Observation",
        "status": "guessed",
        "code": {"text": "Heart rate"},
        "valueQuantity": {"value": "fast"},
        "valueString": "also",
        "subject": {"reference": "not a reference"},
        "colour": "blue",
    }
    response = await client.post("/Observation/$validate", json=body, headers=FHIR)
    assert response.status_code == 200
    found = errors(response.json())
    where = {expression for issue in found for expression in issue.get("expression", [])}
    assert "Observation.status" in where
    assert "Observation.valueQuantity.value" in where
    assert "Observation.colour" in where
    assert "Observation.subject.reference" in where
    assert any("value[x]" in i["diagnostics"] or "value" in i["diagnostics"] for i in found)
    assert len(found) >= 5
    # $validate stores nothing.
    assert (await client.get("/Observation")).json()["total"] == 0


async def test_parameters_body_with_mode_update(client: httpx.AsyncClient) -> None:
    created = await client.put("/Patient/v-1", json={"resourceType": "Patient", "id": "v-1"})
    assert created.status_code == 201
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "id": "other"}},
            {"name": "mode", "valueCode": "update"},
        ],
    }
    response = await client.post("/Patient/v-1/$validate", json=parameters, headers=FHIR)
    assert response.status_code == 200
    assert any("must be 'v-1'" in i["diagnostics"] for i in errors(response.json()))


async def test_mode_delete_needs_an_existing_resource(client: httpx.AsyncClient) -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "mode", "valueCode": "delete"}],
    }
    missing = await client.post("/Patient/nobody/$validate", json=parameters, headers=FHIR)
    assert missing.status_code == 404
    bad_mode = await client.post(
        "/Patient/$validate?mode=explode", json={"resourceType": "Patient"}, headers=FHIR
    )
    assert bad_mode.status_code == 400


async def test_history_at_returns_the_version_current_then(client: httpx.AsyncClient) -> None:
    first = await client.put("/Patient/at-1", json={"resourceType": "Patient", "id": "at-1"})
    then = first.json()["meta"]["lastUpdated"]
    await client.put(
        "/Patient/at-1", json={"resourceType": "Patient", "id": "at-1", "gender": "male"}
    )
    page = (await client.get("/Patient/at-1/_history", params={"_at": then})).json()
    assert [e["resource"]["meta"]["versionId"] for e in page["entry"]] == ["1"]
    bad = await client.get("/Patient/at-1/_history", params={"_at": "yesterday"})
    assert bad.status_code == 400
