"""Bulk ingest (``wardbook load``): worker processes prepare, one writer stores, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wardbook.fhir import jsonio
from wardbook.search.parse import parse_search
from wardbook.service.ingest import ingest
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared/data/blaze-synthea"
PATIENT_BUNDLE = SYNTHEA / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2"
HOSPITALS = SYNTHEA / "0-hospitalInformation1625911868739.json.bz2"
PRACTITIONERS = SYNTHEA / "0-practitionerInformation1625911868739.json.bz2"

pytestmark = pytest.mark.anyio


def write_ndjson(path: Path, resources: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def patient(number: int, family: str = "Smith") -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": f"p-{number}",
        "name": [{"family": family, "given": [f"Ann{number}"]}],
        "gender": "female",
        "birthDate": "1970-01-01",
    }


async def count_current(repository: Repository, resource_type: str) -> int:
    return len([1 async for _ in repository.stream_current([resource_type])])


async def versions(repository: Repository) -> int:
    page = await repository.history(count=0)
    assert page.total is not None
    return page.total


async def test_synthea_bundles_load_with_indexes_and_reload_makes_no_versions(
    repository: Repository,
) -> None:
    service = ResourceService(repository)
    sources = [HOSPITALS, PRACTITIONERS, PATIENT_BUNDLE]
    report = await ingest(service, sources, workers=0, batch_size=300)
    bundle = jsonio.loads(__import__("bz2").decompress(PATIENT_BUNDLE.read_bytes()))
    assert not report.rejected
    # 388 hospital and 390 practitioner entries (conditional creates)
    assert report.written == len(bundle["entry"]) + 388 + 390
    assert await count_current(repository, "Patient") == 1
    observations = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    assert await count_current(repository, "Observation") == observations
    # Index rows were written: search finds the patient's observations by reference.
    patient_id = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    from wardbook.search.parse import parse_search

    query = parse_search(
        "Observation", [("subject", f"Patient/{patient_id}"), ("_total", "accurate")], strict=True
    )
    page = await repository.search(query)
    assert page.total == observations
    total_versions = await versions(repository)

    again = await ingest(service, sources, workers=0, batch_size=300)
    assert again.written == 0
    assert again.unchanged == report.written
    assert await versions(repository) == total_versions


async def test_changed_resource_gets_one_new_version_and_same_ones_none(
    repository: Repository, tmp_path: Path
) -> None:
    service = ResourceService(repository)
    first = write_ndjson(tmp_path / "a.ndjson", [patient(i) for i in range(10)])
    assert (await ingest(service, [first], workers=0)).written == 10
    changed = [patient(i, "Jones" if i == 3 else "Smith") for i in range(10)]
    report = await ingest(service, [write_ndjson(tmp_path / "b.ndjson", changed)], workers=0)
    assert (report.written, report.unchanged) == (1, 9)
    stored = await repository.read("Patient", "p-3")
    assert stored is not None and stored.version == 2
    assert jsonio.loads(stored.body or b"")["name"][0]["family"] == "Jones"
    assert (await repository.read("Patient", "p-4")).version == 1  # type: ignore[union-attr]


async def test_the_same_id_twice_in_one_batch_makes_two_versions(
    repository: Repository, tmp_path: Path
) -> None:
    path = write_ndjson(tmp_path / "twice.ndjson", [patient(1), patient(1, "Brown"), patient(2)])
    report = await ingest(ResourceService(repository), [path], workers=0)
    assert (report.written, report.unchanged, report.rejected) == (3, 0, [])
    stored = await repository.read("Patient", "p-1")
    assert stored is not None and stored.version == 2
    assert jsonio.loads(stored.body or b"")["name"][0]["family"] == "Brown"


async def test_rejected_resources_are_reported_with_reasons_and_the_rest_loads(
    repository: Repository, tmp_path: Path
) -> None:
    lines = [
        json.dumps(patient(1)),
        "{not json",
        json.dumps({"resourceType": "NoSuchType", "id": "x"}),
        json.dumps({"resourceType": "Patient", "id": "bad", "gender": "sometimes"}),
        json.dumps({"resourceType": "Patient", "id": "has space"}),
        json.dumps(patient(2)),
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    report = await ingest(ResourceService(repository), [path], workers=0)
    assert report.written == 2
    by_line = {r.source.rsplit(":", 1)[1]: r for r in report.rejected}
    assert sorted(by_line) == ["2", "3", "4", "5"]
    assert by_line["3"].reason.startswith("Unknown resource type")
    assert "gender" in by_line["4"].reason
    assert by_line["4"].reference == "Patient/bad"
    assert "is not a valid id" in by_line["5"].reason
    assert await repository.read("Patient", "bad") is None


async def test_worker_processes_load_many_chunks(repository: Repository, tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "many.ndjson", [patient(i) for i in range(1234)])
    seen: list[tuple[int, int]] = []
    report = await ingest(
        ResourceService(repository),
        [path],
        workers=2,
        batch_size=400,
        progress=lambda done, size: seen.append((done, size)),
    )
    assert (report.written, report.rejected) == (1234, [])
    assert await count_current(repository, "Patient") == 1234
    assert seen[-1] == (1234, path.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_conditional_references_in_bundles_are_resolved(repository: Repository) -> None:
    service = ResourceService(repository)
    report = await ingest(service, [HOSPITALS, PRACTITIONERS, PATIENT_BUNDLE], workers=0)
    assert report.rejected == []
    unresolved = 0
    async for stored in repository.stream_current():
        unresolved += (stored.body or b"").count(b'"reference":"Organization?')
        unresolved += (stored.body or b"").count(b'"reference":"Practitioner?')
    assert unresolved == 0
    # Encounters now point at the hospital Organization by id, and search follows them.
    npi = "http://hl7.org/fhir/sid/us-npi|9999911579"
    query = parse_search("Practitioner", [("identifier", npi)], strict=True)
    practitioner = (await repository.search(query)).entries[0]
    by_practitioner = parse_search(
        "Encounter",
        [("participant", f"Practitioner/{practitioner.id}"), ("_total", "accurate")],
        strict=True,
    )
    assert ((await repository.search(by_practitioner)).total or 0) > 0


async def test_a_conditional_reference_without_a_match_rejects_the_resource(
    repository: Repository, tmp_path: Path
) -> None:
    orphan = {
        **patient(1),
        "managingOrganization": {"reference": "Organization?identifier=urn:x|nobody"},
    }
    path = write_ndjson(tmp_path / "orphan.ndjson", [orphan, patient(2)])
    report = await ingest(ResourceService(repository), [path], workers=2)
    assert report.written == 1
    [rejected] = report.rejected
    assert rejected.reference == "Patient/p-1"
    assert "matches no resource" in rejected.reason


async def test_resources_resolved_by_the_writer_are_validated_once_and_indexed(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardbook.service import ingest as ingest_module

    calls: list[str] = []
    original = ingest_module.require_valid

    def counting(resource: object, resource_type: str) -> dict[str, object]:
        calls.append(resource_type)
        return original(resource, resource_type)

    monkeypatch.setattr(ingest_module, "require_valid", counting)
    hospital = {
        "resourceType": "Organization",
        "id": "h-1",
        "identifier": [{"system": "urn:x", "value": "h1"}],
        "name": "General",
    }
    condref = {"reference": "Organization?identifier=urn:x|h1"}
    patients = [{**patient(n), "managingOrganization": condref} for n in range(3)]
    broken = {**patient(9), "gender": "woman", "managingOrganization": condref}
    # One unit: the patients come back Unresolved and the writer resolves their reference.
    path = write_ndjson(tmp_path / "refs.ndjson", [hospital, *patients, broken])
    report = await ingest(ResourceService(repository), [path], workers=0)
    assert report.written == 4
    [rejected] = report.rejected
    assert rejected.reference == "Patient/p-9" and "gender" in rejected.reason
    assert sorted(calls) == ["Organization", *["Patient"] * 4]  # each validated once
    query = parse_search(
        "Patient", [("organization", "Organization/h-1"), ("_total", "accurate")], strict=True
    )
    assert (await repository.search(query)).total == 3
    stored = await repository.read("Patient", "p-0")
    assert stored is not None and stored.body is not None
    assert jsonio.loads(stored.body)["managingOrganization"] == {"reference": "Organization/h-1"}


async def test_bulk_loaded_index_rows_answer_searches_including_full_text(
    repository: Repository, tmp_path: Path
) -> None:
    # More resources than one multi-row INSERT statement takes, so several statements per
    # table (and, on SQLite, several FTS5 flushes) make up one batch.
    families = [f"Family{number:03d}x" for number in range(250)]
    resources = [patient(number, family) for number, family in enumerate(families)]
    path = write_ndjson(tmp_path / "words.ndjson", resources)
    report = await ingest(ResourceService(repository), [path], workers=0)
    assert (report.written, report.rejected) == (250, [])
    for number in (0, 99, 100, 249):
        for name, value in (("_content", families[number]), ("family", families[number])):
            query = parse_search("Patient", [(name, value), ("_total", "accurate")], strict=True)
            page = await repository.search(query)
            assert page.total == 1, (name, value)
            assert page.entries[0].id == f"p-{number}"


def organization(number: int, identifier: str) -> dict[str, object]:
    return {
        "resourceType": "Organization",
        "id": f"org-{number}",
        "identifier": [{"system": "urn:x", "value": identifier}],
        "name": f"Hospital {number}",
    }


async def test_worker_processes_resolve_committed_conditional_references_themselves(
    repository: Repository, repository_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardbook.service import ingest as ingest_module

    service = ResourceService(repository)
    hospitals = [organization(1, "h1"), organization(2, "twin"), organization(3, "twin")]
    first = write_ndjson(tmp_path / "hospitals.ndjson", hospitals)
    assert (await ingest(service, [first], workers=0)).written == 3
    sent_to_writer: list[frozenset[str]] = []
    original = ingest_module.Writer._resolve

    async def counting(self: ingest_module.Writer, item: ingest_module.Unresolved) -> None:
        sent_to_writer.append(item.references)
        await original(self, item)

    monkeypatch.setattr(ingest_module.Writer, "_resolve", counting)
    h1 = {"reference": "Organization?identifier=urn:x|h1"}
    twin = {"reference": "Organization?identifier=urn:x|twin"}
    patients = [{**patient(n), "managingOrganization": h1} for n in range(1200)]
    ambiguous = {**patient(5000), "managingOrganization": twin}
    path = write_ndjson(tmp_path / "patients.ndjson", [*patients, ambiguous])
    report = await ingest(service, [path], workers=2, batch_size=400, database_url=repository_url)
    assert report.written == 1200
    # Only the ambiguous reference reached the writer, which reports it as before (412).
    assert sent_to_writer == [frozenset({twin["reference"]})]
    [rejected] = report.rejected
    assert rejected.reference == "Patient/p-5000"
    assert "matches more than one resource" in rejected.reason
    query = parse_search(
        "Patient", [("organization", "Organization/org-1"), ("_total", "accurate")], strict=True
    )
    assert (await repository.search(query)).total == 1200
    stored = await repository.read("Patient", "p-1199")
    assert stored is not None and stored.body is not None
    assert jsonio.loads(stored.body)["managingOrganization"] == {"reference": "Organization/org-1"}


async def test_a_target_loaded_in_the_same_run_is_still_found_with_worker_lookups(
    repository: Repository, repository_url: str, tmp_path: Path
) -> None:
    # The target is not committed yet when the workers see the references: the writer
    # resolves them after committing its batch, as without worker lookups.
    condref = {"reference": "Organization?identifier=urn:x|h1"}
    resources = [
        organization(1, "h1"),
        *({**patient(n), "managingOrganization": condref} for n in range(30)),
    ]
    path = write_ndjson(tmp_path / "together.ndjson", resources)
    report = await ingest(
        ResourceService(repository), [path], workers=2, database_url=repository_url
    )
    assert (report.written, report.rejected) == (31, [])
    stored = await repository.read("Patient", "p-29")
    assert stored is not None and stored.body is not None
    assert jsonio.loads(stored.body)["managingOrganization"] == {"reference": "Organization/org-1"}


async def test_worker_processes_index_the_installed_custom_search_parameters(
    repository: Repository, tmp_path: Path
) -> None:
    from wardbook.search.custom import CUSTOM, CustomParam, definition_from_resource

    maiden = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
    definition = definition_from_resource(
        {
            "resourceType": "SearchParameter",
            "url": "http://wardbook.example.org/fhir/SearchParameter/maiden",
            "code": "maiden",
            "base": ["Patient"],
            "type": "string",
            "expression": f"Patient.extension.where(url = '{maiden}').value",
        }
    )
    resources = [
        {**patient(n), "extension": [{"url": maiden, "valueString": f"Maiden{n}"}]}
        for n in range(600)
    ]
    path = write_ndjson(tmp_path / "custom.ndjson", resources)
    CUSTOM.install([CustomParam("Patient", definition, True)])
    try:
        report = await ingest(ResourceService(repository), [path], workers=2)
        assert (report.written, report.rejected) == (600, [])
        for number in (0, 599):
            query = parse_search(
                "Patient", [("maiden", f"Maiden{number}"), ("_total", "accurate")], strict=True
            )
            page = await repository.search(query)
            assert page.total == 1 and page.entries[0].id == f"p-{number}"
    finally:
        CUSTOM.clear()


async def test_a_batch_the_database_refuses_is_retried_one_by_one_while_others_fill(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardbook.errors import BadRequest

    real = repository.load_rows
    stored_batches: list[int] = []

    async def refusing(rows, merge):  # type: ignore[no-untyped-def]
        if any(row.id == "p-57" for row in rows):
            raise BadRequest("refused by the database")
        stored_batches.append(len(rows))
        return await real(rows, merge)

    monkeypatch.setattr(repository, "load_rows", refusing)
    path = write_ndjson(tmp_path / "refused.ndjson", [patient(n) for n in range(100)])
    report = await ingest(ResourceService(repository), [path], workers=0, batch_size=20)
    assert report.written == 99
    [rejected] = report.rejected
    assert (rejected.reference, rejected.reason) == ("Patient/p-57", "refused by the database")
    assert await count_current(repository, "Patient") == 99
    # Four whole batches, the refused one's 19 other resources one by one.
    assert sorted(stored_batches) == [1] * 19 + [20] * 4


async def test_a_database_outage_stops_the_load_with_earlier_batches_committed_whole(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardbook.storage.base import StorageError

    real = repository.load_rows
    calls = 0

    async def failing(rows, merge):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StorageError("the database went away")
        return await real(rows, merge)

    monkeypatch.setattr(repository, "load_rows", failing)
    path = write_ndjson(tmp_path / "outage.ndjson", [patient(n) for n in range(100)])
    with pytest.raises(StorageError):
        await ingest(ResourceService(repository), [path], workers=0, batch_size=20)
    monkeypatch.undo()
    assert await count_current(repository, "Patient") == 40  # batches 1 and 2, nothing else
    assert await repository.read("Patient", "p-39") is not None
    assert await repository.read("Patient", "p-40") is None


def _priority() -> int:
    import os

    return os.getpriority(os.PRIO_PROCESS, 0)


def test_workers_run_below_the_writers_cpu_priority() -> None:
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from wardbook.service import ingest as ingest_module

    context = multiprocessing.get_context("forkserver")
    setup = ingest_module.WorkerSetup()
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=ingest_module._warm_worker, initargs=(setup,)
    ) as pool:
        worker = pool.submit(_priority).result()
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert worker == min(mine + ingest_module.WORKER_NICENESS, 19)


def test_worker_lookups_use_the_database_url_without_the_extra_read_pool() -> None:
    from wardbook.service.ingest import reader_url

    assert reader_url("sqlite:///data/w.db?synchronous=full") == (
        "sqlite:///data/w.db?synchronous=full"
    )
    assert reader_url("postgresql://u:p@db:5432/wb?read_connections=6&pool_max_size=4") == (
        "postgresql://u:p@db:5432/wb?read_connections=0&pool_max_size=4"
    )
    assert reader_url("postgres://db/wb") == "postgres://db/wb?read_connections=0"
