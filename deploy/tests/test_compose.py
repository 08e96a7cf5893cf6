"""The compose stack: structure, and every service's configuration points at the right ports.

Resolved by Debian's docker-compose (`docker-compose config`), so the test sees what the
engine would run, with variables substituted.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker" / "compose.yaml"


@pytest.fixture(scope="module")
def stack() -> dict:
    assert shutil.which("docker-compose"), "run scripts/deploy/install-tools.sh"
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "WARDBOOK_DB_PASSWORD": "s3cret-for-test"},
    ).stdout
    return yaml.safe_load(out)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def _ports(service: dict) -> list[tuple[str, int, int]]:
    """(host address, published, container port) in either compose port syntax."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            result.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
        else:  # docker-compose v1 prints "127.0.0.1:8080:8080/tcp"
            host, published, target = port.split("/")[0].rsplit(":", 2)
            result.append((host, int(published), int(target)))
    return result


def _published(service: dict) -> dict[int, int]:
    return {target: published for _, published, target in _ports(service)}


def _mounts(service: dict) -> dict[Path, str]:
    """Bind mounts as {resolved host path: container path}, in either volume syntax."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith(("/", ".")):
            result[Path(source).resolve()] = target
    return result


def _pgbouncer_ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "deploy" / "docker" / "pgbouncer" / "pgbouncer.ini")
    return ini


def test_the_stack_has_every_service(stack: dict) -> None:
    assert set(stack["services"]) == {
        "db-primary",
        "db-replica",
        "pgbouncer",
        "migrate",
        "wardbook",
        "prometheus",
    }


def test_wardbook_reaches_the_primary_through_pgbouncer_and_reads_from_the_replica(
    stack: dict,
) -> None:
    env = _env(stack["services"]["wardbook"])
    primary = urlsplit(env["WARDBOOK_DATABASE_URL"])
    assert (primary.hostname, primary.port) == ("pgbouncer", 6432)
    assert primary.password == "s3cret-for-test"  # the variable, not a baked-in value
    assert primary.query == "statement_cache_size=0"  # transaction pooling
    ini = _pgbouncer_ini()
    assert ini["pgbouncer"]["listen_port"] == "6432"
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    target = dict(kv.split("=") for kv in ini["databases"][primary.path.lstrip("/")].split())
    assert (target["host"], target["port"]) == ("db-primary", "5432")
    replica = urlsplit(env["WARDBOOK_DATABASE_REPLICA_URLS"])
    assert (replica.hostname, replica.port) == ("db-replica", 5432)
    migrate = urlsplit(_env(stack["services"]["migrate"])["WARDBOOK_DATABASE_URL"])
    assert (migrate.hostname, migrate.port) == ("db-primary", 5432)  # DDL bypasses pgbouncer


def test_postgres_ports_and_streaming_replication(stack: dict) -> None:
    primary = stack["services"]["db-primary"]
    assert "port=5432" in primary["command"] and "wal_level=replica" in primary["command"]
    replica = stack["services"]["db-replica"]
    env = _env(replica)
    assert (env["PRIMARY_HOST"], env["PRIMARY_PORT"]) == ("db-primary", "5432")
    script = (ROOT / "deploy/docker/postgres/start-replica.sh").read_text()
    assert "pg_basebackup" in script and " -R " in script and "port=5432" in script
    init = (ROOT / "deploy/docker/postgres/init-primary.sh").read_text()
    assert "REPLICATION" in init and "replica_1" in script and "replica_1" in init


def test_wardbook_service_is_hardened_and_published_on_loopback(stack: dict) -> None:
    wardbook = stack["services"]["wardbook"]
    env = _env(wardbook)
    assert _published(wardbook) == {int(env["WARDBOOK_PORT"]): 8080}
    assert all(host == "127.0.0.1" for host, _, _ in _ports(wardbook))
    assert wardbook["read_only"] is True and "/tmp" in wardbook["tmpfs"]
    assert wardbook["cap_drop"] == ["ALL"]
    assert wardbook["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    build = stack["services"]["migrate"]["build"]
    assert Path(build["context"]).resolve() == ROOT
    assert build["dockerfile"] == "deploy/docker/Dockerfile"


def test_prometheus_scrapes_wardbook_and_loads_the_project_rules(stack: dict) -> None:
    prometheus = stack["services"]["prometheus"]
    config = yaml.safe_load((ROOT / "deploy/docker/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    port = _env(stack["services"]["wardbook"])["WARDBOOK_PORT"]
    assert targets["wardbook"] == [f"wardbook:{port}"]
    rules_target = _mounts(prometheus)[(ROOT / "deploy/monitoring/rules.yml").resolve()]
    assert config["rule_files"] == [rules_target]
    assert _published(prometheus) == {9090: 9090}
    # Prometheus and Wardbook share a network so the scrape target resolves.
    assert set(prometheus["networks"]) & set(stack["services"]["wardbook"]["networks"])
