"""The committed API reference is exactly what scripts/generate_api_reference.py makes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs.blocks import ROOT
from wardbook.api.capabilities import searchable
from wardbook.fhir.registry import resource_types

REFERENCE = ROOT / "docs" / "reference"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_api_reference", ROOT / "scripts" / "generate_api_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_regenerating_changes_nothing(generator: ModuleType, tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    for page in sorted(tmp_path.iterdir()):
        committed = REFERENCE / page.name
        assert committed.is_file(), f"{committed} is missing: run `make reference`"
        assert page.read_text() == committed.read_text(), (
            f"{committed} is out of date with the code: run `make reference` and commit"
        )


def test_check_mode_notices_a_stale_page(generator: ModuleType, tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert generator.main(["--out", str(tmp_path), "--check"]) == 0
    page = tmp_path / "resources.md"
    page.write_text(page.read_text().replace("`birthdate`", "`birth-date`"))
    assert generator.main(["--out", str(tmp_path), "--check"]) == 1


def test_every_type_and_its_parameters_are_listed() -> None:
    text = (REFERENCE / "resources.md").read_text()
    index = (REFERENCE / "index.md").read_text()
    for name in resource_types():
        assert f"\n## {name}\n" in text, name
        assert f"(resources.md#{name.lower()})" in index, name
    patient = text.split("\n## Patient\n", 1)[1].split("\n## ", 1)[0]
    for code in ("family", "birthdate", "general-practitioner", "identifier"):
        assert code in searchable("Patient")
        assert f"`{code}`" in patient, code
    assert "Patient-everything" in patient
