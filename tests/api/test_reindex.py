"""Custom SearchParameters become searchable after $reindex (R4 searchparameter.html).

Through HTTP on both backends: a SearchParameter POSTed is not searchable until a
``$reindex`` job has indexed the resources stored before it; then it finds old and new
resources alike and the CapabilityStatement lists it. Jobs run in the background, report
progress at ``$reindex-status``, survive an interruption and resume where they stopped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from wardbook.cli import main
from wardbook.search.custom import CUSTOM
from wardbook.service import reindex
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio

MAIDEN = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
PARAM_URL = "http://wardbook.example.org/fhir/SearchParameter/patient-mothers-maiden-name"


@pytest.fixture(autouse=True)
def _forget_custom_parameters() -> Iterator[None]:
    """The installed definitions are process-wide: no test leaves its own to the next."""
    CUSTOM.clear()
    yield
    CUSTOM.clear()


def search_parameter(**extra: Any) -> dict[str, Any]:
    body = {
        "resourceType": "SearchParameter",
        "url": PARAM_URL,
        "name": "MothersMaidenName",
        "status": "active",
        "description": "Search by the mother's maiden name",
        "code": "mothers-maiden-name",
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension.where(url = '{MAIDEN}').value",
    }
    body.update(extra)
    return body


def patient(maiden: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": "Okafor"}],
        "extension": [{"url": MAIDEN, "valueString": maiden}],
    }


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _param(parameters: dict[str, Any], name: str) -> list[Any]:
    found = []
    for p in parameters["parameter"]:
        if p["name"] == name:
            found.append(next((v for k, v in p.items() if k.startswith("value")), p.get("part")))
    return found


async def _wait(client: httpx.AsyncClient, status_url: str) -> dict[str, Any]:
    for _ in range(600):
        response = await client.get(status_url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if _param(body, "status")[0] in ("done", "failed"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the reindex job did not finish")


async def _maiden(client: httpx.AsyncClient, value: str, strict: bool = True) -> httpx.Response:
    headers = {"Prefer": "handling=strict"} if strict else {}
    return await client.get("/Patient", params={"mothers-maiden-name": value}, headers=headers)


def _advertised(statement: dict[str, Any]) -> dict[str, Any]:
    patient_entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    return {p["name"]: p for p in patient_entry["searchParam"]}


async def test_a_custom_parameter_is_searchable_after_reindex(client: httpx.AsyncClient) -> None:
    before = await _post(client, patient("Nwosu"))
    await _post(client, patient("Adeyemi"))
    await _post(client, search_parameter())
    # Defined, but not indexed yet: refused under strict, reported under lenient.
    assert (await _maiden(client, "nwosu")).status_code == 400
    assert (await _maiden(client, "nwosu", strict=False)).status_code == 200
    assert "mothers-maiden-name" not in _advertised((await client.get("/metadata")).json())

    started = await client.post("/$reindex")
    assert started.status_code == 202
    status_url = started.headers["content-location"]
    assert status_url.startswith("http://testserver/fhir/$reindex-status/")
    assert _param(started.json(), "status")[0] in ("queued", "running", "done")
    final = await _wait(client, status_url)
    assert _param(final, "status") == ["done"]
    assert _param(final, "processed") == _param(final, "total")
    assert _param(final, "total")[0] >= 3  # two patients and the SearchParameter
    activated = _param(final, "activated")[0]
    assert {"name": "url", "valueUri": PARAM_URL} in activated

    found = await _maiden(client, "nwosu")
    assert found.status_code == 200
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [before]
    after = await _post(client, patient("Nwankwo"))  # the write path indexes it too
    assert {e["resource"]["id"] for e in (await _maiden(client, "nw")).json()["entry"]} == {
        before,
        after,
    }
    advertised = _advertised((await client.get("/metadata")).json())
    assert advertised["mothers-maiden-name"] == {
        "name": "mothers-maiden-name",
        "type": "string",
        "definition": PARAM_URL,
    }


async def test_type_level_reindex_and_definitions_it_cannot_use(
    client: httpx.AsyncClient,
) -> None:
    await _post(client, patient("Nwosu"))
    await _post(client, search_parameter())
    await _post(
        client,
        search_parameter(
            url="http://wardbook.example.org/fhir/SearchParameter/combo",
            code="combo",
            type="composite",
        ),
    )
    started = await client.post("/Patient/$reindex")
    assert started.status_code == 202
    final = await _wait(client, started.headers["content-location"])
    assert _param(final, "type") == ["Patient"]
    assert _param(final, "total") == [1]  # only Patients are scanned
    skipped = _param(final, "skipped")
    assert len(skipped) == 1 and "composite" in str(skipped[0])
    assert (await _maiden(client, "nwosu")).json()["total"] == 1
    assert (await client.post("/Spaceship/$reindex")).status_code == 404
    assert (await client.get("/$reindex-status/nosuchjob")).status_code == 404


async def test_an_interrupted_job_resumes_where_it_stopped(
    client: httpx.AsyncClient, repository: Repository
) -> None:
    for name in ("Nwosu", "Nwankwo", "Nwachukwu", "Obi"):
        await _post(client, patient(name))
    await _post(client, search_parameter())
    job = await reindex.start_job(repository, ["Patient"])
    seen: list[int] = []

    def crash_after_two_batches(state: reindex.Job) -> None:
        seen.append(state.processed)
        if len(seen) == 2:
            raise asyncio.CancelledError  # as when the process is stopped mid-job

    with pytest.raises(asyncio.CancelledError):
        await reindex.run_job(repository, job.id, batch=1, progress=crash_after_two_batches)
    stopped = await reindex.get_job(repository, job.id)
    assert stopped is not None and stopped.status == "running" and stopped.processed == 2
    # Its process is gone: once the lease runs out, any process picks the job up.
    assert await reindex.unfinished_jobs(repository) == []
    async with repository.transaction() as tx:
        await tx.runner.fetch_all("UPDATE reindex_job SET lease_until = 0 WHERE id = ?", [job.id])
    assert await reindex.unfinished_jobs(repository) == [job.id]
    resumed_at: list[int] = []
    final = await reindex.run_job(
        repository, job.id, batch=1, progress=lambda s: resumed_at.append(s.processed)
    )
    assert resumed_at[0] == 3  # continued after the second patient, not from the start
    assert final.status == "done" and final.processed == 4
    assert (await _maiden(client, "nw")).json()["total"] == 3


def test_cli_reindex_shows_what_became_searchable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    bundle = tmp_path / "data.json"
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {**patient("Nwosu"), "id": "p1"}},
                    {"resource": {**search_parameter(), "id": "maiden"}},
                ],
            }
        )
    )
    assert main(["migrate", "--database", database]) == 0
    assert main(["load", str(bundle), "--database", database]) == 0
    capsys.readouterr()
    assert main(["reindex", "--type", "Patient", "--database", database]) == 0
    out = capsys.readouterr().out
    assert "Reindexed 1 resource(s)" in out
    assert f"now searchable: Patient:{PARAM_URL}" in out
    assert main(["reindex", "--type", "Nope", "--database", database]) == 1
