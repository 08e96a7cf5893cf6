"""scripts/deploy/smoke_test.py, the check every deploy runs, against a real server.

Passes against `wardbook serve` (both storage backends); fails, with a reason and a
non-zero exit, when the server is not ready, answers a wrong document, or is unreachable.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.conftest import Server, free_port, migrate

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scripts" / "deploy" / "smoke_test.py"


def smoke(base: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), base, "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def running(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path}/wardbook.db" if request.param == "sqlite" else make_pg_database()
    migrate(url)
    server = Server(url, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_smoke_test_passes_against_a_running_server(running: Server) -> None:
    result = smoke(running.base)
    assert result.returncode == 0, result.stderr
    for check in ("live", "ready", "capability statement", "unknown resource is a clean 404"):
        assert f"smoke: ok   {check}" in result.stdout


class _Stub(http.server.BaseHTTPRequestHandler):
    """A server that is live but not ready (or ready but serving a wrong metadata document)."""

    ready = False

    def do_GET(self) -> None:
        answers = {
            "/livez": (200, b'{"status":"ok"}'),
            "/readyz": (200, b'{"status":"ready"}')
            if self.ready
            else (503, b'{"status":"unavailable","pending_migrations":"0002_x"}'),
        }
        status, body = answers.get(self.path, (200, b'{"resourceType":"Patient"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(
    params=[
        (False, 'FAIL /readyz answered 503: b\'{"status":"unavailable","pending_migrations"'),
        (True, "FAIL /fhir/metadata is a 'Patient'"),
    ],
    ids=["not-ready", "wrong-metadata"],
)
def stub(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    ready, expected = request.param
    handler = type("Stub", (_Stub,), {"ready": ready})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", expected
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_smoke_test_fails_on_a_broken_release(stub: tuple[str, str]) -> None:
    base, expected = stub
    result = smoke(base, timeout=3)
    assert result.returncode == 1
    assert "smoke: ok   live" in result.stdout
    assert expected in result.stderr


def test_smoke_test_fails_when_nothing_listens() -> None:
    result = smoke(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert result.returncode == 1
    assert "FAIL /livez did not answer 200 within 2s" in result.stderr
