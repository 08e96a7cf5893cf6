"""Point-in-time recovery drill with pgBackRest and WAL archiving (docs/operations/backup.md).

Write, take a full backup, write more, note an instant, write more again, lose the
database, restore to the instant: exactly the resources written before it exist. The
restore's duration (RTO of the database) and the archive lag (RPO) are printed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.drills.pgcluster import Cluster, as_postgres, cluster_root
from wardbook.cli import main
from wardbook.service.resources import ResourceService
from wardbook.storage.factory import open_repository

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def patient(pid: str) -> dict[str, object]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": f"Drill {pid}"}]}


async def write(url: str, ids: list[str]) -> None:
    repository = open_repository(url)
    await repository.open()
    try:
        service = ResourceService(repository)
        for pid in ids:
            await service.update("Patient", pid, patient(pid))
    finally:
        await repository.close()


async def existing(url: str, ids: list[str]) -> set[str]:
    repository = open_repository(url)
    await repository.open()
    try:
        return {pid for pid in ids if await repository.read("Patient", pid) is not None}
    finally:
        await repository.close()


def pgbackrest(config: Path, *args: str) -> None:
    as_postgres("pgbackrest", f"--config={config}", "--stanza=wardbook", *args, timeout=300)


def test_restore_to_a_point_in_time_gives_exactly_the_writes_before_it() -> None:
    with cluster_root() as root:
        config = root / "pgbackrest.conf"
        primary = Cluster(root, "primary")
        config.write_text(
            "[global]\n"
            f"repo1-path={root}/repo\nlog-path={root}\nlock-path={root}\n"
            "repo1-retention-full=1\nstart-fast=y\narchive-async=n\n"
            "[wardbook]\n"
            f"pg1-path={primary.data}\npg1-port={primary.port}\npg1-socket-path={root}\n"
        )
        primary.init(
            archive_mode="on",
            archive_command=f"'pgbackrest --config={config} --stanza=wardbook archive-push %p'",
            archive_timeout="60",
        )
        primary.start()
        pgbackrest(config, "stanza-create")
        primary.psql("CREATE DATABASE wardbook")
        url = primary.url_for("wardbook")
        assert main(["migrate", "--database", url]) == 0

        before_backup = [f"a{n}" for n in range(10)]
        asyncio.run(write(url, before_backup))
        pgbackrest(config, "--type=full", "backup")

        before_target = [f"b{n}" for n in range(10)]
        asyncio.run(write(url, before_target))
        time.sleep(1.1)
        target = primary.psql("SELECT now()::text")
        time.sleep(1.1)
        after_target = [f"c{n}" for n in range(10)]
        asyncio.run(write(url, after_target))
        switched = time.monotonic()
        pgbackrest(config, "check")  # switches WAL and waits until the segment is archived
        rpo_seconds = time.monotonic() - switched

        primary.stop("immediate")  # the database is lost; its WAL archive is not
        started = time.monotonic()
        pgbackrest(
            config,
            "--delta",
            "--type=time",
            f"--target={target}",
            "--target-action=promote",
            "restore",
        )
        primary.start()
        deadline = time.monotonic() + 60
        while primary.psql("SELECT pg_is_in_recovery()") == "t" and time.monotonic() < deadline:
            time.sleep(0.2)
        rto_seconds = time.monotonic() - started

        every = before_backup + before_target + after_target
        assert asyncio.run(existing(url, every)) == set(before_backup + before_target)
        # the recovered database is writable and current for Wardbook
        asyncio.run(write(url, ["after-recovery"]))
        assert main(["migrate", "--database", url]) == 0
        print(f"PITR drill: archive wait {rpo_seconds:.1f} s, restore+recovery {rto_seconds:.1f} s")
