"""Demo records shared by the tests: generated once per session (they are deterministic)."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.demo import DEFAULT_NOW, generate, shared_resources

SEED = 1
PATIENTS = 50


@pytest.fixture(scope="session")
def shared() -> list[dict[str, Any]]:
    return shared_resources(SEED)


@pytest.fixture(scope="session")
def records() -> list[list[dict[str, Any]]]:
    """What ``make run`` loads: 50 patients, seed 1, the default ``now``."""
    return list(generate(PATIENTS, SEED))


@pytest.fixture(scope="session")
def many_records() -> list[list[dict[str, Any]]]:
    """A larger population, for proportions and rare combinations."""
    return list(generate(300, 21))


@pytest.fixture(scope="session")
def resources(records: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [resource for record in records for resource in record]


@pytest.fixture(scope="session")
def now() -> Any:
    return DEFAULT_NOW
