"""A demo-loaded SQLite database, made once per test run, copied for each page's live server."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import WARDBOOK, Server, free_port, migrate

DEMO_PATIENTS = "50"  # what `make run` loads, so pages may speak of "the demo patients"


def build_demo_database(path: Path) -> None:
    """Migrate a SQLite file and write the `make run` demo data (seed 1) into it."""
    partial = path.with_suffix(".partial")
    url = f"sqlite:///{partial}"
    migrate(url)
    subprocess.run(
        [WARDBOOK, "demo", "--patients", DEMO_PATIENTS, "--seed", "1", "--database", url],
        check=True,
        capture_output=True,
    )
    partial.rename(path)  # complete or absent: a crash never leaves a half-loaded file


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database; under xdist the workers share one (the first to arrive builds it)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # also when run with -p no:xdist
        path = tmp_path_factory.mktemp("docs-demo") / "demo.db"
        build_demo_database(path)
        return path
    shared = tmp_path_factory.getbasetemp().parent  # this run's directory, common to workers
    path = shared / "docs-demo.db"
    with (shared / "docs-demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            build_demo_database(path)
    return path


def start_page_server(demo_database: Path, workdir: Path, *, no_auth: bool) -> Server:
    """A server of its own for one page: the page's writes never meet another page's."""
    database = workdir / "wardbook.db"
    shutil.copyfile(demo_database, database)
    server = Server(f"sqlite:///{database}", free_port(), no_auth=no_auth)
    server.start()
    return server
