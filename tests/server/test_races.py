"""Races across worker processes through real HTTP (both backends)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.server.conftest import Server

MRN = "https://wardbook.example.org/mrn"


def send(server: Server, method: str, path: str, body: object, **headers: str) -> int:
    request = urllib.request.Request(
        f"{server.fhir}/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json", **headers},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def total(server: Server, query: str) -> int:
    with urllib.request.urlopen(f"{server.fhir}/Patient?{query}", timeout=30) as response:
        return int(json.load(response)["total"])


def test_twenty_concurrent_conditional_creates_make_one_patient(
    two_worker_server: Server,
) -> None:
    body = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "RACE-HTTP"}]}
    criteria = urllib.parse.urlencode({"identifier": f"{MRN}|RACE-HTTP"})
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(
            pool.map(
                lambda _: send(
                    two_worker_server, "POST", "Patient", body, **{"If-None-Exist": criteria}
                ),
                range(20),
            )
        )
    assert sorted(statuses) == [200] * 19 + [201], statuses
    assert total(two_worker_server, criteria) == 1


def test_concurrent_updates_with_if_match_one_wins(two_worker_server: Server) -> None:
    assert (
        send(
            two_worker_server, "PUT", "Patient/race-2", {"resourceType": "Patient", "id": "race-2"}
        )
        == 201
    )

    def update(n: int) -> int:
        body = {"resourceType": "Patient", "id": "race-2", "birthDate": f"19{10 + n}-01-01"}
        return send(two_worker_server, "PUT", "Patient/race-2", body, **{"If-Match": 'W/"1"'})

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(update, range(10)))
    assert sorted(statuses) == [200] + [412] * 9, statuses
