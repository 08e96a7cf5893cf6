"""The committed registry files are exactly what the generator makes from the R4 package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_DIR = ROOT / "src" / "wardbook" / "fhir" / "r4"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_registry", ROOT / "scripts" / "generate_registry.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _generator()


def test_regenerating_changes_no_byte(generator: ModuleType, tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    fresh = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in REGISTRY_DIR.iterdir() if p.name.endswith((".json", ".gz")))
    assert fresh == committed
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (REGISTRY_DIR / name).read_bytes(), name


def test_check_mode_passes_on_committed_files(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0


def test_check_mode_fails_on_a_changed_file(generator: ModuleType, tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    target = next(tmp_path.iterdir())
    target.write_bytes(target.read_bytes() + b" ")
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1


def test_every_search_parameter_of_the_package_is_kept(generator: ModuleType) -> None:
    pkg = generator.Package(generator.package_path())
    urls = {sp["url"] for sp in pkg.search_parameters}
    assert len(urls) == 1400
    assert [p["url"] for p in generator.build_search_parameters(pkg)] == sorted(urls)
