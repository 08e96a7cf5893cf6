"""The container image's recipe, exercised without a container engine.

deploy/docker/install.sh is the one install script the Dockerfile's build stage runs; here
it runs on this machine into a temporary prefix, and the Dockerfile is checked for the
properties issue 9 asks of the image (the Dockerfile is also linted by hadolint in
`make deploy-check`).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def _stages() -> dict[str, str]:
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM .* AS (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_dockerfile_final_stage_is_minimal_and_unprivileged() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    assert "deploy/docker/install.sh /opt/wardbook" in build
    assert "COPY --from=build /opt/wardbook /opt/wardbook" in runtime
    for tool in ("apt-get", "gcc", "pip install", "uv "):
        assert tool not in runtime, tool
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/livez", runtime, re.MULTILINE)
    assert "WARDBOOK_WORKERS=" in runtime
    assert "test -f /usr/share/zoneinfo/" in runtime  # WARDBOOK_TIMEZONE needs tzdata
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])


@pytest.mark.slow
def test_install_script_builds_a_runnable_prefix(tmp_path: Path) -> None:
    """Runs the image recipe into a temp prefix from a source copy with a static asset."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    (source / "requirements").mkdir()
    shutil.copy2(ROOT / "requirements" / "lock.txt", source / "requirements" / "lock.txt")
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )

    prefix = tmp_path / "opt" / "wardbook"
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "docker" / "install.sh"), str(prefix), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    # The entry point runs from the prefix, and no pip / dev tool is in it.
    help_text = subprocess.run(
        [str(prefix / "bin" / "wardbook"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in help_text and "migrate" in help_text
    assert not (prefix / "bin" / "pip").exists()
    site = next((prefix / "lib").glob("python3.11/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"starlette", "granian", "asyncpg", "uvloop"} <= installed
    assert not installed & {"pip", "pytest", "mypy", "ruff", "hypothesis", "uv"}  # runtime only
    # Each at the version requirements/lock.txt pins.
    lock = (ROOT / "requirements" / "lock.txt").read_text().lower()
    for dist in site.glob("*.dist-info"):
        name, version = dist.name.removesuffix(".dist-info").rsplit("-", 1)
        if name.lower() != "wardbook":
            assert f"{name.lower().replace('_', '-')}=={version}" in lock, dist.name
    # Installed as a regular package (not editable) with bytecode compiled ahead of time.
    package = site / "wardbook"
    assert (package / "__init__.py").is_file()
    assert list((package / "__pycache__").glob("cli.cpython-311*.pyc"))
    # Static assets are packaged and served precompressed from the installed copy.
    assert "precompressed (gzip + br)" in result.stdout
    assert list((package / "web" / "static").glob("*.css"))

    # The installed copy serves on its own (templates, static files, FHIR definitions are all
    # packaged) and passes the deploy smoke test; nothing is imported from the source tree.
    database = f"sqlite:///{tmp_path}/image.db"
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "WARDBOOK_LOG_LEVEL": "warning"}
    subprocess.run(
        [str(prefix / "bin" / "wardbook"), "migrate", "--database", database],
        env=env,
        check=True,
        capture_output=True,
        cwd="/",
    )
    port = free_port()
    server = subprocess.Popen(
        [
            str(prefix / "bin" / "wardbook"),
            "serve",
            "--database",
            database,
            "--port",
            str(port),
            "--no-auth",
        ],
        env=env,
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        smoke = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "deploy" / "smoke_test.py"),
                f"http://127.0.0.1:{port}",
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert smoke.returncode == 0, smoke.stderr
        page = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=10)
        assert page.status_code < 500
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
