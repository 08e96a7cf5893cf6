"""Every FHIR request is authorized: 401 without a valid token, 403 outside the scopes,
and a patient-scoped token never reaches another patient's data (read, vread, history,
search, system search, conditional create, writes)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.auth.conftest import Records, TokenFactory, bearer, ids

pytestmark = pytest.mark.anyio
OUTCOME = "OperationOutcome"


async def test_without_a_token_the_api_answers_401_with_bearer_challenge(
    api: httpx.AsyncClient, records: Records
) -> None:
    response = await api.get("/Patient/alice")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == OUTCOME
    assert response.json()["issue"][0]["code"] == "login"


async def test_a_malformed_forged_or_expired_token_is_401(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    token = await make_token("user/*.rs")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for headers in (
        {"Authorization": "Basic dXNlcjpwdw=="},
        bearer("not-a-jwt"),
        bearer(forged),
    ):
        response = await api.get("/Patient/alice", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["resourceType"] == OUTCOME
    expired = await make_token("user/*.rs", expires_in=1)
    await asyncio.sleep(2.1)
    response = await api.get("/Patient/alice", headers=bearer(expired))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "expired" in response.json()["issue"][0]["diagnostics"]


async def test_metadata_and_smart_configuration_are_public(api: httpx.AsyncClient) -> None:
    metadata = await api.get("/metadata")
    assert metadata.status_code == 200
    security = metadata.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["authorize"] == "http://testserver/oauth2/authorize"
    assert uris["token"] == "http://testserver/oauth2/token"
    for path in (
        "/.well-known/smart-configuration",
        "http://testserver/.well-known/smart-configuration",
    ):
        config = await api.get(path)
        assert config.status_code == 200
        body = config.json()
        assert body["code_challenge_methods_supported"] == ["S256"]
        assert body["token_endpoint"] == uris["token"]
        assert "permission-v2" in body["capabilities"]


async def test_user_scope_reads_every_patient(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    token = await make_token("user/*.rs")
    for path in ("/Patient/alice", "/Patient/bob", "/Observation/lab-bob"):
        assert (await api.get(path, headers=bearer(token))).status_code == 200
    bundle = (await api.get("/Observation", headers=bearer(token))).json()
    assert bundle["total"] == 4


async def test_wrong_scope_is_403(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    token = await make_token("user/Patient.rs")
    response = await api.get("/Observation/lab-alice", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"
    assert (await api.get("/Observation", headers=bearer(token))).status_code == 403
    # read-only scope: no writes
    write = await api.put(
        "/Patient/alice",
        json={"resourceType": "Patient", "id": "alice", "active": True},
        headers=bearer(token),
    )
    assert write.status_code == 403
    assert (await api.delete("/Patient/alice", headers=bearer(token))).status_code == 403
    # search without read: a v2 scope with only "s"
    search_only = await make_token("user/Patient.s")
    assert (await api.get("/Patient/alice", headers=bearer(search_only))).status_code == 403
    assert (await api.get("/Patient", headers=bearer(search_only))).status_code == 200


async def test_patient_token_reads_only_its_patient(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    token = await make_token("patient/*.rs", patient="alice")
    h = bearer(token)
    for path in ("/Patient/alice", "/Observation/lab-alice", "/Encounter/enc-alice"):
        assert (await api.get(path, headers=h)).status_code == 200, path
    for path in (
        "/Patient/bob",
        "/Observation/lab-bob",
        "/Encounter/enc-bob",
        "/Observation/lab-bob/_history/1",
        "/Observation/lab-bob/_history",
    ):
        response = await api.get(path, headers=h)
        assert response.status_code == 403, path
        assert response.json()["resourceType"] == OUTCOME
    # Resources outside every patient compartment are not reachable with patient scopes.
    assert (await api.get("/Organization/ward", headers=h)).status_code == 403


async def test_patient_token_search_is_constrained_to_the_compartment(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    everything = (await api.get("/Observation", headers=h)).json()
    assert ids(everything) == ["Observation/lab-alice", "Observation/vital-alice"]
    assert everything["total"] == 2
    asked_for_bob = (await api.get("/Observation?subject=Patient/bob", headers=h)).json()
    assert asked_for_bob["total"] == 0
    assert ids(asked_for_bob) == []
    patients = (await api.get("/Patient", headers=h)).json()
    assert ids(patients) == ["Patient/alice"]
    counted = (await api.get("/Observation?_summary=count", headers=h)).json()
    assert counted["total"] == 2
    paged = (await api.get("/Observation?_count=1", headers=h)).json()
    assert paged["total"] == 2
    next_link = [link["url"] for link in paged["link"] if link["relation"] == "next"]
    second = (await api.get(next_link[0], headers=h)).json()
    assert len(second["entry"]) == 1
    assert not [link for link in second["link"] if link["relation"] == "next"]
    system = (await api.get("/?_type=Observation,Encounter,Patient", headers=h)).json()
    assert all(i.endswith("alice") for i in ids(system)), ids(system)
    assert len(ids(system)) == 4
    posted = await api.post(
        "/Observation/_search",
        data={"code": "2345-7"},
        headers=h,
    )
    assert ids(posted.json()) == ["Observation/lab-alice"]


async def test_patient_token_history_shows_only_its_patient(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    history = (await api.get("/Observation/_history", headers=h)).json()
    shown = {e["resource"]["id"] for e in history.get("entry", []) if "resource" in e}
    assert shown == {"lab-alice", "vital-alice"}


async def test_granular_category_scope(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    scope = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    h = bearer(await make_token(scope, patient="alice"))
    assert (await api.get("/Observation/lab-alice", headers=h)).status_code == 200
    assert (await api.get("/Observation/vital-alice", headers=h)).status_code == 403
    bundle = (await api.get("/Observation", headers=h)).json()
    assert ids(bundle) == ["Observation/lab-alice"]
    assert bundle["total"] == 1
    two = "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs"
    both = (await api.get("/Observation", headers=bearer(await make_token(two)))).json()
    assert both["total"] == 4


async def test_patient_token_cannot_write_into_another_patients_record(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    from tests.auth.conftest import observation

    h = bearer(await make_token("patient/*.cruds", patient="alice"))
    mine = observation("new-alice", "alice", "laboratory", "2345-7")
    assert (await api.put("/Observation/new-alice", json=mine, headers=h)).status_code == 201
    theirs = observation("new-bob", "bob", "laboratory", "2345-7")
    assert (await api.put("/Observation/new-bob", json=theirs, headers=h)).status_code == 403
    del theirs["id"]
    assert (await api.post("/Observation", json=theirs, headers=h)).status_code == 403
    # Moving Bob's observation into Alice's record is an update of Bob's record: refused.
    moved = observation("lab-bob", "alice", "laboratory", "2345-7")
    assert (await api.put("/Observation/lab-bob", json=moved, headers=h)).status_code == 403
    assert (await api.delete("/Observation/lab-bob", headers=h)).status_code == 403
    patch = [{"op": "replace", "path": "/status", "value": "amended"}]
    response = await api.patch(
        "/Observation/lab-bob",
        json=patch,
        headers={**h, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 403
    # A conditional create must not reveal Bob's matching observation.
    again = observation("y", "alice", "laboratory", "2345-7")
    del again["id"]
    response = await api.post(
        "/Observation", json=again, headers={**h, "If-None-Exist": "_id=lab-bob"}
    )
    assert response.status_code == 403


async def test_no_auth_keeps_the_local_developer_but_still_checks_tokens(
    dev_api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    assert (await dev_api.get("/Patient/bob")).status_code == 200
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    assert (await dev_api.get("/Patient/bob", headers=h)).status_code == 403
    assert (await dev_api.get("/Patient/bob", headers=bearer("junk"))).status_code == 401


async def test_patient_token_everything_and_lastn_stay_in_the_record(
    api: httpx.AsyncClient, records: Records, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("patient/*.rs", patient="alice"))
    everything = await api.get("/Patient/alice/$everything", headers=h)
    assert everything.status_code == 200
    shown = ids(everything.json())
    assert "Patient/alice" in shown and "Observation/lab-alice" in shown
    assert not [i for i in shown if i.endswith("bob")]
    # Referenced resources outside every patient compartment need a non-patient scope.
    assert "Organization/ward" not in shown
    assert (await api.get("/Patient/bob/$everything", headers=h)).status_code == 403
    wide = bearer(await make_token("user/*.rs"))
    assert "Organization/ward" in ids(
        (await api.get("/Patient/alice/$everything", headers=wide)).json()
    )
    bob = (await api.get("/Observation/$lastn?patient=bob", headers=h)).json()
    assert ids(bob) == []
    mine = (await api.get("/Observation/$lastn?category=laboratory", headers=h)).json()
    assert ids(mine) == ["Observation/lab-alice"]
