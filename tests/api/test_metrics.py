"""/metrics in one process: declared families, request counting, bounded labels."""

from __future__ import annotations

import re

import httpx
import pytest

from wardbook.ops import metrics

pytestmark = pytest.mark.anyio

DECLARED_TYPES = {
    "wardbook_http_requests_total": "counter",
    "wardbook_http_request_duration_seconds": "histogram",
    "wardbook_db_pool_connections": "gauge",
    "wardbook_replica_lag_seconds": "gauge",
    "wardbook_backup_last_success_timestamp_seconds": "gauge",
    "wardbook_break_glass_total": "counter",
    "wardbook_logins_total": "counter",
    "wardbook_export_jobs": "gauge",
    "wardbook_jobs_queued": "gauge",
    "wardbook_audit_events_written_total": "counter",
    "wardbook_audit_pending": "gauge",
    "wardbook_audit_writer_restarts_total": "counter",
}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of an exposition (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("http://testserver/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_every_metric_is_declared_with_its_type(client: httpx.AsyncClient) -> None:
    text = await scrape(client)
    for name, kind in DECLARED_TYPES.items():
        assert f"# TYPE {name} {kind}" in text, name
        assert f"# HELP {name} " in text, name


async def test_requests_are_counted_by_interaction_type_and_code(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    created = await client.post("/Patient", json={"resourceType": "Patient"})
    assert created.status_code == 201
    pid = created.json()["id"]
    for _ in range(3):
        assert (await client.get(f"/Patient/{pid}")).status_code == 200
    assert (await client.get("/Patient/does-not-exist")).status_code == 404
    after = await scrape(client)

    def delta(**labels: str) -> float:
        name = "wardbook_http_requests_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta(interaction="read", resource_type="Patient", code="200") == 3
    assert delta(interaction="read", resource_type="Patient", code="404") == 1
    assert delta(interaction="create", resource_type="Patient", code="201") == 1
    count = "wardbook_http_request_duration_seconds_count"
    assert sample(after, count, interaction="read", resource_type="Patient") - sample(
        before, count, interaction="read", resource_type="Patient"
    ) == pytest.approx(4)


async def test_labels_stay_bounded_for_unknown_types_and_paths(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    assert (await client.get("/NotAType/x")).status_code == 404
    assert (await client.get("/Patient/a/b/c/d/e")).status_code == 404
    after = await scrape(client)
    assert "NotAType" not in after
    name = "wardbook_http_requests_total"
    got = sample(after, name, interaction="read", resource_type="-", code="404")
    assert got - sample(before, name, interaction="read", resource_type="-", code="404") == 1
    unknown = sample(after, name, interaction="unknown", resource_type="-", code="404")
    assert unknown - sample(before, name, interaction="unknown", resource_type="-", code="404") == 1


async def test_probe_and_web_requests_are_labelled_apart(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert (await client.get("http://testserver/livez")).status_code == 200
    after = await scrape(client)
    name = "wardbook_http_requests_total"
    assert (
        sample(after, name, interaction="probe", resource_type="-", code="200")
        - sample(before, name, interaction="probe", resource_type="-", code="200")
        == 1
    )


def test_type_label_only_accepts_r4_types() -> None:
    assert metrics.type_label("Observation") == "Observation"
    assert metrics.type_label("observation") == "-"
    assert metrics.type_label(None) == "-"


async def test_export_jobs_are_counted_by_state(client: httpx.AsyncClient) -> None:
    kick = await client.get("/$export", headers={"Prefer": "respond-async"})
    assert kick.status_code == 202, kick.text
    text = await scrape(client)
    states = ("accepted", "in-progress", "completed", "failed", "cancelled")
    total = sum(sample(text, "wardbook_export_jobs", state=s) for s in states)
    assert total >= 1
    assert "wardbook_jobs_queued " in text


async def test_sign_ins_and_break_the_glass_are_counted(client: httpx.AsyncClient) -> None:
    import time

    from wardbook.audit.records import AuditRecord
    from wardbook.audit.writer import count_security_event
    from wardbook.auth.principal import LOCAL_DEVELOPER

    before = await scrape(client)
    for kind in ("login", "login-failed", "login-failed", "mfa-failed", "break-glass", "rest"):
        count_security_event(AuditRecord(kind, time.time_ns() // 1000, LOCAL_DEVELOPER, None))  # type: ignore[arg-type]
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("wardbook_logins_total", outcome="success") == 1
    assert delta("wardbook_logins_total", outcome="failure") == 2
    assert delta("wardbook_logins_total", outcome="mfa_failure") == 1
    assert delta("wardbook_break_glass_total") == 1
