"""/metrics of a two-worker server: every worker's requests summed, families from start-up."""

from __future__ import annotations

import urllib.request

from tests.api.test_metrics import DECLARED_TYPES, sample
from tests.server.conftest import Server


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_counts_are_summed_over_workers(two_worker_server: Server) -> None:
    status, first = get(f"{two_worker_server.base}/metrics")
    assert status == 200
    for name, kind in DECLARED_TYPES.items():
        assert f"# TYPE {name} {kind}" in first, name
    for _ in range(40):  # enough that both workers answer some (connections are not reused)
        assert get(f"{two_worker_server.fhir}/Patient/nobody")[0] == 404
    _, text = get(f"{two_worker_server.base}/metrics")
    got = sample(
        text,
        "wardbook_http_requests_total",
        interaction="read",
        resource_type="Patient",
        code="404",
    )
    assert got == 40
    assert "wardbook_db_pool_connections" in text
