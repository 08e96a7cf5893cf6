"""Shared fixtures for the FHIR model tests: the official R4 examples."""

from __future__ import annotations

import copy
import gzip
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from wardbook.fhir import jsonio

EXAMPLES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "r4-examples"
    / "r4-examples.ndjson.gz"
)


@cache
def load_examples() -> tuple[dict[str, Any], ...]:
    """The 5,297 official R4 example resources, parsed with Wardbook's JSON reader."""
    with gzip.open(EXAMPLES) as handle:
        return tuple(jsonio.loads(line) for line in handle if line.strip())


@pytest.fixture(scope="session")
def r4_examples() -> tuple[dict[str, Any], ...]:
    if not EXAMPLES.exists():
        pytest.fail(f"missing test data {EXAMPLES} (see shared/data/README.md)")
    return load_examples()


@pytest.fixture(scope="session")
def example(r4_examples: tuple[dict[str, Any], ...]) -> Callable[[str, str], dict[str, Any]]:
    """A deep copy of one official example by (resourceType, id), safe to mutate."""
    by_key = {(r["resourceType"], r.get("id")): r for r in r4_examples}

    def get(resource_type: str, resource_id: str) -> dict[str, Any]:
        return copy.deepcopy(by_key[(resource_type, resource_id)])

    return get
