"""Browser fixtures: one real `wardbook serve` with demo data per module, one Chromium per run.

Playwright drives Debian's Chromium (installed by scripts/ensure_browser.sh) through
``executable_path``; nothing is downloaded. Browser tests share one xdist group so a single
worker runs them; each module reuses one browser and one server.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import WARDBOOK, Server, free_port, migrate

DEMO_PATIENTS = 4
DEMO_SEED = 3
# The manual's screenshots show times as a UK ward sees them (GMT in winter, BST in summer).
DEMO_TIMEZONE = "Europe/London"


class HospitalServer(Server):
    """A demo server on the hospital's clock, as the deployment kit's examples set it."""

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "WARDBOOK_TIMEZONE": DEMO_TIMEZONE}


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: run scripts/ensure_browser.sh", pytrace=False)
    return path


def demo_database(folder: Path) -> str:
    """A fresh SQLite database holding a few demo patients."""
    database = f"sqlite:///{folder}/wardbook.db"
    migrate(database)
    subprocess.run(
        [
            *(WARDBOOK, "demo", "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED)),
            *("--database", database),
        ],
        check=True,
        capture_output=True,
    )
    return database


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server (``--no-auth``, on Europe/London time) on SQLite holding a few demo patients."""
    database = demo_database(tmp_path_factory.mktemp("web"))
    server = HospitalServer(database, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module: Playwright's sync API keeps an event loop running while it
    is open, which async tests of other modules in the same worker could not share."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            chromium.close()
