"""parse_search: R4 search.html parameter syntax, modifiers, prefixes, strict vs lenient."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from wardbook.errors import BadRequest
from wardbook.search.params.date import DateValue
from wardbook.search.params.number import NumberValue
from wardbook.search.params.quantity import QuantityValue
from wardbook.search.params.reference import ReferenceValue
from wardbook.search.params.string import StringValue
from wardbook.search.params.token import TokenValue
from wardbook.search.params.uri import UriValue
from wardbook.search.parse import parse_search
from wardbook.search.query import (
    DEFAULT_COUNT,
    MAX_COUNT,
    ChainCriterion,
    CompartmentCriterion,
    Criterion,
    HasCriterion,
    ListCriterion,
    MissingValue,
    SearchQuery,
    SortKey,
)


def strict(resource_type: str | None, query: str) -> SearchQuery:
    return parse_search(resource_type, parse_qsl(query, keep_blank_values=True), strict=True)


def lenient(resource_type: str | None, query: str) -> SearchQuery:
    return parse_search(resource_type, parse_qsl(query, keep_blank_values=True), strict=False)


def rejected(resource_type: str | None, query: str) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        strict(resource_type, query)
    return info.value


# -- structure: AND, OR, escaping ------------------------------------------------------------------


def test_repeated_parameters_are_anded_and_commas_are_ored() -> None:
    q = strict("Observation", "code=a,b&code=c&status=final")

    assert [c.code for c in q.criteria] == ["code", "code", "status"]
    assert [len(c.values) for c in q.criteria] == [2, 1, 1]


def test_escaped_commas_pipes_and_dollars_are_literal() -> None:
    q = strict("Patient", r"family=a\,b&identifier=sys\|tem|val\,ue")

    family = q.criteria[0].values
    assert family == (StringValue("a,b", "a,b"),)
    ident = q.criteria[1].values[0]
    assert isinstance(ident, TokenValue)
    assert (ident.system, ident.code) == ("sys|tem", "val,ue")


def test_empty_values_are_ignored_in_both_modes() -> None:
    q = strict("Patient", "family=&gender=male")

    assert [c.code for c in q.criteria] == ["gender"]
    assert q.ignored == [("family", "empty value")]


# -- token -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "system", "code", "any_system"),
    [
        ("8302-2", None, "8302-2", True),
        ("http://loinc.org|8302-2", "http://loinc.org", "8302-2", False),
        ("|8302-2", None, "8302-2", False),
        ("http://loinc.org|", "http://loinc.org", None, False),
    ],
)
def test_token_forms(text: str, system: str | None, code: str | None, any_system: bool) -> None:
    value = strict("Observation", f"code={text}").criteria[0].values[0]

    assert value == TokenValue(system, code, any_system, "")


def test_token_modifiers_not_text_missing() -> None:
    q = strict("Observation", "code:not=a&code:text=Body  HEIGHT&code:missing=true")

    assert [c.modifier for c in q.criteria] == ["not", "text", "missing"]
    assert q.criteria[1].values[0] == TokenValue(None, None, True, "body height")
    assert q.criteria[2].values == (MissingValue(True),)
    assert q.criteria[2].missing is True


def test_token_with_neither_system_nor_code_is_malformed() -> None:
    error = rejected("Observation", "code=|")

    assert error.issues[0].code == "invalid"


# -- string, uri -----------------------------------------------------------------------------------


def test_string_values_are_normalized_but_exact_keeps_the_text() -> None:
    q = strict("Patient", "family=Zoë&family:exact=Zoë&family:contains=OË")

    assert q.criteria[0].values == (StringValue("Zoë", "zoe"),)
    assert q.criteria[1].modifier == "exact"
    assert q.criteria[2].values == (StringValue("OË", "oe"),)


def test_uri_modifiers() -> None:
    q = strict("ValueSet", "url:below=http://hl7.org/fhir/ValueSet&url=http://x/y")

    assert q.criteria[0].modifier == "below"
    assert q.criteria[1].values == (UriValue("http://x/y"),)


# -- ordered types: prefixes -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_prefix_parses_for_dates_numbers_and_quantities(prefix: str) -> None:
    q = strict("RiskAssessment", f"date={prefix}2020-03&probability={prefix}0.5")
    qq = strict("Observation", f"value-quantity={prefix}5.4|http://unitsofmeasure.org|g")

    d = q.criteria[0].values[0]
    n = q.criteria[1].values[0]
    quantity = qq.criteria[0].values[0]
    assert isinstance(d, DateValue) and d.prefix == prefix
    assert isinstance(n, NumberValue) and n.prefix == prefix
    assert isinstance(quantity, QuantityValue) and quantity.prefix == prefix


def test_no_prefix_means_eq() -> None:
    value = strict("Patient", "birthdate=1970").criteria[0].values[0]

    assert isinstance(value, DateValue) and value.prefix == "eq"


@pytest.mark.parametrize(
    "query",
    [
        "birthdate=yesterday",
        "birthdate=2020-13",
        "birthdate=2020-02-30",
        "birthdate=xx2020",
        "birthdate=2020-01-01T10:00:00+25:00",
    ],
)
def test_malformed_dates_are_rejected_under_strict(query: str) -> None:
    assert rejected("Patient", query).issues[0].code == "invalid"


@pytest.mark.parametrize(
    "query", ["probability=abc", "probability=gt", "probability=1,5", "probability=NaN"]
)
def test_malformed_numbers_are_rejected(query: str) -> None:
    # 1,5 is two OR values: "1" and "5" both parse, so only the others fail.
    if query == "probability=1,5":
        assert len(strict("RiskAssessment", query).criteria[0].values) == 2
        return
    rejected("RiskAssessment", query)


def test_quantity_forms() -> None:
    q = strict(
        "Observation",
        "value-quantity=5.4|http://unitsofmeasure.org|g&value-quantity=ge5||mg&value-quantity=7",
    )

    full, code_only, bare = (c.values[0] for c in q.criteria)
    assert isinstance(full, QuantityValue) and full.canonical is not None
    assert (full.system, full.code, full.canonical.code) == (
        "http://unitsofmeasure.org",
        "g",
        "g",
    )
    assert isinstance(code_only, QuantityValue)
    assert (code_only.prefix, code_only.system, code_only.code) == ("ge", None, "mg")
    assert isinstance(bare, QuantityValue) and bare.code is None


def test_quantity_with_a_system_but_no_code_is_malformed() -> None:
    rejected("Observation", "value-quantity=5|http://unitsofmeasure.org|")


# -- reference -------------------------------------------------------------------------------------


def test_reference_forms() -> None:
    q = strict(
        "Observation",
        "subject=Patient/123&subject=Patient/123/_history/2&subject:Patient=456"
        "&subject=http://other.org/fhir/Patient/9&specimen=789&subject=abc",
    )

    values = [c.values[0] for c in q.criteria]
    assert values == [
        ReferenceValue("Patient", "123", None, None),
        ReferenceValue("Patient", "123", "2", None),
        ReferenceValue("Patient", "456", None, None),
        ReferenceValue(None, None, None, "http://other.org/fhir/Patient/9"),
        # specimen has one target type: it is inferred; subject has four: any type.
        ReferenceValue("Specimen", "789", None, None),
        ReferenceValue(None, "abc", None, None),
    ]


def test_reference_type_modifier_must_be_a_target_type() -> None:
    error = rejected("Observation", "subject:Medication=1")

    assert "not a target type" in error.message


def test_reference_identifier_modifier() -> None:
    value = strict("Observation", "subject:identifier=http://x|42").criteria[0].values[0]

    assert isinstance(value, ReferenceValue)
    assert value.identifier == TokenValue("http://x", "42", False, "")


def test_reference_with_an_unknown_type_is_malformed() -> None:
    rejected("Observation", "subject=Nonsense/1")


def test_canonical_reference_with_version() -> None:
    value = strict("ActivityDefinition", "depends-on=http://x.org/cs|2.0").criteria[0].values[0]

    assert value == ReferenceValue(None, None, "2.0", "http://x.org/cs")


# -- composite -------------------------------------------------------------------------------------


def test_composite_token_pairs() -> None:
    q = strict("Observation", "code-value-concept=http://loinc.org|72166-2$266919005")

    value = q.criteria[0].values[0]
    assert q.criteria[0].component_types == ("token", "token")
    assert getattr(value, "key", None) == "http://loinc.org|72166-2$266919005"


def test_composite_with_a_quantity_last_keeps_the_quantity_value() -> None:
    q = strict("Observation", "code-value-quantity=http://loinc.org|8302-2$gt150||cm")

    value = q.criteria[0].values[0]
    assert q.criteria[0].component_types == ("token", "quantity")
    assert getattr(value, "key", None) == "http://loinc.org|8302-2"
    last = getattr(value, "last", None)
    assert (last.prefix, last.value, last.system, last.code) == ("gt", 150.0, None, "cm")


def test_composite_with_an_ordered_component_before_the_last_is_not_supported_yet() -> None:
    error = rejected("MolecularSequence", "chromosome-window-coordinate=1$gt100$lt200")

    assert error.issues[0].code == "not-supported"


# -- result parameters -----------------------------------------------------------------------------


def test_defaults() -> None:
    q = strict("Patient", "")

    assert (q.count, q.cursor, q.sort, q.total, q.summary, q.elements) == (
        DEFAULT_COUNT,
        None,
        [],
        "accurate",
        None,
        None,
    )


def test_result_parameters() -> None:
    q = strict(
        "Patient",
        "_count=0&_sort=-_lastUpdated,_id&_total=none&_summary=count"
        "&_cursor=abc&_format=json&_pretty=true",
    )

    assert q.count == 0 and q.only_total
    assert q.sort == [SortKey("_lastUpdated", True), SortKey("_id", False)]
    assert (q.total, q.summary, q.elements, q.cursor) == ("none", "count", None, "abc")
    assert strict("Patient", "_summary=false").summary == "false"


def test_count_is_capped() -> None:
    assert strict("Patient", "_count=100000").count == MAX_COUNT


@pytest.mark.parametrize("query", ["_count=-1", "_count=ten", "_total=maybe", "_summary=all"])
def test_malformed_result_parameters(query: str) -> None:
    rejected("Patient", query)


def test_sort_by_search_parameters() -> None:
    q = strict("Patient", "_sort=-birthdate,family,_id")

    assert [(k.param, k.descending) for k in q.sort] == [
        ("birthdate", True),
        ("family", False),
        ("_id", False),
    ]
    assert q.sort[0].definition is not None and q.sort[0].definition.type == "date"
    assert rejected("Patient", "_sort=nope").issues[0].code == "invalid"
    composite = rejected("Observation", "_sort=code-value-quantity")
    assert composite.issues[0].code == "not-supported"


def test_entity_parameters() -> None:
    q = strict("Patient", "_id=a,b&_lastUpdated=gt2024-01-01")

    assert [c.on_entity for c in q.criteria] == [True, True]
    rejected("Patient", "_id=sys|a")


def test_common_parameters_apply_to_every_type() -> None:
    q = strict("Observation", "_tag=http://x|y&_profile=http://p&_security=R&_source=http://s")

    assert [c.type for c in q.criteria] == ["token", "uri", "token", "uri"]


def test_system_level_search_knows_common_parameters_and_type() -> None:
    q = strict(None, "_type=Patient,Observation&_lastUpdated=ge2024")

    assert q.types == ["Patient", "Observation"]
    rejected(None, "family=x")
    rejected(None, "_type=Nope")
    rejected("Patient", "_type=Patient")


# -- strict vs lenient -----------------------------------------------------------------------------


NOT_SUPPORTED = [
    "_filter=name eq x",
    "_text=%20-%20",  # no words to search for
    "_list=$current-allergies",
    "code:in=http://hl7.org/fhir/ValueSet/observation-codes",  # LOINC: not in the package
    "code:below=x",
    "code:of-type=a|b|c",
    "family:missing=maybe",
]


@pytest.mark.parametrize("query", NOT_SUPPORTED)
def test_unsupported_features_are_400_under_strict_and_reported_under_lenient(
    query: str,
) -> None:
    resource_type = "Observation" if not query.startswith("family") else "Patient"
    error = rejected(resource_type, query)
    q = lenient(resource_type, query)

    assert error.status == 400
    assert q.criteria == []
    assert len(q.ignored) == 1
    assert q.ignored[0][0] == query.split("=", 1)[0]


@pytest.mark.parametrize("query", ["_contained=1", "_containedType=all"])
def test_undefined_contained_values_are_400_even_under_lenient(query: str) -> None:
    """R4 search.html#contained: ignoring them would answer a different question."""
    with pytest.raises(BadRequest) as caught:
        lenient("Observation", query)
    assert [i.code for i in caught.value.issues] == ["invalid"]
    assert rejected("Observation", query).issues[0].code == "invalid"


def test_contained_values_parse() -> None:
    q = strict("Observation", "_contained=false&_containedType=container")
    assert (q.contained, q.contained_type, q.searches_contained) == ("false", "container", False)
    q = strict("Observation", "_contained=true&_containedType=contained&code=x")
    assert (q.searches_contained, q.returns_contained) == (True, True)
    q = strict("Observation", "_contained=both")
    assert (q.searches_contained, q.returns_contained) == (True, False)


@pytest.mark.parametrize(
    ("resource_type", "query", "fragment"),
    [
        (None, "_contained=true&_type=Medication", "system-level"),
        ("Medication", "_contained=true&_include=Medication:manufacturer", "_include"),
        ("Medication", "_contained=both&_sort=code", "_sort by a search parameter"),
        ("Observation", "_contained=true&subject.name=x", "chained"),
        ("Observation", "_contained=true&_has:Observation:has-member:code=x", "chained"),
        ("Observation", "_contained=true&_content=x", "_content"),
        ("Location", "_contained=true&near=1|1|1|km", "near"),
        ("Observation", "_contained=true&_lastUpdated=gt2020", "_lastUpdated"),
        ("Observation", "_containedType=contained", "needs _contained=true"),
    ],
)
def test_contained_refuses_what_it_cannot_answer(
    resource_type: str | None, query: str, fragment: str
) -> None:
    """Under lenient handling too: a search of containers must not silently drop a term."""
    with pytest.raises(BadRequest) as caught:
        lenient(resource_type, query)
    assert fragment in caught.value.message


def test_of_type_parses_type_system_code_and_value() -> None:
    q = strict("Patient", "identifier:of-type=http://t|MR|a\\|b")
    (value,) = q.criteria[0].values
    assert value == TokenValue("http://t", "MR|a\\|b", False, "")  # the stored row key
    assert rejected("Patient", "identifier:of-type=http://t|MR").issues[0].code == "invalid"
    assert rejected("Patient", "identifier:of-type=|MR|1").issues[0].code == "invalid"
    assert "Identifier" in rejected("Observation", "category:of-type=a|b|c").message


def test_near_parses_point_distance_and_units() -> None:
    (value,) = strict("Location", "near=51.5|-0.12|2|[mi_i]").criteria[0].values
    assert (value.latitude, value.longitude) == (51.5, -0.12)
    assert value.distance_km == pytest.approx(3.218688)
    (default,) = strict("Location", "near=51.5|-0.12").criteria[0].values
    assert default.distance_km == 10.0
    for bad in ("near=51.5", "near=a|b", "near=0|0|1|s", "near=-91|0|1", "near=0|0|1e3"):
        assert rejected("Location", bad).issues[0].code == "invalid", bad
    assert rejected("Location", "near:missing=true").issues[0].code == "not-supported"


def test_unknown_parameters_and_modifiers() -> None:
    unknown = rejected("Patient", "shoe-size=42")
    modifier = rejected("Patient", "family:sounds-like=x")

    assert "unknown search parameter shoe-size" in unknown.message
    assert "unknown modifier :sounds-like" in modifier.message


def test_empty_modifiers_and_nul_characters_are_malformed() -> None:
    assert rejected("Patient", "family:=x").issues[0].code == "invalid"
    assert rejected("Patient", "family=a%00b").issues[0].code == "invalid"


def test_strict_reports_every_problem_at_once() -> None:
    error = rejected("Patient", "shoe-size=42&birthdate=tomorrow&gender=male")

    assert len(error.issues) == 2
    assert [i.expression for i in error.issues] == [("shoe-size",), ("birthdate",)]


def test_lenient_keeps_the_good_parameters() -> None:
    q = lenient("Patient", "shoe-size=42&gender=male&birthdate=tomorrow")

    assert [c.code for c in q.criteria] == ["gender"]
    assert [name for name, _ in q.ignored] == ["shoe-size", "birthdate"]


def test_unknown_resource_type_is_always_rejected() -> None:
    with pytest.raises(BadRequest):
        lenient("Spaceship", "")


# -- query strings ---------------------------------------------------------------------------------


def test_query_string_is_canonical_and_round_trips() -> None:
    a = strict("Observation", "status=final&code=http://loinc.org|8302-2,x&_sort=-_lastUpdated")
    b = strict("Observation", "_sort=-_lastUpdated&code=http://loinc.org|8302-2,x&status=final")

    assert a.to_query_string() == b.to_query_string()
    again = strict("Observation", a.to_query_string(cursor="CUR"))
    assert again.to_query_string(cursor="CUR") == a.to_query_string(cursor="CUR")
    assert again.cursor == "CUR"
    assert "_cursor" not in a.to_query_string()


def test_query_string_keeps_escapes() -> None:
    q = strict("Patient", r"family=a\,b")

    again = strict("Patient", q.to_query_string())
    assert again.criteria[0].values == (StringValue("a,b", "a,b"),)


# -- chaining, reverse chaining, includes, result parameters ---------------------------------------


def test_chains_parse_to_one_branch_per_target_type() -> None:
    q = strict("Observation", "subject:Patient.organization.name=Acme")
    (chain,) = q.criteria
    assert isinstance(chain, ChainCriterion)
    assert chain.param.code == "subject"
    assert [t for t, _ in chain.branches] == ["Patient"]
    inner = chain.branches[0][1]
    assert isinstance(inner, ChainCriterion) and inner.param.code == "organization"
    assert [t for t, _ in inner.branches] == ["Organization"]
    leaf = inner.branches[0][1]
    assert isinstance(leaf, Criterion) and leaf.code == "name"
    # Without a qualifier every target type that has the parameter is a branch.
    untyped = strict("Observation", "subject.name=x").criteria[0]
    assert isinstance(untyped, ChainCriterion)
    assert {t for t, _ in untyped.branches} == {"Patient", "Location"}
    # The query string keeps the chain as written.
    assert "subject:Patient.organization.name=Acme" in q.to_query_string()


def test_bad_chains_are_400() -> None:
    assert rejected("Observation", "status.name=x").issues[0].code == "invalid"
    assert rejected("Observation", "subject:Medication.name=x").issues[0].code == "invalid"
    assert rejected("Observation", "subject:Patient.nope=x").issues[0].code == "invalid"
    assert rejected("Observation", "subject:Patient.birthdate=notadate").status == 400
    deep = ".".join(["link:Patient"] * 8) + ".name=x"
    assert rejected("Patient", deep).status == 400


def test_has_parses_nested() -> None:
    q = strict("Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/1")
    (has,) = q.criteria
    assert isinstance(has, HasCriterion)
    assert (has.source_type, has.param.code) == ("Observation", "patient")
    assert isinstance(has.inner, HasCriterion) and has.inner.source_type == "Provenance"
    for bad in (
        "_has:Observation:patient=x",
        "_has:Nope:patient:code=x",
        "_has:Observation:code:code=x",
    ):
        assert rejected("Patient", bad).status == 400
    # Observation.patient cannot refer to an Organization.
    assert rejected("Organization", "_has:Observation:patient:code=1").status == 400


def test_include_directives() -> None:
    q = strict(
        "Observation",
        "_include=Observation:subject:Patient&_revinclude=Provenance:target"
        "&_include:iterate=Patient:general-practitioner&_include=*",
    )
    assert [(i.reverse, i.source_type, i.param, i.target_type, i.iterate) for i in q.includes] == [
        (False, "Observation", "subject", "Patient", False),
        (True, "Provenance", "target", None, False),
        (False, "Patient", "general-practitioner", None, True),
        (False, None, None, None, False),
    ]
    for bad in (
        "_include=Observation",
        "_include=Observation:status",
        "_include=Observation:subject:Medication",
        "_include=Patient:organization",  # not the searched type, and not :iterate
        "_include:deep=Observation:subject",
    ):
        assert rejected("Observation", bad).status == 400


def test_summary_elements_list_and_compartment() -> None:
    assert strict("Patient", "_summary=true").summary == "true"
    assert strict("Patient", "_elements=name,birthDate").elements == ["name", "birthDate"]
    assert strict("Observation", "_elements=value").elements == ["value"]
    assert rejected("Patient", "_elements=nope").status == 400
    assert isinstance(strict("Patient", "_list=42").criteria[0], ListCriterion)
    q = parse_search("Observation", [], strict=True, compartment=("Patient", "p1"))
    (term,) = q.criteria
    assert isinstance(term, CompartmentCriterion)
    assert term.links == (("Observation", ("subject", "performer")),)
    with pytest.raises(BadRequest):
        parse_search("Organization", [], strict=True, compartment=("Patient", "p1"))
    with pytest.raises(BadRequest):
        parse_search("Observation", [], strict=True, compartment=("Observation", "o1"))
