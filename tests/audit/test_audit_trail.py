"""Every FHIR call and web page view leaves an AuditEvent; writes leave a Provenance."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.audit.conftest import writer_of
from wardbook.audit.chain import verify_chain
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/fhir+json"}


async def flushed(app: Any) -> None:
    await writer_of(app).flush()


async def search(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await client.get(f"/fhir/{query}")
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


async def test_reads_searches_and_writes_are_audited(
    client: httpx.AsyncClient, app: Any, repository: Repository
) -> None:
    created = await client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Okafor"}]},
        headers=JSON,
    )
    assert created.status_code == 201
    pid = created.json()["id"]
    obs = await client.post(
        "/fhir/Observation",
        json={
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "Heart rate"},
            "subject": {"reference": f"Patient/{pid}"},
        },
        headers=JSON,
    )
    oid = obs.json()["id"]
    assert (await client.get(f"/fhir/Observation/{oid}")).status_code == 200
    assert (await client.get(f"/fhir/Patient/{pid}")).status_code == 200
    assert (await client.get(f"/fhir/Observation?subject=Patient/{pid}")).status_code == 200
    assert (await client.get("/fhir/Observation/nope")).status_code == 404
    await flushed(app)

    events = await search(client, f"AuditEvent?patient={pid}&_count=100")
    subtypes = sorted(e["subtype"][0]["code"] for e in events)
    # create Patient, create Observation, read Observation, read Patient, search
    assert subtypes == ["create", "create", "read", "read", "search-type"]
    for event in events:
        assert event["type"]["code"] == "rest"
        assert event["outcome"] == "0"
        assert event["agent"][0]["network"]["address"] == "203.0.113.7"
        assert event["source"]["observer"]["display"] == "Wardbook"
        assert {"reference": f"Patient/{pid}"} in [e.get("what") for e in event["entity"]]
    query_event = next(e for e in events if e["subtype"][0]["code"] == "search-type")
    query_entity = next(e for e in query_event["entity"] if "query" in e)
    assert base64.b64decode(query_entity["query"]).decode().endswith(f"subject=Patient/{pid}")
    read_obs = next(e for e in events if e["action"] == "R" and len(e["entity"]) > 1)
    assert {"reference": f"Observation/{oid}"} in [e.get("what") for e in read_obs["entity"]]

    failed = await search(client, "AuditEvent?outcome=4")
    assert any(e.get("outcomeDesc") == "HTTP 404" for e in failed)

    provenance = await search(client, f"Provenance?target=Observation/{oid}")
    assert len(provenance) == 1
    assert provenance[0]["activity"]["coding"][0]["code"] == "CREATE"

    dated = await search(client, f"AuditEvent?patient={pid}&date=ge2000-01-01")
    assert len(dated) == 5
    assert (await verify_chain(repository)).intact


async def test_every_request_and_web_page_is_audited(
    client: httpx.AsyncClient, app: Any, repository: Repository
) -> None:
    paths = ["/fhir/metadata", "/fhir/Patient", "/", "/fhir/Patient/x/_history", "/livez"]
    for path in paths:
        await client.get(path)
    await flushed(app)
    events = await search(client, "AuditEvent?_count=100")
    names = sorted(
        ent["name"] for e in events for ent in e.get("entity", []) if "name" in ent
    ) + sorted(
        base64.b64decode(ent["query"]).decode()
        for e in events
        for ent in e.get("entity", [])
        if "query" in ent
    )
    # /livez is a health probe: not audited. Everything else is, once.
    assert len(events) == 4
    assert "GET /" in names
    web = [e for e in events if e["type"]["code"] == "web-page"]
    assert len(web) == 1


async def test_shutdown_flushes_the_buffer(repository: Repository, settings: Any) -> None:
    from tests.audit.conftest import lifespan
    from wardbook.app import build_app

    app = build_app(settings.with_overrides(audit_flush_ms=60_000), repository)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for _ in range(3):
                await http.get("/fhir/metadata")
        assert writer_of(app).pending == 3  # an hour-long interval: nothing written yet
    report = await verify_chain(repository)
    assert report.intact and report.checked == 3


async def test_sync_mode_commits_the_record_before_the_response_ends(
    repository: Repository,
) -> None:
    """``WARDBOOK_AUDIT_MODE=sync`` (docs/security.md): the AuditEvent is committed before
    the response's last byte, so it is in the trail when the client has its answer."""
    from tests.audit.conftest import lifespan
    from wardbook.app import build_app
    from wardbook.config import Settings

    app = build_app(Settings(env="test", no_auth=True, audit_mode="sync"), repository)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            writer = writer_of(app)
            created = await http.post(
                "/fhir/Patient", json={"resourceType": "Patient", "active": True}, headers=JSON
            )
            assert created.status_code == 201
            assert writer.pending == 0 and writer.written == 1
            assert (await http.get(f"/fhir/Patient/{created.json()['id']}")).status_code == 200
            assert writer.pending == 0 and writer.written == 2
