"""The container image's recipe, exercised without a container engine.

deploy/docker/install.sh is the one install script the Dockerfile's build stage runs; here
it runs on this machine into a temporary prefix, and the Dockerfile is checked for the
properties issue 9 asks of the image (the Dockerfile is also linted by hadolint in
`make deploy-check`).
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _stages() -> dict[str, str]:
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM .* AS (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_runtime_lock_matches_the_project_lock_and_pyproject() -> None:
    runtime = _pins(ROOT / "requirements" / "runtime.txt")
    full = _pins(ROOT / "requirements" / "lock.txt")
    for name, version in runtime.items():
        assert full.get(name) == version, f"{name}: runtime {version}, lock {full.get(name)}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        assert runtime.get(name.lower().replace("_", "-")) == version, requirement
    assert "pytest" not in runtime and "mypy" not in runtime  # no dev tools in the image


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
    shutil.copy2(ROOT / "requirements" / "runtime.txt", source / "requirements" / "runtime.txt")
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    static = source / "src" / "wardbook" / "web" / "static"
    static.mkdir(parents=True, exist_ok=True)
    css = b"body { font-family: sans-serif; }\n" * 50
    (static / "zz-precompress-probe.css").write_bytes(css)

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
    assert not list(site.glob("pip")) and not list(site.glob("pytest*"))
    # Installed as a regular package (not editable) with bytecode compiled ahead of time.
    package = site / "wardbook"
    assert (package / "__init__.py").is_file()
    assert list((package / "__pycache__").glob("cli.cpython-311*.pyc"))
    # Static assets precompressed next to the originals.
    installed_css = package / "web" / "static" / "zz-precompress-probe.css"
    compressed = installed_css.with_name(installed_css.name + ".gz").read_bytes()
    assert gzip.decompress(compressed) == css
