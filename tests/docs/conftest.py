"""A demo-loaded SQLite database, made once per worker, copied for each page's live server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import WARDBOOK, Server, free_port, migrate

DEMO_PATIENTS = "50"  # what `make run` loads, so pages may speak of "the demo patients"


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding the `make run` demo data (seed 1)."""
    path = tmp_path_factory.mktemp("docs-demo") / "demo.db"
    url = f"sqlite:///{path}"
    migrate(url)
    subprocess.run(
        [WARDBOOK, "demo", "--patients", DEMO_PATIENTS, "--seed", "1", "--database", url],
        check=True,
        capture_output=True,
    )
    return path


def start_page_server(demo_database: Path, workdir: Path, *, no_auth: bool) -> Server:
    """A server of its own for one page: the page's writes never meet another page's."""
    database = workdir / "wardbook.db"
    shutil.copyfile(demo_database, database)
    server = Server(f"sqlite:///{database}", free_port(), no_auth=no_auth)
    server.start()
    return server
