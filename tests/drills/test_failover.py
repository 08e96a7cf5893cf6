"""Failover drill: kill -9 the primary, promote the synchronous replica, and watch Wardbook
carry on through the one address it was given, without a restart and without losing any
acknowledged write. Clients see 503s (never a 500) during the switch; the outage is printed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests.drills.pgcluster import Cluster, cluster_root
from tests.drills.proxy import SwitchableProxy
from tests.server.conftest import Server, free_port
from wardbook.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def post_patient(fhir: str, n: int) -> tuple[int, str | None]:
    body = json.dumps({"resourceType": "Patient", "name": [{"family": f"Failover{n}"}]})
    request = urllib.request.Request(
        f"{fhir}/Patient",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())["id"]
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_primary_killed_replica_promoted_no_acknowledged_write_lost() -> None:
    with cluster_root() as root:
        primary = Cluster(root, "primary").init()
        primary.start()
        primary.psql("CREATE DATABASE wardbook")
        replica = Cluster(root, "replica").base_backup_of(primary)
        replica.start()
        # synchronous replication: a commit is acknowledged once the replica has it too
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while primary.psql("SELECT sync_state FROM pg_stat_replication") != "sync":
            assert time.monotonic() < deadline, "replica never became synchronous"
            time.sleep(0.2)

        proxy = SwitchableProxy(primary.port)
        proxy.start()
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/wardbook?read_connections=2"
        assert main(["migrate", "--database", url]) == 0
        server = Server(url, free_port())
        server.start()
        acknowledged: list[str] = []
        statuses: Counter[int] = Counter()
        stop = threading.Event()
        first_failure: list[float] = []
        recovered: list[float] = []
        killed_at: list[float] = []

        def writer() -> None:
            n = 0
            while not stop.is_set():
                status, pid = post_patient(server.fhir, n)
                n += 1
                statuses[status] += 1
                if status == 201 and pid:
                    acknowledged.append(pid)
                    if killed_at and not recovered and first_failure:
                        recovered.append(time.monotonic())
                elif killed_at and not first_failure:
                    first_failure.append(time.monotonic())
                if status != 201:
                    time.sleep(0.05)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            time.sleep(2)
            before_kill = len(acknowledged)
            assert before_kill > 0
            killed_at.append(time.monotonic())
            primary.kill9()
            time.sleep(1)  # the time a failure detector (Patroni, CloudNativePG) takes
            replica.promote()
            proxy.switch(replica.port)
            deadline = time.monotonic() + 60
            while not recovered and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)
        finally:
            stop.set()
            thread.join(30)
        try:
            assert recovered, f"writes never recovered: {statuses}"
            outage = recovered[0] - killed_at[0]
            assert set(statuses) <= {201, 503}, statuses  # never a 500, never a hang
            lost = [
                pid for pid in acknowledged if get_status(f"{server.fhir}/Patient/{pid}") != 200
            ]
            assert lost == [], f"{len(lost)} acknowledged write(s) lost"
            assert len(acknowledged) > before_kill
            print(
                f"failover drill: outage {outage:.1f} s, {len(acknowledged)} writes acknowledged, "
                f"statuses {dict(statuses)}"
            )
        finally:
            server.stop()
            proxy.stop()
