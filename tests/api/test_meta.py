"""$meta, $meta-add and $meta-delete through HTTP on every backend (R4 resource-operation-meta)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

TAGS = "https://wardbook.example.org/tags"
LABELS = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PROFILE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"


def parameters(**meta: Any) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": meta}]}


def returned(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    meta: dict[str, Any] = body["parameter"][0]["valueMeta"]
    return meta


async def test_meta_add_and_delete_change_meta_without_a_new_version(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/Patient/m1", json={"resourceType": "Patient", "id": "m1"})
    added = returned(
        await client.post(
            "/Patient/m1/$meta-add",
            json=parameters(
                tag=[{"system": TAGS, "code": "vip", "display": "VIP"}],
                security=[{"system": LABELS, "code": "R"}],
                profile=[PROFILE],
            ),
        )
    )
    assert added["versionId"] == "1"
    assert added["tag"] == [{"system": TAGS, "code": "vip", "display": "VIP"}]
    again = returned(
        await client.post(
            "/Patient/m1/$meta-add", json=parameters(tag=[{"system": TAGS, "code": "vip"}])
        )
    )
    assert len(again["tag"]) == 1  # a set: identified by system and code
    read = (await client.get("/Patient/m1")).json()
    assert read["meta"]["versionId"] == "1"
    assert read["meta"]["security"] == [{"system": LABELS, "code": "R"}]
    assert (await client.get("/Patient/m1/_history")).json()["total"] == 1
    # The index follows: _tag and _profile find it.
    assert (await client.get("/Patient", params={"_tag": f"{TAGS}|vip"})).json()["total"] == 1
    assert (await client.get("/Patient", params={"_profile": PROFILE})).json()["total"] == 1
    instance = returned(await client.get("/Patient/m1/$meta"))
    assert instance["profile"] == [PROFILE]
    removed = returned(
        await client.post(
            "/Patient/m1/$meta-delete",
            json=parameters(tag=[{"system": TAGS, "code": "vip"}], profile=[PROFILE]),
        )
    )
    assert "tag" not in removed
    assert "profile" not in removed
    assert removed["security"] == [{"system": LABELS, "code": "R"}]
    assert (await client.get("/Patient", params={"_tag": f"{TAGS}|vip"})).json()["total"] == 0


async def test_meta_on_history_versions_and_summaries(client: httpx.AsyncClient) -> None:
    await client.put("/Patient/m2", json={"resourceType": "Patient", "id": "m2"})
    await client.put("/Patient/m2", json={"resourceType": "Patient", "id": "m2", "gender": "male"})
    old = returned(
        await client.post(
            "/Patient/m2/_history/1/$meta-add",
            json=parameters(tag=[{"system": TAGS, "code": "archived"}]),
        )
    )
    assert old["versionId"] == "1"
    assert returned(await client.get("/Patient/m2/_history/1/$meta"))["tag"][0]["code"] == (
        "archived"
    )
    assert "tag" not in returned(await client.get("/Patient/m2/$meta"))
    # Only current versions are indexed: the old version's tag is not searchable.
    assert (await client.get("/Patient", params={"_tag": f"{TAGS}|archived"})).json()["total"] == 0
    await client.put(
        "/Observation/o1",
        json={
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "x"},
            "meta": {"tag": [{"system": TAGS, "code": "obs"}]},
        },
    )
    await client.post(
        "/Patient/m2/$meta-add", json=parameters(tag=[{"system": TAGS, "code": "current"}])
    )
    system = returned(await client.get("/$meta"))
    assert {t["code"] for t in system["tag"]} == {"obs", "current"}
    patients = returned(await client.post("/Patient/$meta"))
    assert [t["code"] for t in patients["tag"]] == ["current"]


async def test_meta_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/Patient/none/$meta")).status_code == 404
    assert (
        await client.post("/Patient/none/$meta-add", json=parameters(tag=[]))
    ).status_code == 404
    await client.put("/Patient/m3", json={"resourceType": "Patient", "id": "m3"})
    for body in (
        {"resourceType": "Patient"},
        {"resourceType": "Parameters"},
        parameters(tag="vip"),
        parameters(versionId="9"),
        parameters(tag=[{"system": TAGS, "code": 5}]),
    ):
        response = await client.post("/Patient/m3/$meta-add", json=body)
        assert response.status_code == 400, (body, response.text)
    assert (
        await client.post("/Patient/m3/_history/7/$meta-add", json=parameters(tag=[]))
    ).status_code == 404
    await client.delete("/Patient/m3")
    assert (await client.post("/Patient/m3/$meta-add", json=parameters(tag=[]))).status_code == 410
    statement = (await client.get("/metadata")).json()
    system_ops = {o["name"] for o in statement["rest"][0]["operation"]}
    assert "meta" in system_ops
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"meta", "meta-add", "meta-delete", "validate", "everything"} <= {
        o["name"] for o in patient["operation"]
    }
