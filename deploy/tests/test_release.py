"""scripts/deploy/release.py against a fake kubectl that keeps revisions like Kubernetes.

Proves: only digests are deployed; the migration Job runs before the Deployment rolls;
a failed migration stops the deploy before new pods start; a failed rollout exits non-zero;
rollback returns to the exact previous image through its recorded revision, is idempotent,
and refuses when nothing was recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "scripts" / "deploy" / "release.py"
FAKE = Path(__file__).with_name("fake_kubectl.py")
REAL_KUBECTL = Path(sys.executable).parent / "kubectl"
GOOD = "ghcr.io/wardbook/wardbook@sha256:" + "a" * 64
NEXT = "ghcr.io/wardbook/wardbook@sha256:" + "b" * 64
BAD = "ghcr.io/wardbook/wardbook@sha256:" + "c" * 64


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"deployment": None, "replicasets": [], "calls": [], "applied": []})
    )
    shim = tmp_path / "kubectl"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    shim.chmod(0o755)
    return state


def release(cluster: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECTL": str(cluster.with_name("kubectl")),
        "FAKE_KUBE_STATE": str(cluster),
        "REAL_KUBECTL": str(REAL_KUBECTL),
    }
    return subprocess.run(
        [sys.executable, str(RELEASE), *args], capture_output=True, text=True, env=env, timeout=120
    )


def state(cluster: Path) -> dict:
    return json.loads(cluster.read_text())


def test_render_pins_every_wardbook_container_to_the_digest(cluster: Path) -> None:
    result = release(cluster, "render", "staging", GOOD)
    assert result.returncode == 0, result.stderr
    images = [
        line.split("image: ")[1]
        for line in result.stdout.splitlines()
        if "image: ghcr.io/wardbook" in line
    ]
    assert images and set(images) == {GOOD}  # Deployment, migration Job, backup CronJob
    assert "namespace: wardbook-staging" in result.stdout


@pytest.mark.parametrize(
    "image", ["ghcr.io/wardbook/wardbook:latest", "ghcr.io/wardbook/wardbook@sha256:abc"]
)
def test_tags_and_malformed_digests_are_refused(cluster: Path, image: str) -> None:
    result = release(cluster, "deploy", "dev", image)
    assert result.returncode == 1
    assert "not an image pinned by digest" in result.stderr
    assert state(cluster)["applied"] == []


def test_deploy_migrates_before_rolling_and_records_the_previous_image(cluster: Path) -> None:
    assert release(cluster, "deploy", "dev", GOOD).returncode == 0
    first = state(cluster)
    assert first["deployment"]["image"] == GOOD
    assert "wardbook.io/previous-image" not in first["deployment"]["annotations"]
    verbs = [call[1] for call in first["calls"]]
    # Other resources, the database ready, then the migration Job (waited for), then the
    # Deployment and HPA.
    assert verbs == [
        "get",
        "apply",
        "wait",
        "delete",
        "apply",
        "wait",
        "apply",
        "annotate",
        "rollout",
    ]
    assert first["calls"][2][2:4] == ["--for=condition=Ready", "cluster/wardbook-db"]
    assert first["applied"][1] == ["Job"]
    assert set(first["applied"][2]) == {"Deployment", "HorizontalPodAutoscaler"}
    assert "Deployment" not in first["applied"][0] and "Cluster" in first["applied"][0]
    assert {call[0] for call in first["calls"] if call[1] != "apply"} == {"wardbook-dev"}

    result = release(cluster, "deploy", "dev", NEXT)
    assert result.returncode == 0, result.stderr
    annotations = state(cluster)["deployment"]["annotations"]
    assert annotations["wardbook.io/previous-image"] == GOOD
    assert annotations["wardbook.io/deployed-image"] == NEXT


def test_failed_migration_stops_before_new_pods(cluster: Path) -> None:
    assert release(cluster, "deploy", "production", GOOD).returncode == 0
    data = state(cluster)
    data["fail_migration"] = True
    cluster.write_text(json.dumps(data))
    result = release(cluster, "deploy", "production", NEXT)
    assert result.returncode == 1
    assert "migration job did not complete" in result.stderr
    assert state(cluster)["deployment"]["image"] == GOOD  # the running release is untouched


def test_failed_rollout_then_automatic_rollback_restores_the_previous_revision(
    cluster: Path,
) -> None:
    assert release(cluster, "deploy", "staging", GOOD).returncode == 0
    data = state(cluster)
    data["fail_rollout_for"] = [BAD]
    cluster.write_text(json.dumps(data))

    failed = release(cluster, "deploy", "staging", BAD)
    assert failed.returncode == 1 and "rollout did not complete" in failed.stderr

    rolled = release(cluster, "rollback", "staging")
    assert rolled.returncode == 0, rolled.stderr
    after = state(cluster)
    assert after["deployment"]["image"] == GOOD
    undo = [call for call in after["calls"] if call[1:3] == ["rollout", "undo"]]
    assert undo == [
        ["wardbook-staging", "rollout", "undo", "deployment/wardbook", "--to-revision=1"]
    ]
    annotations = after["deployment"]["annotations"]
    assert annotations["wardbook.io/rolled-back-from"] == BAD
    assert "wardbook.io/previous-image" not in annotations  # a second rollback cannot flip back

    again = release(cluster, "rollback", "staging")
    assert again.returncode == 1 and "no previous image recorded" in again.stderr
    assert state(cluster)["deployment"]["image"] == GOOD


def test_rollback_without_history_refuses(cluster: Path) -> None:
    result = release(cluster, "rollback", "dev")
    assert result.returncode == 1 and "no deployment to roll back" in result.stderr
