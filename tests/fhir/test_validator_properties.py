"""Property: the validator never raises, whatever JSON-like value it is given."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wardbook.errors import ValidationReport
from wardbook.fhir import jsonio
from wardbook.fhir.validator import validate_resource

# Real names make the walk go deep into element tables instead of stopping at the first key.
_NAMES = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "text",
        "div",
        "status",
        "contained",
        "extension",
        "url",
        "valueString",
        "valueQuantity",
        "_birthDate",
        "birthDate",
        "name",
        "given",
        "_given",
        "family",
        "code",
        "coding",
        "system",
        "subject",
        "reference",
        "entry",
        "resource",
        "item",
        "linkId",
        "component",
        "value",
        "gender",
        "versionId",
        "lastUpdated",
        "x",
        "_x",
        "",
    ]
)
_TYPES = st.sampled_from(["Patient", "Observation", "Bundle", "Questionnaire", "Nope", ""])

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["#", "#a", "Patient/1", "urn:uuid:x", "2020-02-30", "final"]),
    _TYPES,
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_NAMES, children, max_size=5),
    ),
    max_leaves=40,
)
_RESOURCES = st.builds(
    lambda rtype, body: {"resourceType": rtype, **body} if isinstance(body, dict) else body,
    _TYPES,
    st.one_of(st.dictionaries(_NAMES, _JSON, max_size=8), _JSON),
)


@settings(max_examples=400, deadline=None)
@given(_RESOURCES)
def test_validator_never_raises(resource: Any) -> None:
    report = validate_resource(resource)
    assert isinstance(report, ValidationReport)
    for issue in report.issues:
        assert issue.code and issue.diagnostics and issue.expression


@settings(max_examples=200, deadline=None)
@given(_JSON, _TYPES)
def test_validator_never_raises_with_expected_type(value: Any, rtype: str) -> None:
    assert isinstance(validate_resource(value, resource_type=rtype or None), ValidationReport)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_decimals_from_the_json_reader_are_numbers(number: float) -> None:
    body = '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
    body += f'"valueQuantity":{{"value":{json.dumps(number)}}}}}'
    assert validate_resource(jsonio.loads(body)).ok


def test_deep_nesting_is_an_issue_not_a_crash() -> None:
    ext: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(2000):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    report = validate_resource({"resourceType": "Patient", "extension": [ext]})
    assert not report.ok
    assert any("nested" in i.diagnostics for i in report.issues)


def test_deeply_nested_contained_and_bundles_do_not_crash() -> None:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": "p"}
    for i in range(500):
        resource = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"urn:uuid:c757873d-ec9a-4326-a141-{i:012d}", "resource": resource}
            ],
        }
    assert isinstance(validate_resource(resource), ValidationReport)


def test_non_string_keys_are_reported() -> None:
    report = validate_resource({"resourceType": "Patient", 1: "x"})
    assert [i.code for i in report.issues] == ["structure"]
