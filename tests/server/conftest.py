"""A real `wardbook serve` process on loopback, over each storage backend."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wardbook.ops.server_process import WARDBOOK, ServerProcess, free_port

__all__ = ["WARDBOOK", "Server", "free_port", "migrate"]


class Server(ServerProcess):
    """A running server: its database URL, base URL and process (wardbook.ops.server_process).

    ``kill()`` is SIGKILL to the server's whole process group, workers included.
    """


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
