"""Bulk Data $export (Bulk Data Access IG 2.0.0, export.html) over HTTP, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from wardbook.auth.principal import Principal, acting_as
from wardbook.config import Settings
from wardbook.fhir import jsonio
from wardbook.service.export_runner import ExportRunner
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
LOINC = "http://loinc.org"


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def settings(export_dir: Path) -> Settings:
    return Settings(env="test", no_auth=True, export_dir=str(export_dir))


@pytest.fixture
def runner(repository: Repository, export_dir: Path) -> ExportRunner:
    return ExportRunner(repository, export_dir, lease_seconds=30)


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    response = await client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text


def observation(oid: str, patient: str, code: str = "8867-4") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


@pytest.fixture
async def ward(client: httpx.AsyncClient) -> None:
    """Two patients with observations, an organization, and a group holding one patient."""
    for pid in ("ann", "bob"):
        await put(client, {"resourceType": "Patient", "id": pid, "gender": "female"})
    await put(client, observation("ann-hr", "ann"))
    await put(client, observation("ann-rr", "ann", "9279-1"))
    await put(client, observation("bob-hr", "bob"))
    await put(client, {"resourceType": "Organization", "id": "ward-7", "name": "Ward 7"})
    await put(
        client,
        {
            "resourceType": "Group",
            "id": "cohort",
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": "Patient/bob"}}],
        },
    )


async def kick_off(client: httpx.AsyncClient, url: str, **headers: str) -> str:
    response = await client.get(url, headers={**ASYNC, **headers})
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith("http://testserver/fhir/_export/")
    return location.removeprefix("http://testserver/fhir")


async def complete(client: httpx.AsyncClient, runner: ExportRunner, status_url: str) -> Any:
    waiting = await client.get(status_url)
    assert waiting.status_code == 202
    assert waiting.headers["x-progress"]
    assert waiting.headers["retry-after"] == "2"
    assert await runner.run_one()
    done = await client.get(status_url)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"].startswith("application/json")
    return done.json()


async def files(client: httpx.AsyncClient, manifest: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest["output"]:
        response = await client.get(entry["url"].removeprefix("http://testserver/fhir"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [jsonio.loads(line) for line in response.content.splitlines()]
        assert len(lines) == entry["count"]
        assert all(line["resourceType"] == entry["type"] for line in lines)
        out[entry["type"]] = lines
    return out


def ids(found: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for lines in found.values() for r in lines}


@pytest.mark.usefixtures("ward")
async def test_system_export_writes_every_resource_as_stored(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    status_url = await kick_off(client, "/$export?_outputFormat=application%2Ffhir%2Bndjson")
    manifest = await complete(client, runner, status_url)
    assert (
        manifest["request"]
        == "http://testserver/fhir/$export?_outputFormat=application%2Ffhir%2Bndjson"
    )
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == []
    assert "T" in manifest["transactionTime"]
    found = await files(client, manifest)
    assert sorted(found) == ["Group", "Observation", "Organization", "Patient"]
    assert {entry["type"]: entry["count"] for entry in manifest["output"]} == {
        "Group": 1,
        "Observation": 3,
        "Organization": 1,
        "Patient": 2,
    }
    stored = (await client.get("/Observation/ann-hr")).json()
    assert stored in found["Observation"]


@pytest.mark.usefixtures("ward")
async def test_type_and_type_filter_narrow_the_export(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    url = f"/$export?_type=Observation,Patient&_typeFilter=Observation%3Fcode%3D{LOINC}%7C9279-1"
    manifest = await complete(client, runner, await kick_off(client, url))
    assert ids(await files(client, manifest)) == {
        "Observation/ann-rr",
        "Patient/ann",
        "Patient/bob",
    }


@pytest.mark.usefixtures("ward")
async def test_patient_and_group_exports_hold_patient_compartments(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    everyone = await complete(client, runner, await kick_off(client, "/Patient/$export"))
    assert ids(await files(client, everyone)) == {
        "Patient/ann",
        "Patient/bob",
        "Observation/ann-hr",
        "Observation/ann-rr",
        "Observation/bob-hr",
        "Group/cohort",  # Group.member is a Patient compartment link
    }
    cohort = await complete(client, runner, await kick_off(client, "/Group/cohort/$export"))
    assert ids(await files(client, cohort)) == {"Patient/bob", "Observation/bob-hr", "Group/cohort"}
    missing = await client.get("/Group/nobody/$export", headers=ASYNC)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


async def test_since_exports_only_later_changes(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    await put(client, {"resourceType": "Patient", "id": "old", "gender": "male"})
    old = (await client.get("/Patient/old")).json()
    await put(client, {"resourceType": "Patient", "id": "new", "gender": "male"})
    # _since is inclusive here; one microsecond after the old one leaves only the new one.
    after_old = datetime.fromisoformat(old["meta"]["lastUpdated"]) + timedelta(microseconds=1)
    since = after_old.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    url = f"/$export?_since={since}"
    manifest = await complete(client, runner, await kick_off(client, url))
    assert ids(await files(client, manifest)) == {"Patient/new"}


@pytest.mark.usefixtures("ward")
async def test_cancel_removes_the_job_and_its_files(
    client: httpx.AsyncClient, runner: ExportRunner, export_dir: Path
) -> None:
    status_url = await kick_off(client, "/$export")
    manifest = await complete(client, runner, status_url)
    job_id = status_url.rsplit("/", 1)[1]
    assert (export_dir / job_id).is_dir()
    cancelled = await client.delete(status_url)
    assert cancelled.status_code == 202
    assert not (export_dir / job_id).exists()
    gone = await client.get(status_url)
    assert gone.status_code == 404
    assert gone.json()["resourceType"] == "OperationOutcome"
    file_url = manifest["output"][0]["url"].removeprefix("http://testserver/fhir")
    assert (await client.get(file_url)).status_code == 404
    assert (await client.delete(status_url)).status_code == 404


async def test_a_job_cancelled_while_waiting_never_runs(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    status_url = await kick_off(client, "/$export")
    assert (await client.delete(status_url)).status_code == 202
    assert not await runner.run_one()


@pytest.mark.usefixtures("ward")
async def test_a_principal_exports_only_what_its_scopes_allow(
    client: httpx.AsyncClient, runner: ExportRunner
) -> None:
    robot = Principal(kind="client", subject="etl-robot", scopes=("system/Observation.read",))
    with acting_as(robot):
        status_url = await kick_off(client, "/$export")
    assert await runner.run_one()
    with acting_as(robot):
        manifest = (await client.get(status_url)).json()
        assert manifest["requiresAccessToken"] is True
        assert sorted(ids(await files(client, manifest))) == [
            "Observation/ann-hr",
            "Observation/ann-rr",
            "Observation/bob-hr",
        ]
    other = Principal(kind="client", subject="someone-else", scopes=("system/*.read",))
    with acting_as(other):
        assert (await client.get(status_url)).status_code == 403
    patient_app = Principal(kind="client", subject="app", scopes=("patient/*.read",), patient="bob")
    with acting_as(patient_app):
        status_url = await kick_off(client, "/$export")
    assert await runner.run_one()
    with acting_as(patient_app):
        manifest = (await client.get(status_url)).json()
        assert ids(await files(client, manifest)) == {
            "Patient/bob",
            "Observation/bob-hr",
            "Group/cohort",
        }
    nothing = Principal(kind="client", subject="x", scopes=("openid",))
    with acting_as(nothing):
        assert (await client.get("/$export", headers=ASYNC)).status_code == 403


@pytest.mark.parametrize(
    ("query", "headers", "fragment"),
    [
        ("", {"Prefer": "return=minimal"}, "respond-async"),
        ("?_outputFormat=text/csv", ASYNC, "_outputFormat"),
        ("?_type=Nonsense", ASYNC, "_type"),
        ("?_since=yesterday", ASYNC, "_since"),
        ("?_typeFilter=Observation%3Fbogus%3D1", ASYNC, "bogus"),
        ("?_type=Patient&_typeFilter=Observation%3Fcode%3D1", ASYNC, "_type leaves out"),
        ("?_elements=id", ASYNC, "not supported"),
        ("?frobnicate=1", ASYNC, "not a $export parameter"),
    ],
)
async def test_bad_kick_off_requests_are_400_with_the_reason(
    client: httpx.AsyncClient, query: str, headers: dict[str, str], fragment: str
) -> None:
    response = await client.get(f"/$export{query}", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert fragment in body["issue"][0]["diagnostics"]


async def test_lenient_handling_ignores_unsupported_parameters(client: httpx.AsyncClient) -> None:
    headers = {"Prefer": "respond-async, handling=lenient"}
    response = await client.get("/$export?_elements=id", headers=headers)
    assert response.status_code == 202


async def test_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    for url in ("/_export/not-a-job", "/_export/2b0f6a9e-2f6b-4c59-9a36-9d2b1d7f0c11"):
        response = await client.get(url)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_capability_statement_declares_bulk_export(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/metadata")).json()
    assert (
        "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in statement["instantiates"]
    )
    rest = statement["rest"][0]
    assert {
        "name": "export",
        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
    } in rest["operation"]
    by_type = {r["type"]: r for r in rest["resource"]}
    patient_ops = {o["name"]: o["definition"] for o in by_type["Patient"]["operation"]}
    group_ops = {o["name"]: o["definition"] for o in by_type["Group"]["operation"]}
    assert patient_ops["export"].endswith("/patient-export")
    assert group_ops["export"].endswith("/group-export")
    assert "export" not in {o["name"] for o in by_type["Observation"]["operation"]}
