"""Which AND criterion drives a search, and how the others are tested (search_sql.where_sql).

The result never depends on the choice (tests/search/test_search_sql.py compares every
shape with the in-memory matcher on both backends); these tests pin the statement shape
that keeps multi-criterion searches from growing with the database.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from wardbook.search.parse import parse_search
from wardbook.storage.search_sql import plan_sensitive, where_sql


def where(resource_type: str, text: str) -> str:
    query = parse_search(resource_type, parse_qsl(text), strict=True)
    return where_sql(query).text


def test_the_reference_drives_and_code_and_date_are_probed() -> None:
    text = where("Observation", "code=http://loinc.org|8302-2&date=ge2020&subject=Patient/1")

    assert text.count("e.pid IN (SELECT i.pid FROM idx_reference i") == 1
    assert "EXISTS (SELECT 1 FROM idx_token i WHERE i.pid = e.pid" in text
    assert "EXISTS (SELECT 1 FROM idx_date i WHERE i.pid = e.pid" in text
    assert " IN (SELECT i.pid FROM idx_token" not in text


@pytest.mark.parametrize(
    ("query", "driver"),
    [
        ("_id=a&code=x", "e.res_id IN (?)"),
        ("date=ge2020&code=x", "e.pid IN (SELECT i.pid FROM idx_token i"),
        ("date=ge2020&value-quantity=gt5", "e.pid IN (SELECT i.pid FROM idx_quantity i"),
        (
            "category:in=http://hl7.org/fhir/ValueSet/observation-category&date=ge2020",
            "e.pid IN (SELECT i.pid FROM idx_date i",
        ),
        (
            "category:in=http://hl7.org/fhir/ValueSet/observation-category",
            "e.pid IN (SELECT i.pid FROM idx_token i",
        ),
    ],
)
def test_the_most_selective_kind_drives(query: str, driver: str) -> None:
    assert driver in where("Observation", query)


def test_negations_are_never_the_driver_and_become_not_exists() -> None:
    text = where("Observation", "code:not=x&status=final&value-quantity:missing=true")

    assert "e.pid IN (SELECT i.pid FROM idx_token i" in text  # status
    assert text.count("NOT EXISTS (SELECT 1 FROM") == 2
    assert "NOT IN" not in text


def test_a_chain_over_several_target_types_is_a_union_when_it_drives() -> None:
    text = where("Observation", "subject.identifier=urn:mrn|1")

    # Device, Group, Location, Patient; and each again inside contained resources
    # (search.html#contained: "a chained condition will be evaluated inside contained resources")
    assert text.count(" UNION ALL ") == 7
    assert text.count("FROM resource_entity e WHERE e.pid IN (SELECT i.pid FROM idx_token") == 4
    probed = where("Observation", "_id=a&subject.identifier=urn:mrn|1")
    assert "UNION ALL" not in probed
    assert "EXISTS (SELECT 1 FROM idx_reference i WHERE i.pid = e.pid" in probed


def test_an_identifier_drives_before_a_has_and_a_chain_before_a_code() -> None:
    patient = where("Patient", "_has:Condition:patient:code=44054006&identifier=urn:mrn|1")
    assert "e.pid IN (SELECT i.pid FROM idx_token i" in patient
    # _has is the probe: one seek per candidate, then the Condition's code as a probe too.
    assert "e.res_id IN (SELECT i.target_id" not in patient
    assert "EXISTS (SELECT 1 FROM idx_reference i WHERE i.res_type = ? AND i.param = ?" in patient
    assert "AND i.target_id = e.res_id AND EXISTS (SELECT 1 FROM resource_entity e" in patient

    observation = where("Observation", "code=8302-2&subject:Patient.identifier=urn:mrn|1")
    assert "e.pid IN (SELECT i.pid FROM idx_reference i" in observation
    assert "EXISTS (SELECT 1 FROM idx_token i WHERE i.pid = e.pid" in observation


def test_only_several_or_linked_criteria_ask_postgresql_for_custom_plans() -> None:
    def sensitive(resource_type: str, text: str) -> bool:
        return plan_sensitive(parse_search(resource_type, parse_qsl(text), strict=True))

    assert not sensitive("Patient", "identifier=urn:mrn|1")
    assert sensitive("Patient", "family=x&given=y")
    assert sensitive("Observation", "subject.identifier=urn:mrn|1")
    assert sensitive("Patient", "_has:Condition:patient:code=1")


def test_postgresql_probes_name_the_resource_type() -> None:
    """PostgreSQL may turn a probe into the driver (it reorders semi-joins by its estimates,
    migration 0019); with ``res_type`` in it, ``idx_token_code`` can serve it either way."""
    from wardbook.storage.base import Dialect

    query = parse_search(
        "Condition", parse_qsl("clinical-status=active&code=195967001"), strict=True
    )
    typed = where_sql(query, Dialect.POSTGRES)
    plain = where_sql(query, Dialect.SQLITE)

    probe = "EXISTS (SELECT 1 FROM idx_token i WHERE i.pid = e.pid AND i.res_type = ? AND"
    assert probe in typed.text and probe not in plain.text
    assert typed.params.count("Condition") == plain.params.count("Condition") + 1
