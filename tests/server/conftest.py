"""A real `wardbook serve` process on loopback, over each storage backend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

WARDBOOK = str(Path(sys.executable).parent / "wardbook")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its database URL, base URL and process."""

    database: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir"

    log: Path | None = None
    workers: int = 1
    no_auth: bool = True

    def start(self) -> None:
        env = {**os.environ, "WARDBOOK_LOG_LEVEL": "warning"}
        self.log = Path(tempfile.mkstemp(prefix="wardbook-server-", suffix=".log")[1])
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(WARDBOOK, "serve", "--database", self.database),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                    *(["--no-auth"] if self.no_auth else []),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/livez", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not become live in 30 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush: what a power cut looks like to the process."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def migrate(database: str) -> None:
    subprocess.run([WARDBOOK, "migrate", "--database", database], check=True, capture_output=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> str:
    """A fresh, migrated database of each backend (PostgreSQL ones dropped afterwards)."""
    url = f"sqlite:///{tmp_path}/wardbook.db" if request.param == "sqlite" else make_pg_database()
    migrate(url)
    return url


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    srv = Server(database_url, free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def two_worker_server(database_url: str) -> Iterator[Server]:
    """Two worker processes: races between processes, not only between tasks."""
    srv = Server(database_url, free_port(), workers=2)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
