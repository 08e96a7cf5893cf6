"""Export everything, load the export into an empty database, export again: same resources."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wardbook.auth.principal import LOCAL_DEVELOPER, acting_as
from wardbook.fhir import jsonio
from wardbook.fhir.meta import strip_server_meta
from wardbook.service.export import ExportRequest, ExportService
from wardbook.service.export_runner import ExportRunner
from wardbook.service.ingest import ingest
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository

pytestmark = pytest.mark.anyio

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared/data/blaze-synthea"
SOURCES = [
    SYNTHEA / "0-hospitalInformation1625911868739.json.bz2",
    SYNTHEA / "0-practitionerInformation1625911868739.json.bz2",
    SYNTHEA / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2",
    SYNTHEA / "0696ac49-3128-87d3-7344-04510aa4f324.json.bz2",
]


async def export_all(repository: Repository, folder: Path) -> list[Path]:
    """Run a system-level export to completion; its NDJSON files."""
    service = ExportService(repository, folder)
    request = ExportRequest("system", None, None, None, {})
    with acting_as(LOCAL_DEVELOPER):
        job = await service.kick_off(request, "http://test/fhir/$export", "http://test/fhir")
    assert await ExportRunner(repository, folder).run_one()
    done = await service.jobs.get(job.id)
    assert done is not None and done.status == "completed", done
    paths = sorted((folder / job.id).glob("*.ndjson"))
    assert [p.name for p in paths] == sorted(f"{e['type']}.ndjson" for e in done.output or [])
    return paths


def content_hashes(paths: list[Path]) -> dict[str, str]:
    """Type/id -> SHA-256 of the resource without server-owned meta, keys sorted."""
    out: dict[str, str] = {}
    for path in paths:
        for line in path.read_bytes().splitlines():
            resource: dict[str, Any] = jsonio.loads(line)
            canonical = json.dumps(strip_server_meta(resource), sort_keys=True, default=str)
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in out, f"{key} exported twice"
            out[key] = hashlib.sha256(canonical.encode()).hexdigest()
    return out


@pytest.fixture
def second_url(repository_url: str, tmp_path: Path, make_pg_database: Callable[[], str]) -> str:
    """An empty database of the same backend as ``repository``."""
    if repository_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    return make_pg_database()


async def test_export_load_export_round_trips_every_resource(
    repository: Repository, second_url: str, tmp_path: Path
) -> None:
    report = await ingest(ResourceService(repository), SOURCES, workers=0)
    assert not report.rejected
    first = content_hashes(await export_all(repository, tmp_path / "first"))
    assert len(first) == report.written

    second = open_repository(second_url)
    await second.open()
    try:
        await second.migrate()
        files = await export_all(repository, tmp_path / "again")
        loaded = await ingest(ResourceService(second), files, workers=0)
        assert (loaded.written, loaded.rejected) == (len(first), [])
        assert content_hashes(await export_all(second, tmp_path / "second")) == first
        # Loading the same export again changes nothing.
        reloaded = await ingest(ResourceService(second), files, workers=0)
        assert (reloaded.written, reloaded.unchanged) == (0, len(first))
    finally:
        await second.close()
