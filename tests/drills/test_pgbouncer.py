"""Wardbook through pgbouncer in transaction mode (the Compose stack's and many hospitals'
set-up): CRUD, search, transactions and race-free conditional creates all work with
``?statement_cache_size=0``."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.drills.pgcluster import as_postgres, free_port, owned_temp_dir
from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.storage.factory import open_repository

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pgbouncer_url(make_pg_database: Callable[[], str]) -> Iterator[str]:
    direct = make_pg_database()
    database = urlsplit(direct).path.lstrip("/")
    folder = owned_temp_dir("wardbook-pgbouncer-")
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    config = folder / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{database} = host=127.0.0.1 port=5432 dbname={database} user=postgres\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder}/users.txt\n"
        "pool_mode = transaction\ndefault_pool_size = 5\nmax_client_conn = 200\n"
        f"logfile = {folder}/pgbouncer.log\npidfile = {folder}/pgbouncer.pid\n"
    )
    for path in folder.iterdir():
        subprocess.run(["chown", "postgres:postgres", str(path)], check=True)
    as_postgres("/usr/sbin/pgbouncer", "-d", str(config))
    deadline = time.monotonic() + 20
    while not (folder / "pgbouncer.pid").exists():
        assert time.monotonic() < deadline, "pgbouncer did not start"
        time.sleep(0.1)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}?statement_cache_size=0"
    finally:
        pid = (folder / "pgbouncer.pid").read_text().strip()
        subprocess.run(["kill", pid], check=False)
        time.sleep(0.3)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
async def client(pgbouncer_url: str) -> AsyncIterator[httpx.AsyncClient]:
    repository = open_repository(pgbouncer_url)
    await repository.open()
    await repository.migrate()
    try:
        app = build_app(Settings(env="test", no_auth=True), repository)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir") as http:
            yield http
    finally:
        await repository.close()


@pytest.mark.anyio
async def test_the_fhir_api_works_through_pgbouncer_transaction_pooling(
    client: httpx.AsyncClient,
) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "42"}]}
    created = await client.post("/Patient", json=patient)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert (await client.get(f"/Patient/{pid}")).status_code == 200
    updated = await client.put(f"/Patient/{pid}", json={**patient, "id": pid, "active": True})
    assert updated.status_code == 200
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert history["total"] == 2
    found = (await client.get("/Patient", params={"identifier": "urn:mrn|42"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]

    # 20 concurrent identical conditional creates: still exactly one resource
    condition = {"If-None-Exist": "identifier=urn:mrn|race"}
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "race"}]}
    responses = await asyncio.gather(
        *(client.post("/Patient", json=body, headers=condition) for _ in range(20))
    )
    assert sorted({r.status_code for r in responses}) in ([200, 201], [201])
    raced = (await client.get("/Patient", params={"identifier": "urn:mrn|race"})).json()
    assert len(raced["entry"]) == 1
    assert len({r.json()["id"] for r in responses}) == 1

    deleted = await client.delete(f"/Patient/{pid}")
    assert deleted.status_code in (200, 204)
    assert (await client.get(f"/Patient/{pid}")).status_code == 410
