"""Bulk $export goes through the one policy: a patient-scoped app with a granular scope
exports only its patient's resources that match the scope, nothing of another patient."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.auth.conftest import BASE, Records
from wardbook.app import build_app
from wardbook.auth.principal import Principal, acting_as
from wardbook.config import Settings
from wardbook.fhir import jsonio
from wardbook.service.export_runner import ExportRunner
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


async def test_patient_app_exports_only_its_patient_and_its_scope(
    repository: Repository, records: Records, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    app = build_app(Settings(env="test", no_auth=True, export_dir=str(exports)), repository)
    runner = ExportRunner(repository, exports, lease_seconds=30)
    labs_only = Principal(
        kind="client",
        subject="lab-viewer",
        client_id="lab-viewer",
        scopes=("patient/Observation.rs?category=laboratory", "patient/Patient.rs"),
        patient="alice",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        with acting_as(labs_only):
            kicked = await http.get("/Patient/$export", headers=ASYNC)
            assert kicked.status_code == 202, kicked.text
            status_url = kicked.headers["content-location"].removeprefix(BASE)
        assert await runner.run_one()
        with acting_as(labs_only):
            manifest = (await http.get(status_url)).json()
            exported = set()
            for entry in manifest["output"]:
                body = (await http.get(entry["url"].removeprefix(BASE))).content
                exported |= {
                    f"{r['resourceType']}/{r['id']}" for r in map(jsonio.loads, body.splitlines())
                }
    assert exported == {"Patient/alice", "Observation/lab-alice"}
