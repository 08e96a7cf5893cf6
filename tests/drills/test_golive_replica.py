"""`wardbook golive check` on a primary with a real streaming replica: every item passes,
the replica item included; a stopped replica fails it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli_security import _write_events
from tests.deploy.test_golive import (
    PUBLIC_HOST,
    RULES,
    add_admin,
    production_environment,
    self_signed_certificate,
)
from tests.drills.pgcluster import Cluster, cluster_root
from wardbook.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    with cluster_root() as root:
        primary = Cluster(root, "primary").init()
        primary.start()
        primary.psql("CREATE DATABASE wardbook")
        replica = Cluster(root, "replica").base_backup_of(primary)
        replica.start()
        yield primary, replica


def test_every_item_passes_with_a_healthy_replica_and_fails_when_it_stops(
    clusters: tuple[Cluster, Cluster],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    primary, replica = clusters
    url = primary.url_for("wardbook")
    assert main(["migrate", "--database", url]) == 0
    production_environment(monkeypatch, url)
    monkeypatch.setenv("WARDBOOK_DATABASE_REPLICA_URLS", replica.url_for("wardbook"))
    add_admin(url, "ops.admin", confirm_mfa=True)
    _write_events(url, 3)
    assert main(["backup", "--output", str(tmp_path / "wardbook.dump"), "--verify"]) == 0
    cert = self_signed_certificate(tmp_path / "tls.pem", PUBLIC_HOST, days=90)
    args = ["golive", "check", "--json", "--tls-cert", str(cert), "--rules-file", str(RULES)]

    capsys.readouterr()
    status = main(args)
    items = {i["id"]: i for i in json.loads(capsys.readouterr().out)["items"]}
    assert status == 0, json.dumps(items, indent=1)
    assert {i["status"] for i in items.values()} == {"pass"}
    assert f"127.0.0.1:{replica.port}" in items["replicas"]["detail"]
    assert "lag" in items["replicas"]["detail"]

    replica.stop()
    status = main(args)
    items = {i["id"]: i for i in json.loads(capsys.readouterr().out)["items"]}
    assert status == 1
    assert [name for name, i in items.items() if i["status"] == "fail"] == ["replicas"]
    assert "unreachable" in items["replicas"]["detail"]
