"""Every generated resource is well formed: ids, no empty values, FHIR date formats,
references that resolve, and dependency order."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from .helpers import references, walk

# R4 datatypes.html regular expressions.
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
DATE = re.compile(rf"{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")
DATE_TIME = re.compile(rf"{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T{TIME}{ZONE})?)?)?")
INSTANT = re.compile(rf"{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T{TIME}{ZONE}")

DATE_KEYS = {"birthDate": DATE}
DATE_TIME_KEYS = {
    "effectiveDateTime",
    "onsetDateTime",
    "abatementDateTime",
    "recordedDate",
    "authoredOn",
    "created",
    "creation",
    "start",
    "end",
}
INSTANT_KEYS = {"issued", "date"}


def _everything(shared: list[Any], resources: list[Any]) -> list[Any]:
    return shared + resources


def test_every_resource_has_a_type_and_a_valid_unique_id(
    shared: list[Any], resources: list[Any]
) -> None:
    seen = set()
    for resource in _everything(shared, resources):
        assert isinstance(resource.get("resourceType"), str)
        assert ID.fullmatch(resource["id"])
        key = (resource["resourceType"], resource["id"])
        assert key not in seen
        seen.add(key)


def test_no_empty_strings_lists_objects_or_nulls(shared: list[Any], resources: list[Any]) -> None:
    for resource in _everything(shared, resources):
        for path, value in walk(resource):
            assert value is not None, path
            if isinstance(value, str | list | dict):
                assert len(value) > 0, f"{resource['resourceType']}.{path} is empty"
            if isinstance(value, str):
                assert value == value.strip(), path


def test_no_server_assigned_metadata(shared: list[Any], resources: list[Any]) -> None:
    assert all("meta" not in r for r in _everything(shared, resources))


def test_dates_are_well_formed(shared: list[Any], resources: list[Any]) -> None:
    checked = 0
    for resource in _everything(shared, resources):
        for path, value in walk(resource):
            key = path.rsplit(".", 1)[-1]
            if key in DATE_KEYS:
                assert DATE.fullmatch(value), (path, value)
            elif key in DATE_TIME_KEYS:
                assert DATE_TIME.fullmatch(value) and "T" in value, (path, value)
            elif key in INSTANT_KEYS and resource["resourceType"] in (
                "Observation",
                "DocumentReference",
            ):
                assert INSTANT.fullmatch(value), (path, value)
            elif isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\d", value):
                raise AssertionError(f"unexpected date-like value at {path}: {value}")
            else:
                continue
            checked += 1
    assert checked > 1000


def test_every_reference_resolves(shared: list[Any], records: list[list[Any]]) -> None:
    shared_keys = {f"{r['resourceType']}/{r['id']}" for r in shared}
    for resource in shared:
        for ref in references(resource):
            assert ref in shared_keys, ref
    for record in records:
        own = {f"{r['resourceType']}/{r['id']}" for r in record}
        for resource in record:
            for ref in references(resource):
                assert ref in own or ref in shared_keys, ref


def test_resources_come_in_dependency_order(shared: list[Any], records: list[list[Any]]) -> None:
    def check(resources: list[Any], outside: set[str]) -> None:
        written = set(outside)
        for resource in resources:
            for ref in references(resource):
                assert ref in written, f"{resource['resourceType']} refers ahead to {ref}"
            written.add(f"{resource['resourceType']}/{resource['id']}")

    check(shared, set())
    shared_keys = {f"{r['resourceType']}/{r['id']}" for r in shared}
    for record in records:
        assert record[0]["resourceType"] == "Patient"
        check(record, shared_keys)


def test_patient_records_refer_only_to_their_own_patient(records: list[list[Any]]) -> None:
    for record in records:
        patient = f"Patient/{record[0]['id']}"
        for resource in record[1:]:
            patients = [ref for ref in references(resource) if ref.startswith("Patient/")]
            assert patients and set(patients) == {patient}


def test_the_same_code_always_has_the_same_display(shared: list[Any], resources: list[Any]) -> None:
    displays: dict[tuple[str, str], set[str]] = defaultdict(set)
    for resource in _everything(shared, resources):
        for _, value in walk(resource):
            if isinstance(value, dict) and {"system", "code", "display"} <= value.keys():
                displays[(value["system"], value["code"])].add(value["display"])
    assert displays
    assert {k: v for k, v in displays.items() if len(v) > 1} == {}
