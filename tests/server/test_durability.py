"""A write acknowledged to the client survives kill -9 of the server (both backends)."""

from __future__ import annotations

import json
import urllib.request

from tests.server.conftest import Server


def post(server: Server, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{server.fhir}/Patient",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)  # type: ignore[no-any-return]


def test_acknowledged_writes_survive_kill_9(server: Server) -> None:
    created = [
        post(server, {"resourceType": "Patient", "name": [{"family": f"Durable{i}"}]})
        for i in range(25)
    ]
    server.kill()  # SIGKILL straight after the last acknowledgement
    server.start()
    for resource in created:
        with urllib.request.urlopen(f"{server.fhir}/Patient/{resource['id']}") as response:
            assert json.load(response) == resource
