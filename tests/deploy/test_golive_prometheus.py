"""The alert-rules item asking a real Prometheus (the Debian ``prometheus`` package that
scripts/deploy/install-tools.sh installs with promtool) which rules it has loaded."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from wardbook.ops import golive

RULES = Path(__file__).resolve().parents[2] / "deploy/monitoring/rules.yml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start Prometheus with one rules file; returns its base URL. Stopped afterwards."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run scripts/deploy/install-tools.sh"
    started: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []

    def start(rules: Path) -> str:
        folder = tmp_path / f"prometheus{len(started)}"
        folder.mkdir()
        config = folder / "prometheus.yml"
        config.write_text(f"global:\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n")
        port = free_port()
        logs.append((folder / "log").open("wb"))
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=logs[-1],
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return url
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"Prometheus did not become ready: {(folder / 'log').read_text()}")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)
    for log in logs:
        log.close()


def test_every_alert_loaded_in_prometheus_passes(prometheus: Callable[[Path], str]) -> None:
    url = prometheus(RULES)
    item = golive.check_alert_rules(golive.Options(prometheus_url=url))
    assert item.status == "pass", item.detail
    assert item.source is not None and url in item.source and "/api/v1/rules" in item.source
    assert f"all {len(golive.EXPECTED_ALERTS)} alerts loaded" in item.detail


def test_alerts_missing_from_prometheus_are_named(
    prometheus: Callable[[Path], str], tmp_path: Path
) -> None:
    text = RULES.read_text()
    partial = tmp_path / "partial.yml"
    partial.write_text(text[: text.index("  - name: wardbook-database-alerts")])
    url = prometheus(partial)

    item = golive.check_alert_rules(golive.Options(prometheus_url=url))
    assert item.status == "fail"
    assert "6 alert(s) not loaded" in item.detail
    assert "WardbookBackupTooOld" in item.detail and "WardbookDown" not in item.detail

    # With --rules-file too, the file's alerts are expected besides Wardbook's own.
    item = golive.check_alert_rules(golive.Options(prometheus_url=url, rules_file=RULES))
    assert item.status == "fail" and "6 alert(s) not loaded" in item.detail
    assert str(RULES) in (item.source or "")


def test_an_unreachable_prometheus_fails_with_the_reason() -> None:
    item = golive.check_alert_rules(
        golive.Options(prometheus_url=f"http://127.0.0.1:{free_port()}")
    )
    assert item.status == "fail" and "cannot read the loaded rules" in item.detail
