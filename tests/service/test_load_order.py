"""``wardbook load`` of a Synthea folder in any file order: every conditional reference
resolves to a stored resource, and one that cannot is reported, never stored.

Synthea patient bundles name hospitals and clinicians by conditional references
(``Organization?identifier=https://github.com/synthetichealth/synthea|...``) that only the
hospitalInformation / practitionerInformation bundles define; a user's folder sorts
``Aaron...json`` before ``hospitalInformation...json``.
"""

from __future__ import annotations

import bz2
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.synthea_sample import HOSPITALS, PATIENTS, PRACTITIONERS, read_bundle, trimmed
from wardbook.fhir import jsonio
from wardbook.service import ingest as ingest_module
from wardbook.service.ingest import ingest
from wardbook.service.load_order import (
    is_reference_data_line,
    line_resource_type,
    reference_data_first,
    reference_data_rank,
)
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository

_REFERENCE = re.compile(rb'"reference"\s*:\s*"([^"]*)"')

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def reference_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """hospitalInformation and practitionerInformation, trimmed, as plain .json files."""
    folder = tmp_path_factory.mktemp("synthea-reference")
    hospitals = folder / "hospitalInformation1625911868739.json"
    hospitals.write_bytes(trimmed(HOSPITALS, PATIENTS))
    practitioners = folder / "practitionerInformation1625911868739.json"
    practitioners.write_bytes(trimmed(PRACTITIONERS, PATIENTS))
    return hospitals, practitioners


def entry_types(*paths: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in paths:
        raw = path.read_bytes()
        bundle = jsonio.loads(bz2.decompress(raw) if path.suffix == ".bz2" else raw)
        counts.update(entry["resource"]["resourceType"] for entry in bundle["entry"])
    return counts


@pytest.fixture
def synthea_folder(tmp_path: Path, reference_bundles: tuple[Path, Path]) -> Path:
    """A Synthea output folder as a user hands it over: patients sort before hospitals."""
    folder = tmp_path / "fhir"
    folder.mkdir()
    hospitals, practitioners = reference_bundles
    for name, source in (
        ("Aaron697_Brekke496_8a4c9c04.json.bz2", PATIENTS[0]),
        ("Abby752_Kuhic920_8708d3e1.json.bz2", PATIENTS[1]),
        (hospitals.name, hospitals),
        (practitioners.name, practitioners),
    ):
        shutil.copyfile(source, folder / name)
    return folder


async def assert_every_reference_resolves(repository: Repository) -> set[str]:
    """No stored resource names a conditional reference or urn:uuid, and each target reads."""
    targets: set[str] = set()
    async for stored in repository.stream_current():
        for match in _REFERENCE.findall(stored.body or b""):
            reference = match.decode()
            assert "?" not in reference and not reference.startswith("urn:"), reference
            if not reference.startswith("#"):  # contained resources are part of their host
                targets.add(reference)
    for target in sorted(targets):
        resource_type, _, resource_id = target.partition("/")
        assert await repository.read(resource_type, resource_id) is not None, target
    return targets


async def stored_types(repository: Repository) -> Counter[str]:
    return Counter([stored.resource_type async for stored in repository.stream_current()])


# -- recognising reference data by content (pure, no database) ---------------------------


def test_hospital_and_practitioner_bundles_are_recognised_by_content(tmp_path: Path) -> None:
    renamed = tmp_path / "Aaron-not-a-hint.json.bz2"
    shutil.copyfile(PRACTITIONERS, renamed)
    assert reference_data_rank(HOSPITALS) == 1  # Organizations and Locations
    assert reference_data_rank(renamed) == 3  # Practitioners and PractitionerRoles
    assert reference_data_rank(PATIENTS[0]) is None
    named_like_one = tmp_path / "hospitalInformation1.json"
    named_like_one.write_bytes(bz2.decompress(PATIENTS[1].read_bytes()))
    assert reference_data_rank(named_like_one) is None  # the name alone decides nothing
    ordered = reference_data_first([PATIENTS[0], renamed, named_like_one, HOSPITALS])
    assert ordered == [HOSPITALS, renamed]


def test_a_resource_type_inside_a_string_or_a_broken_file_is_not_reference_data(
    tmp_path: Path,
) -> None:
    tricky = tmp_path / "tricky.json"
    note = 'see {"resourceType": "Patient"}'
    tricky.write_text(json.dumps({"resourceType": "Organization", "name": note}))
    assert reference_data_rank(tricky) == 0  # the Patient is text, escaped in JSON
    broken = tmp_path / "broken.json.bz2"
    broken.write_bytes(b"not bzip2 at all")
    assert reference_data_rank(broken) is None
    line = b'{"resourceType":"Patient","contained":[{"resourceType":"Organization"}]}\n'
    assert line_resource_type(line) == "Patient" and not is_reference_data_line(line)
    assert is_reference_data_line(b'{"resourceType" : "PractitionerRole", "id": "r"}')


# -- loading a Synthea folder in any order, on both backends ------------------------------


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_synthea_folder_loads_with_patients_sorted_before_hospitals(
    repository: Repository,
    repository_url: str,
    synthea_folder: Path,
    reference_bundles: tuple[Path, Path],
    workers: int,
) -> None:
    report = await ingest(
        ResourceService(repository), [synthea_folder], workers=workers, database_url=repository_url
    )
    assert report.rejected == []
    assert report.deferred == 0  # hospitals and practitioners were read first
    expected = entry_types(*reference_bundles, *PATIENTS)
    assert report.written == sum(expected.values())
    assert await stored_types(repository) == expected
    targets = await assert_every_reference_resolves(repository)
    assert {t.partition("/")[0] for t in targets} >= {"Organization", "Practitioner", "Location"}
    # The links a user follows: an encounter's hospital, a claim's provider.
    for encounter in await search(repository, "Encounter", "service-provider:missing", "false"):
        assert encounter["serviceProvider"]["reference"].startswith("Organization/")
    claims = await search(repository, "Claim", "_count", "1000")
    assert claims and all(
        c["provider"]["reference"].startswith(("Organization/", "Practitioner/")) for c in claims
    )


async def search(repository: Repository, resource_type: str, name: str, value: str) -> list[Any]:
    from wardbook.search.parse import parse_search

    query = parse_search(resource_type, [(name, value), ("_count", "1000")], strict=True)
    return [jsonio.loads(e.body or b"") for e in (await repository.search(query)).entries]


async def test_without_the_reordering_references_resolve_after_the_whole_input(
    repository: Repository,
    reference_bundles: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The end-of-input retry on its own: reference data is read last, as given.
    monkeypatch.setattr(ingest_module, "reference_data_first", lambda documents: [])
    hospitals, practitioners = reference_bundles
    files = [*PATIENTS, practitioners, hospitals]
    report = await ingest(ResourceService(repository), files, workers=0)
    assert report.rejected == [] and report.unresolved == {}
    expected = entry_types(hospitals, practitioners, *PATIENTS)
    assert report.deferred > 0
    assert report.written == sum(expected.values())
    assert await stored_types(repository) == expected
    await assert_every_reference_resolves(repository)


async def test_a_reversed_explicit_order_loads_the_same(
    repository: Repository, reference_bundles: tuple[Path, Path]
) -> None:
    hospitals, practitioners = reference_bundles
    files = [*reversed(PATIENTS), practitioners, hospitals]
    report = await ingest(ResourceService(repository), files, workers=0)
    assert (report.rejected, report.deferred) == ([], 0)
    expected = entry_types(hospitals, practitioners, *PATIENTS)
    assert await stored_types(repository) == expected
    await assert_every_reference_resolves(repository)
    again = await ingest(ResourceService(repository), files, workers=0)
    assert (again.written, again.rejected) == (0, [])


async def test_a_reference_that_matches_nothing_is_reported_and_its_resource_not_stored(
    repository: Repository, tmp_path: Path, reference_bundles: tuple[Path, Path]
) -> None:
    bundle = read_bundle(PATIENTS[0])
    [encounter] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"][:1]
    nowhere = "Organization?identifier=https://github.com/synthetichealth/synthea|nowhere"
    encounter["resource"]["serviceProvider"]["reference"] = nowhere
    edited = tmp_path / "Aaron.json"
    edited.write_bytes(jsonio.dumps(bundle))
    report = await ingest(ResourceService(repository), [edited, *reference_bundles], workers=0)
    encounter_id = encounter["resource"]["id"]
    [rejected] = report.rejected
    assert rejected.reference == f"Encounter/{encounter_id}"
    assert nowhere in rejected.reason and "after the whole input" in rejected.reason
    assert report.unresolved == {nowhere: 1}
    assert await repository.read("Encounter", encounter_id) is None
    expected = entry_types(*reference_bundles, PATIENTS[0])
    assert report.written == sum(expected.values()) - 1
    async for stored in repository.stream_current():
        assert b"?identifier=" not in (stored.body or b""), stored.resource_type


async def test_ndjson_reference_lines_are_loaded_first_with_their_line_numbers(
    repository: Repository, tmp_path: Path
) -> None:
    hospital = {
        "resourceType": "Organization",
        "id": "h-1",
        "identifier": [{"system": "urn:x", "value": "h1"}],
    }
    named = {"reference": "Organization?identifier=urn:x|h1"}
    patients = [
        {"resourceType": "Patient", "id": f"p-{n}", "managingOrganization": named} for n in range(3)
    ]
    broken = {"resourceType": "Organization", "id": "h-2", "active": "yes"}
    # One file, hospitals last, a blank line between; and a per-type file sorted after it.
    mixed = tmp_path / "a-mixed.ndjson"
    lines = [json.dumps(p) for p in patients] + ["", json.dumps(hospital), json.dumps(broken)]
    mixed.write_text("\n".join(lines) + "\n")
    roles = tmp_path / "b-roles.ndjson"
    role = {
        "resourceType": "PractitionerRole",
        "id": "r-1",
        "organization": {"reference": "Organization?identifier=urn:x|h1"},
    }
    roles.write_text(json.dumps(role) + "\n")
    seen: list[tuple[int, int]] = []
    report = await ingest(
        ResourceService(repository),
        [tmp_path],
        workers=0,
        progress=lambda done, size: seen.append((done, size)),
    )
    assert report.deferred == 0 and report.written == 5
    [rejected] = report.rejected
    assert rejected.source == f"{mixed}:6" and rejected.reference == "Organization/h-2"
    stored = await repository.read("Patient", "p-2")
    assert stored is not None
    assert jsonio.loads(stored.body or b"")["managingOrganization"] == {
        "reference": "Organization/h-1"
    }
    # Every input byte is counted once, though the mixed file is read twice.
    assert seen[-1] == (6, mixed.stat().st_size + roles.stat().st_size)
