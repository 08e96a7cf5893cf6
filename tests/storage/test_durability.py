"""A write reported committed survives SIGKILL of the writing process, on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wardbook.storage.base import Dialect
from wardbook.storage.factory import open_repository

from .helpers import rows

pytestmark = pytest.mark.anyio

WRITER = Path(__file__).with_name("durability_writer.py")


def committed_then_killed(url: str, commits: int) -> list[str]:
    """Run the writer until it reports ``commits`` commits, SIGKILL it, return their ids."""
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(WRITER), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        try:
            while len(seen) < commits:
                line = child.stdout.readline().decode()
                if not line:
                    pytest.fail(f"writer exited early: {child.stderr.read().decode()}")
                seen.append(line.split()[1])
        finally:
            child.kill()  # SIGKILL: no atexit, no close -- most likely mid-transaction
            child.wait(timeout=30)
    assert child.returncode == -9
    return seen


async def test_reported_commits_survive_sigkill(blank_url: str) -> None:
    seen = committed_then_killed(blank_url, commits=40)

    repository = open_repository(blank_url)
    await repository.open()
    try:
        for resource_id in seen:
            stored = await repository.read("Patient", resource_id)
            assert stored is not None and stored.version == 1, resource_id
        indexed = await rows(repository, "SELECT count(*) FROM idx_string")
        entities = await rows(repository, "SELECT count(*) FROM resource_entity")
        assert indexed == entities  # each commit carried its index row with it
        if repository.dialect is Dialect.SQLITE:
            assert await rows(repository, "PRAGMA integrity_check") == [("ok",)]
    finally:
        await repository.close()
