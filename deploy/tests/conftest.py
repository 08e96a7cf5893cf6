"""Shared paths for the deployment-kit tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "aws"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
