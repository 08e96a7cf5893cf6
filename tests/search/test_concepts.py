"""Token :in/:not-in/:above/:below, pure: core ValueSets and hierarchies (search.html#token)."""

from __future__ import annotations

import pytest

from wardbook.errors import BadRequest
from wardbook.fhir import terminology
from wardbook.search.index import TokenRow
from wardbook.search.params import concepts
from wardbook.search.parse import parse_search

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_CATEGORY_VS = "http://hl7.org/fhir/ValueSet/observation-category"


def test_core_value_set_is_its_codes() -> None:
    value = concepts.parse(OBS_CATEGORY_VS, "in")
    assert value.concepts is not None
    assert (OBS_CATEGORY, "vital-signs") in value.concepts
    assert (OBS_CATEGORY, "laboratory") in value.concepts
    assert len(value.concepts) == 9
    # A version suffix names the same (4.0.1) definition.
    assert concepts.parse(OBS_CATEGORY_VS + "|4.0.1", "in").concepts == value.concepts


def test_value_set_outside_the_package_is_left_for_the_server() -> None:
    value = concepts.parse("http://example.org/fhir/ValueSet/mine", "not-in")
    assert value.concepts is None and value.modifier == "not-in"


def test_core_value_set_needing_snomed_is_not_supported() -> None:
    with pytest.raises(NotImplementedError, match="snomed"):
        concepts.parse("http://hl7.org/fhir/ValueSet/condition-code", "in")


def test_below_is_the_code_and_its_descendants() -> None:
    value = concepts.parse(f"{ACT_CODE}|_ActEncounterCode", "below")
    assert value.concepts is not None
    codes = {code for _, code in value.concepts}
    assert {"_ActEncounterCode", "AMB", "IMP", "EMER"} <= codes
    assert "_ActAccountCode" not in codes
    # Transitive: ACUTE is-a IMP is-a _ActEncounterCode.
    assert "IMP" in terminology.ancestors(ACT_CODE, "ACUTE")
    assert "ACUTE" in codes


def test_above_is_the_code_and_its_ancestors() -> None:
    value = concepts.parse(f"{ACT_CODE}|ACUTE", "above")
    assert value.concepts is not None
    assert {code for _, code in value.concepts} >= {"ACUTE", "IMP", "_ActEncounterCode"}
    assert (ACT_CODE, "AMB") not in value.concepts


def test_subsumption_needs_a_system_with_a_hierarchy() -> None:
    with pytest.raises(ValueError):
        concepts.parse("AMB", "below")
    with pytest.raises(NotImplementedError):
        concepts.parse("http://snomed.info/sct|73211009", "below")


def test_matching_rows() -> None:
    value = concepts.parse(OBS_CATEGORY_VS, "in")
    vital = [TokenRow("category", OBS_CATEGORY, "vital-signs")]
    other = [TokenRow("category", "http://example.org", "vital-signs")]
    assert concepts.matches(vital, [value], "in")
    assert not concepts.matches(other, [value], "in")
    assert concepts.matches(other, [value], "not-in")
    assert concepts.matches([], [value], "not-in")


def test_parse_search_accepts_the_modifiers_and_reports_what_it_cannot_do() -> None:
    query = parse_search("Observation", [("category:in", OBS_CATEGORY_VS)], strict=True)
    assert query.criteria[0].modifier == "in"
    with pytest.raises(BadRequest, match="snomed"):
        parse_search(
            "Condition", [("code:in", "http://hl7.org/fhir/ValueSet/condition-code")], strict=True
        )
    lenient = parse_search("Condition", [("code:below", "http://snomed.info/sct|1")], strict=False)
    assert not lenient.criteria and lenient.ignored


def test_stored_value_set_compose_with_core_filters_and_nested_sets() -> None:
    resource = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {
                    "system": ACT_CODE,
                    "filter": [{"property": "concept", "op": "is-a", "value": "IMP"}],
                },
                {"system": "http://snomed.info/sct", "concept": [{"code": "44054006"}]},
                {"valueSet": ["http://example.org/vs/nested"]},
            ],
            "exclude": [{"system": ACT_CODE, "concept": [{"code": "ACUTE"}]}],
        },
    }
    nested = {"resourceType": "ValueSet", "expansion": {"contains": [{"system": "s", "code": "c"}]}}
    found = terminology.expand_value_set_resource(
        resource, {"http://example.org/vs/nested": nested}
    )
    assert (ACT_CODE, "IMP") in found and (ACT_CODE, "NONAC") in found
    assert (ACT_CODE, "ACUTE") not in found
    assert ("http://snomed.info/sct", "44054006") in found
    assert ("s", "c") in found
    assert terminology.nested_value_sets(resource) == ["http://example.org/vs/nested"]
