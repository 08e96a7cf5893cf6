"""Token :in/:not-in/:above/:below through HTTP on both backends (R4 search.html#token).

Core ValueSets and is-a hierarchies come from the R4 package; ValueSets POSTed to the
server are found by canonical url and expanded from their compose or expansion.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED = "http://snomed.info/sct"
MY_VS = "http://wardbook.example.org/fhir/ValueSet/diabetes"


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def _observation(system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": system, "code": code}]}],
        "code": {"text": "heart rate"},
    }


def _encounter(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": ACT_CODE, "code": code},
    }


def _condition(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
    }


async def test_in_and_not_in_a_core_value_set(client: httpx.AsyncClient) -> None:
    vital = await _post(client, _observation(OBS_CATEGORY, "vital-signs"))
    lab = await _post(client, _observation(OBS_CATEGORY, "laboratory"))
    local = await _post(client, _observation("http://example.org/local", "vital-signs"))
    uncoded = await _post(
        client, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    )
    vs = "http://hl7.org/fhir/ValueSet/observation-category"
    assert _ids(await client.get("/Observation", params={"category:in": vs})) == {vital, lab}
    assert _ids(await client.get("/Observation", params={"category:not-in": vs})) == {
        local,
        uncoded,
    }
    # status has an implicit system from its required binding, so :in works on a plain code.
    status_vs = "http://hl7.org/fhir/ValueSet/observation-status"
    assert len(_ids(await client.get("/Observation", params={"status:in": status_vs}))) == 4


async def test_below_and_above_in_the_act_code_hierarchy(client: httpx.AsyncClient) -> None:
    amb = await _post(client, _encounter("AMB"))
    acute = await _post(client, _encounter("ACUTE"))
    imp = await _post(client, _encounter("IMP"))
    await _post(client, _encounter("_ActAccountCode"))
    below = await client.get("/Encounter", params={"class:below": f"{ACT_CODE}|_ActEncounterCode"})
    assert _ids(below) == {amb, acute, imp}
    assert _ids(await client.get("/Encounter", params={"class:below": f"{ACT_CODE}|IMP"})) == {
        acute,
        imp,
    }
    assert _ids(await client.get("/Encounter", params={"class:above": f"{ACT_CODE}|ACUTE"})) == {
        acute,
        imp,
    }


async def test_in_a_value_set_stored_in_the_server(client: httpx.AsyncClient) -> None:
    type2 = await _post(client, _condition("44054006"))
    type1 = await _post(client, _condition("46635009"))
    await _post(client, _condition("38341003"))  # hypertension
    await _post(
        client,
        {
            "resourceType": "ValueSet",
            "url": MY_VS,
            "status": "active",
            "compose": {
                "include": [
                    {"system": SNOMED, "concept": [{"code": "44054006"}, {"code": "46635009"}]}
                ]
            },
        },
    )
    assert _ids(await client.get("/Condition", params={"code:in": MY_VS})) == {type1, type2}
    narrowed = await client.get("/Condition", params={"code:in": MY_VS, "_id": type1})
    assert _ids(narrowed) == {type1}
    assert len(_ids(await client.get("/Condition", params={"code:not-in": MY_VS}))) == 1
    # A ValueSet defined by its expansion, including the first one (compose.include.valueSet).
    await _post(
        client,
        {
            "resourceType": "ValueSet",
            "url": MY_VS + "-plus",
            "status": "active",
            "compose": {
                "include": [
                    {"valueSet": [MY_VS]},
                    {"system": SNOMED, "concept": [{"code": "38341003"}]},
                ]
            },
        },
    )
    assert len(_ids(await client.get("/Condition", params={"code:in": MY_VS + "-plus"}))) == 3


async def test_unknown_or_unexpandable_value_sets_are_client_errors(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.get("/Condition", params={"code:in": "http://nowhere.example/vs"})
    assert unknown.status_code == 400
    assert "not known" in unknown.json()["issue"][0]["diagnostics"]
    strict = await client.get(
        "/Condition",
        params={"code:in": "http://hl7.org/fhir/ValueSet/condition-code"},
        headers={"Prefer": "handling=strict"},
    )
    assert strict.status_code == 400
    lenient = await client.get("/Condition", params={"code:below": f"{SNOMED}|73211009"})
    assert lenient.status_code == 200
    outcome = [
        e for e in lenient.json()["entry"] if e["resource"]["resourceType"] == "OperationOutcome"
    ]
    assert outcome and "hierarchy" in str(outcome[0])
