"""Patients: identifiers (MRN, valid NHS number), names, ages and contact details."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

from wardbook.demo.nhs_number import is_valid

MRN = "https://wardbook.example.org/fhir/sid/mrn"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def _identifier(patient: Any, system: str) -> Any:
    return next(i for i in patient["identifier"] if i["system"] == system)


def _patients(records: list[list[Any]]) -> list[Any]:
    return [record[0] for record in records]


def test_every_patient_has_a_typed_mrn_and_a_valid_nhs_number(records: list[list[Any]]) -> None:
    for patient in _patients(records):
        mrn = _identifier(patient, MRN)
        assert re.fullmatch(r"MRN\d{7}", mrn["value"])
        assert mrn["type"]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "MR",
            "display": "Medical record number",
        }
        assert is_valid(_identifier(patient, NHS)["value"])


def test_identifiers_are_unique_across_many_patients(many_records: list[list[Any]]) -> None:
    patients = [record[0] for record in many_records]
    for system in (MRN, NHS):
        values = [_identifier(p, system)["value"] for p in patients]
        assert len(set(values)) == len(values)


def test_names_genders_and_ages_are_plausible(records: list[list[Any]], now: Any) -> None:
    genders: Counter[str] = Counter()
    ages = []
    for patient in _patients(records):
        (name,) = patient["name"]
        assert name["use"] == "official" and name["family"] and name["given"]
        genders[patient["gender"]] += 1
        born = date.fromisoformat(patient["birthDate"])
        ages.append((now.date() - born).days / 365.25)
    assert set(genders) == {"female", "male"}
    assert all(0 <= age <= 101 for age in ages)
    assert sum(1 for age in ages if age >= 65) > sum(1 for age in ages if age < 18)


def test_patients_have_an_address_a_phone_a_gp_and_the_hospital(
    records: list[list[Any]], shared: list[Any]
) -> None:
    shared_refs = {f"{r['resourceType']}/{r['id']}" for r in shared}
    for patient in _patients(records):
        assert patient["address"][0]["country"] == "GB"
        assert re.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}", patient["address"][0]["postalCode"])
        assert any(t["system"] == "phone" for t in patient["telecom"])
        assert patient["generalPractitioner"][0]["reference"] in shared_refs
        assert patient["managingOrganization"]["display"] == "Wardbook General Hospital"


def test_marital_status_is_sometimes_recorded(records: list[list[Any]]) -> None:
    with_status = [p for p in _patients(records) if "maritalStatus" in p]
    assert 0 < len(with_status) < len(records)
    for patient in with_status:
        assert patient["maritalStatus"]["coding"][0]["system"] == (
            "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
        )
