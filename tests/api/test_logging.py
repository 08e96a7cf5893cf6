"""Access logs: one JSON object per request, with its request id, and no PHI."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from wardbook.ops.logging import JsonFormatter, next_request_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("wardbook.access")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


async def test_one_json_line_per_request_with_its_id_and_no_phi(
    client: httpx.AsyncClient, access_lines: io.StringIO
) -> None:
    response = await client.get("/Patient", params={"name": "Okafor", "birthdate": "1984-03-02"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in access_lines.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["path"] == "/fhir/Patient"
    assert line["status"] == 200
    # The request id and timestamp are random or clock-derived digits, so they are
    # taken out before looking for the search values (a generated id once held "1984").
    rest = {key: value for key, value in line.items() if key not in ("request_id", "ts")}
    logged = json.dumps(rest)
    assert "Okafor" not in logged
    assert "1984" not in logged
    assert "birthdate" not in logged


async def test_a_client_request_id_is_kept(
    client: httpx.AsyncClient, access_lines: io.StringIO
) -> None:
    response = await client.get("/metadata", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert json.loads(access_lines.getvalue())["request_id"] == "trace-123"


def test_generated_request_ids_are_unique() -> None:
    ids = {next_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 for i in ids)
