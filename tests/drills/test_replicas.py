"""Read replicas with a real streaming replica (pg_basebackup, a second postmaster).

Reads go to the replica when it is caught up; a session reads its own writes (from the
primary until the replica has replayed them); a replica lagging over the bound, or down,
is skipped; nothing ever fails because of a replica.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

import pytest

from tests.drills.pgcluster import Cluster, cluster_root
from wardbook.auth.principal import Principal, acting_as
from wardbook.cli import main
from wardbook.search.parse import parse_search
from wardbook.service.resources import ResourceService
from wardbook.storage.factory import open_repository
from wardbook.storage.replicated import ReplicatedRepository

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALICE = Principal(kind="local", subject="alice", session_id="session-alice")
BOB = Principal(kind="local", subject="bob", session_id="session-bob")


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    with cluster_root() as root:
        primary = Cluster(root, "primary").init()
        primary.start()
        primary.psql("CREATE DATABASE wardbook")
        assert main(["migrate", "--database", primary.url_for("wardbook")]) == 0
        replica = Cluster(root, "replica").base_backup_of(primary)
        replica.start()
        yield primary, replica


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": "Replica"}]}


def test_reads_use_the_replica_yet_each_session_reads_its_own_writes(
    clusters: tuple[Cluster, Cluster],
) -> None:
    primary, replica = clusters

    async def drill() -> None:
        repository = open_repository(
            primary.url_for("wardbook"),
            replica_urls=[replica.url_for("wardbook")],
            max_replica_lag_seconds=2,
        )
        wrapped = cast(ReplicatedRepository, repository)
        wrapped.probe_interval = 0.1
        await repository.open()
        state = wrapped.replicas[0]
        service = ResourceService(repository)

        async def replica_ready() -> bool:
            return state.healthy and state.lag_seconds == 0

        try:
            await wait_for(replica_ready)
            replica.psql("SELECT pg_wal_replay_pause()")
            with acting_as(ALICE):
                await service.update("Patient", "p1", patient("p1"))
                primary_before = wrapped.primary_reads
                assert (await repository.read("Patient", "p1")) is not None  # her own write
                assert wrapped.primary_reads == primary_before + 1
            with acting_as(BOB):
                replica_before = state.reads
                # Bob's reads go to the replica, which has not replayed Alice's write yet
                assert (await repository.read("Patient", "p1")) is None
                assert state.reads == replica_before + 1
                page = await repository.search(
                    parse_search("Patient", [("_id", "p1")], strict=True)
                )
                assert page.entries == []

            # The replica falls behind beyond the bound: it is skipped, Bob sees the write
            with acting_as(ALICE):
                await service.update("Patient", "p2", patient("p2"))

            async def too_far_behind() -> bool:
                return state.lag_seconds > 2

            await wait_for(too_far_behind)
            with acting_as(BOB):
                assert (await repository.read("Patient", "p1")) is not None

            # Replay resumes: the replica catches up and serves everyone again
            replica.psql("SELECT pg_wal_replay_resume()")
            await wait_for(replica_ready)
            with acting_as(ALICE):
                before = state.reads
                assert (await repository.read("Patient", "p2")) is not None
                assert state.reads == before + 1
        finally:
            replica.psql("SELECT pg_wal_replay_resume()")
            await repository.close()

    asyncio.run(drill())


def test_a_replica_that_is_down_is_skipped_and_rejoins(
    clusters: tuple[Cluster, Cluster],
) -> None:
    primary, replica = clusters

    async def drill() -> None:
        repository = open_repository(
            primary.url_for("wardbook"), replica_urls=[replica.url_for("wardbook")]
        )
        wrapped = cast(ReplicatedRepository, repository)
        wrapped.probe_interval = 0.1
        await repository.open()
        state = wrapped.replicas[0]
        service = ResourceService(repository)
        try:
            with acting_as(ALICE):
                await service.update("Patient", "p3", patient("p3"))
            replica.stop("immediate")

            async def marked_down() -> bool:
                return not state.healthy

            await wait_for(marked_down)
            with acting_as(BOB):
                for _ in range(5):
                    assert (await repository.read("Patient", "p3")) is not None
            assert wrapped.replica_status()[state.name] == float("inf")
            replica.start()

            async def back() -> bool:
                return state.healthy and state.lag_seconds == 0

            await wait_for(back)
            with acting_as(BOB):
                before = state.reads
                assert (await repository.read("Patient", "p3")) is not None
                assert state.reads == before + 1
        finally:
            await repository.close()

    asyncio.run(drill())


def test_replica_lag_is_exported_as_a_metric(clusters: tuple[Cluster, Cluster]) -> None:
    import httpx

    from wardbook.app import build_app
    from wardbook.config import Settings

    primary, replica = clusters

    async def drill() -> str:
        repository = open_repository(
            primary.url_for("wardbook"), replica_urls=[replica.url_for("wardbook")]
        )
        await repository.open()
        try:
            app = build_app(Settings(env="test", no_auth=True), repository)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get("/metrics")).text
        finally:
            await repository.close()

    text = asyncio.run(drill())
    lines = [line for line in text.splitlines() if line.startswith("wardbook_replica_lag_seconds{")]
    assert len(lines) == 1
    assert f":{replica.port}/wardbook" in lines[0]
    assert float(lines[0].rsplit(" ", 1)[1]) < 5
