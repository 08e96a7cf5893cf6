"""kill -9 the server during a Bulk Data export; after a restart the job completes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import WARDBOOK, Server, free_port
from wardbook.storage.export_jobs import ExportJobs
from wardbook.storage.factory import open_repository

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared/data/blaze-synthea"
# The hospitals and practitioners, then twelve patients' records (which refer to them):
# enough that the export is still running when the kill lands, even on an idle machine.
BUNDLES = sorted(SYNTHEA.glob("*.json.bz2"))[:14]


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers.items()), error.read()


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def job_status(database: str, job_id: str) -> str:
    async def read() -> str:
        repository = open_repository(database)
        await repository.open()
        try:
            job = await ExportJobs(repository).get(job_id)
            assert job is not None
            return job.status
        finally:
            await repository.close()

    return asyncio.run(read())


def kick_off(server: Server) -> str:
    status, headers, body = get(
        f"{server.fhir}/Patient/$export", Prefer="respond-async", Accept="application/fhir+json"
    )
    assert status == 202, body
    return headers["content-location"]


def wait_until_complete(status_url: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, headers, body = get(status_url)
        if status == 200:
            return json.loads(body)
        assert status == 202, body
        assert headers["retry-after"]
        time.sleep(0.2)
    raise AssertionError("the export did not complete")


@pytest.mark.slow
def test_an_export_killed_midway_completes_after_restart(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = subprocess.run(
        [WARDBOOK, "load", *map(str, BUNDLES), "--database", database_url, "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loaded.returncode == 0, loaded.stderr
    exports = tmp_path / "exports"
    monkeypatch.setenv("WARDBOOK_EXPORT_DIR", str(exports))
    monkeypatch.setenv("WARDBOOK_EXPORT_LEASE_SECONDS", "2")
    server = Server(database_url, free_port())
    server.start()
    try:
        # Kill the server as soon as the job runs; if it already finished, try again.
        for _ in range(10):
            status_url = kick_off(server)
            job_id = status_url.rsplit("/", 1)[1]
            while True:
                status, headers, _ = get(status_url)
                if status != 202 or headers["x-progress"] != "Accepted":
                    break
                time.sleep(0.01)
            server.kill()
            if job_status(database_url, job_id) == "in-progress":
                break
            server.start()
        else:
            pytest.fail("every export finished before the server could be killed")

        server.start()  # the new process takes the job over once the dead one's lease ends
        manifest = wait_until_complete(status_url)
        # A second export on the healthy server is the reference.
        reference = wait_until_complete(kick_off(server))
    finally:
        server.stop()

    counts = {entry["type"]: entry["count"] for entry in manifest["output"]}
    assert counts == {entry["type"]: entry["count"] for entry in reference["output"]}
    assert counts["Patient"] == len(BUNDLES) - 2
    seen: set[str] = set()
    for entry in manifest["output"]:
        path = exports / job_id / f"{entry['type']}.ndjson"
        lines = path.read_bytes().splitlines()
        assert len(lines) == entry["count"]
        for line in lines:
            resource = json.loads(line)
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in seen, f"{key} written twice"
            seen.add(key)
    assert sorted(p.name for p in (exports / job_id).iterdir()) == sorted(
        f"{t}.ndjson" for t in counts
    )
