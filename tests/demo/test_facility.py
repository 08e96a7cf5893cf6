"""The shared world: one hospital, its wards and departments, staff and their roles."""

from __future__ import annotations

from typing import Any

from .helpers import of_type


def test_one_hospital_and_its_gp_practices(shared: list[Any]) -> None:
    organizations = of_type(shared, "Organization")
    assert organizations[0]["name"] == "Wardbook General Hospital"
    assert len(organizations) >= 2


def test_wards_and_departments_belong_to_the_hospital(shared: list[Any]) -> None:
    hospital = of_type(shared, "Organization")[0]
    names = {loc["name"] for loc in of_type(shared, "Location")}
    assert {
        "Ward 7 \N{EN DASH} Acute Medicine",
        "Ward 3 \N{EN DASH} Surgery",
        "Emergency Department",
    } <= names
    for location in of_type(shared, "Location"):
        assert location["status"] == "active"
        assert location["managingOrganization"]["reference"] == f"Organization/{hospital['id']}"


def test_a_dozen_or_more_named_and_identified_practitioners(shared: list[Any]) -> None:
    practitioners = of_type(shared, "Practitioner")
    assert len(practitioners) >= 12
    systems = set()
    for practitioner in practitioners:
        (name,) = practitioner["name"]
        assert name["family"] and name["given"]
        systems |= {i["system"] for i in practitioner["identifier"]}
    assert {
        "https://fhir.hl7.org.uk/Id/gmc-number",
        "https://fhir.hl7.org.uk/Id/nmc-number",
    } <= systems
    assert len({p["name"][0]["family"] + p["name"][0]["given"][0] for p in practitioners}) == len(
        practitioners
    )


def test_every_practitioner_has_a_role_as_doctor_or_nurse(shared: list[Any]) -> None:
    roles = of_type(shared, "PractitionerRole")
    practitioners = {f"Practitioner/{p['id']}" for p in of_type(shared, "Practitioner")}
    assert {r["practitioner"]["reference"] for r in roles} == practitioners
    codes = {r["code"][0]["coding"][0]["code"] for r in roles}
    assert codes == {"doctor", "nurse"}
    assert all(r["specialty"][0]["coding"][0]["system"] == "http://snomed.info/sct" for r in roles)
