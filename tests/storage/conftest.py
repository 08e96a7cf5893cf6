"""Storage-only fixtures: blank (unmigrated) databases of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database with no schema at all (PostgreSQL: dropped after the test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    make = request.getfixturevalue("make_pg_database")
    url: str = make()
    return url
