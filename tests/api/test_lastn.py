"""Observation/$lastn through HTTP on every backend (R4 observation-operation-lastn)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

VITALS = "http://terminology.hl7.org/CodeSystem/observation-category"
HEART_RATE, RESP_RATE, GLUCOSE = "8867-4", "9279-1", "2339-0"


def vital(patient: str, code: str, when: str, value: float, category: str = "vital-signs") -> Any:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": VITALS, "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "1"},
    }


@pytest.fixture
async def chart(client: httpx.AsyncClient) -> None:
    for pid in ("lastn-1", "lastn-2"):
        await client.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid})
    observations = [
        vital("lastn-1", HEART_RATE, "2024-05-01T08:00:00Z", 71),
        vital("lastn-1", HEART_RATE, "2024-05-03T08:00:00Z", 73),
        vital("lastn-1", HEART_RATE, "2024-05-02T08:00:00Z", 72),
        vital("lastn-1", RESP_RATE, "2024-05-01T08:00:00Z", 14),
        vital("lastn-1", RESP_RATE, "2024-05-02T09:00:00Z", 16),
        vital("lastn-1", GLUCOSE, "2024-05-04T08:00:00Z", 5.4, category="laboratory"),
        vital("lastn-2", HEART_RATE, "2024-06-01T08:00:00Z", 99),
    ]
    entries = [
        {"resource": o, "request": {"method": "POST", "url": "Observation"}} for o in observations
    ]
    response = await client.post(
        "", json={"resourceType": "Bundle", "type": "batch", "entry": entries}
    )
    assert response.status_code == 200


async def lastn(client: httpx.AsyncClient, **params: str) -> list[tuple[str, float]]:
    response = await client.get("/Observation/$lastn", params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return [
        (
            e["resource"]["code"]["coding"][0]["code"],
            e["resource"]["valueQuantity"]["value"],
        )
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "Observation"
    ]


async def test_latest_n_per_code(client: httpx.AsyncClient, chart: None) -> None:
    assert await lastn(client, patient="lastn-1", category="vital-signs", max="2") == [
        (HEART_RATE, 73),
        (HEART_RATE, 72),
        (RESP_RATE, 16),
        (RESP_RATE, 14),
    ]
    assert await lastn(client, patient="lastn-1", category="vital-signs") == [
        (HEART_RATE, 73),
        (RESP_RATE, 16),
    ]
    assert await lastn(client, patient="lastn-1", max="5") == [
        (GLUCOSE, 5.4),
        (HEART_RATE, 73),
        (HEART_RATE, 72),
        (HEART_RATE, 71),
        (RESP_RATE, 16),
        (RESP_RATE, 14),
    ]
    assert await lastn(client, patient="lastn-1", code=f"http://loinc.org|{RESP_RATE}") == [
        (RESP_RATE, 16)
    ]
    assert await lastn(client, patient="lastn-2") == [(HEART_RATE, 99)]
    form = await client.post(
        "/Observation/$lastn",
        content="patient=lastn-2&max=3",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [e["resource"]["valueQuantity"]["value"] for e in form.json()["entry"]] == [99]


async def test_bad_max_is_400(client: httpx.AsyncClient) -> None:
    for value in ("0", "-1", "x", "1000"):
        response = await client.get("/Observation/$lastn", params={"max": value})
        assert response.status_code == 400, value
        assert response.json()["resourceType"] == "OperationOutcome"
    strict = await client.get(
        "/Observation/$lastn", params={"bogus": "1"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert (await client.get("/Patient/$lastn")).status_code == 400  # not an id, no such op
