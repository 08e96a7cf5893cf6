"""A search that runs too long is stopped by the database and answered 503, never 500.

Spec: R4 http.html#general (errors as OperationOutcome), search.html#errors; INTERFACES.md:
503 with Retry-After when timed out. The expensive search scans 200,000 index rows with
``:contains`` under a 1 ms limit; the next, normal search on the same server succeeds.
"""

from __future__ import annotations

import httpx
import pytest

from wardbook.config import load_settings
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio

ROWS = 200_000


async def _bulk_rows(repository: Repository) -> None:
    """One Patient with 200,000 name index rows: a ``:contains`` search must scan them all."""
    async with repository.transaction() as tx:
        runner = tx.runner
        await runner.fetch_all(
            "INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
            " VALUES ('Patient', 'bulk', 1, ?, 1)",
            [False],
        )
        pid = (
            await runner.fetch_all(
                "SELECT pid FROM resource_entity WHERE res_type = 'Patient' AND res_id = 'bulk'",
                [],
            )
        )[0][0]
        await runner.fetch_all(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)"
            " INSERT INTO idx_string (pid, res_type, param, value_norm, value_exact)"
            " SELECT ?, 'Patient', 'name', 'name' || CAST(x AS TEXT), 'Name' || CAST(x AS TEXT)"
            " FROM n",
            [ROWS, pid],
        )


async def test_expensive_search_is_503_then_the_server_answers_normally(
    client: httpx.AsyncClient, repository: Repository
) -> None:
    created = await client.post(
        "/Patient", json={"resourceType": "Patient", "name": [{"family": "Okafor"}]}
    )
    assert created.status_code == 201
    await _bulk_rows(repository)

    repository.search_timeout_ms = 1
    slow = await client.get("/Patient", params={"name:contains": "zzz-not-there"})
    assert slow.status_code == 503
    assert slow.headers["retry-after"] == "5"
    outcome = slow.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"
    assert "1 ms" in outcome["issue"][0]["diagnostics"]

    repository.search_timeout_ms = 10_000
    normal = await client.get("/Patient", params={"name": "okafor"})
    assert normal.status_code == 200
    assert [e["resource"]["id"] for e in normal.json()["entry"]] == [created.json()["id"]]
    # The same expensive search finishes within a generous limit: it was the limit, not a bug.
    finished = await client.get("/Patient", params={"name:contains": "zzz-not-there"})
    assert finished.status_code == 200
    assert finished.json()["total"] == 0
    ready = await client.get("http://testserver/readyz")
    assert ready.status_code == 200


def test_timeout_setting_is_read_from_the_environment() -> None:
    assert load_settings({}).search_timeout_ms == 10_000
    assert load_settings({"WARDBOOK_SEARCH_TIMEOUT_MS": "250"}).search_timeout_ms == 250
