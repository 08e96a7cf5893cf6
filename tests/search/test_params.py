"""Per-type extraction and matching (R4 search.html#ptypes), without storage."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardbook.search.index import QuantityRow, ReferenceRow, StringRow, TokenRow
from wardbook.search.normalize import normalize_string
from wardbook.search.params import near, number, quantity, reference, string, token, uri
from wardbook.search.params.escape import escape, split_escaped, unescape
from wardbook.search.ucum import UCUM_SYSTEM, to_canonical


@pytest.mark.parametrize(
    ("text", "norm"),
    [
        ("Zoë", "zoe"),
        ("  \uff2düller\t Straße  ", "muller strasse"),  # fullwidth M
        ("ÅNGSTRÖM", "angstrom"),
        ("O'Brien-Smith", "o'brien-smith"),
        ("", ""),
    ],
)
def test_normalization_folds_case_accents_width_and_whitespace(text: str, norm: str) -> None:
    assert normalize_string(text) == norm


def test_escaping_round_trips() -> None:
    text = r"a\,b,c\|d|e\$f$g\\h"

    assert split_escaped(text, ",") == [r"a\,b", r"c\|d|e\$f$g\\h"]
    assert [unescape(p) for p in split_escaped(text, "|")] == [r"a,b,c|d", r"e$f$g\h"]
    assert unescape(escape("x,y|z$w\\")) == "x,y|z$w\\"


# -- token -----------------------------------------------------------------------------------------


def rows(extract: object, *args: object) -> list[object]:
    return list(extract(*args))  # type: ignore[operator]


def test_codeable_concept_gives_each_coding_and_its_text() -> None:
    concept = {
        "coding": [
            {"system": "http://loinc.org", "code": "8302-2", "display": "Body Height"},
            {"code": "local"},
        ],
        "text": "Height",
    }

    assert rows(token.extract_token_rows, "code", concept, "CodeableConcept") == [
        TokenRow("code", "http://loinc.org", "8302-2", "body height"),
        TokenRow("code", None, "local", None),
        TokenRow("code", None, None, "height"),
    ]


def test_identifier_contact_point_boolean_and_code() -> None:
    ident = {"system": "urn:mrn", "value": "42", "type": {"text": "Medical Record"}}

    assert rows(token.extract_token_rows, "identifier", ident, "Identifier") == [
        TokenRow("identifier", "urn:mrn", "42", "medical record")
    ]
    assert rows(token.extract_token_rows, "phone", {"system": "phone", "value": "555"}, None) == [
        TokenRow("phone", "phone", "555")
    ]
    assert rows(token.extract_token_rows, "active", True, "boolean") == [
        TokenRow("active", None, "true")
    ]
    systems = {"male": "http://hl7.org/fhir/administrative-gender"}
    assert rows(token.extract_token_rows, "gender", "male", "code", systems) == [
        TokenRow("gender", "http://hl7.org/fhir/administrative-gender", "male")
    ]


ROWS = [
    TokenRow("code", "http://loinc.org", "8302-2", "body height"),
    TokenRow("code", None, "local"),
]


@pytest.mark.parametrize(
    ("text", "modifier", "expected"),
    [
        ("8302-2", None, True),
        ("http://loinc.org|8302-2", None, True),
        ("http://snomed.info/sct|8302-2", None, False),
        ("|8302-2", None, False),
        ("|local", None, True),
        ("http://loinc.org|", None, True),
        ("8302", None, False),  # codes match exactly
        ("8302-2", "not", False),
        ("other", "not", True),
        ("body", "text", True),
        ("Body Height", "text", True),
        ("height", "text", False),  # :text is a prefix match like string search
    ],
)
def test_token_matching(text: str, modifier: str | None, expected: bool) -> None:
    assert token.matches(ROWS, [token.parse(text, modifier)], modifier) is expected


def test_token_not_matches_resources_without_the_element() -> None:
    assert token.matches([], [token.parse("x")], "not")


# -- string ----------------------------------------------------------------------------------------


def test_human_name_and_address_give_every_part_and_the_full_text() -> None:
    name = {"prefix": ["Dr."], "given": ["Zoë", "Ann"], "family": "Okafor"}
    address = {"line": ["1 Main St"], "city": "Springfield", "postalCode": "01101"}

    assert [r.value_exact for r in string.extract_string_rows("name", name, "HumanName")] == [
        "Dr.",
        "Zoë",
        "Ann",
        "Okafor",
        "Dr. Zoë Ann Okafor",
    ]
    assert [r.value_norm for r in string.extract_string_rows("address", address, "Address")] == [
        "1 main st",
        "springfield",
        "01101",
        "1 main st, springfield, 01101",
    ]


@pytest.mark.parametrize(
    ("text", "modifier", "expected"),
    [
        ("oka", None, True),
        ("OKÄ", None, True),
        ("fo", None, False),
        ("Okafor", "exact", True),
        ("okafor", "exact", False),
        ("kaf", "contains", True),
        ("KÄF", "contains", True),
        ("xyz", "contains", False),
    ],
)
def test_string_matching(text: str, modifier: str | None, expected: bool) -> None:
    found = [StringRow("family", "okafor", "Okafor")]

    assert string.matches(found, [string.parse(text, modifier)], modifier) is expected


# -- number and quantity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("100", 99.5, 100.5), ("100.00", 99.995, 100.005), ("0.5", 0.45, 0.55), ("-3", -3.5, -2.5)],
)
def test_number_precision_ranges(text: str, low: float, high: float) -> None:
    value = number.parse(text)

    assert math.isclose(value.low, low) and math.isclose(value.high, high)


@pytest.mark.parametrize(
    ("stored", "search", "expected"),
    [
        (100, "100", True),
        (100.4, "100", True),
        (100.5, "100", False),
        (100, "100.0", True),
        (100.04, "100.0", True),
        (100.06, "100.0", False),
        (100, "ne100", False),
        (101, "ne100", True),
        (100, "gt100", False),
        (100.01, "gt100", True),
        (100, "ge100", True),
        (99.99, "lt100", True),
        (100, "le100", True),
        (100.5, "sa100", True),
        (100.4, "sa100", False),
        (99.4, "eb100", True),
        (109, "ap100", True),
        (111, "ap100", False),
    ],
)
def test_number_prefixes(stored: float, search: str, expected: bool) -> None:
    found = list(number.extract_number_rows("p", stored, "decimal"))

    assert number.matches(found, [number.parse(search)]) is expected


def test_ucum_canonical_units() -> None:
    assert to_canonical(5400, "mg") == (5.4, "g")
    assert to_canonical(1.5, "kg") == (1500.0, "g")
    assert to_canonical(37, "Cel") == (310.15, "K")
    assert to_canonical(98.6, "[degF]") == (310.15, "K")
    assert to_canonical(120, "mm[Hg]") is not None
    assert to_canonical(3, "furlong") is None


def q_rows(value: float, code: str, system: str | None = UCUM_SYSTEM) -> list[QuantityRow]:
    element = {"value": value, "unit": code, "code": code}
    if system:
        element["system"] = system
    return list(quantity.extract_quantity_rows("value-quantity", element, "Quantity"))


@pytest.mark.parametrize(
    ("stored", "search", "expected"),
    [
        (q_rows(5400, "mg"), "5.4|http://unitsofmeasure.org|g", True),
        (q_rows(5400, "mg"), "5400|http://unitsofmeasure.org|mg", True),
        (q_rows(5400, "mg"), "le5.4|http://unitsofmeasure.org|g", True),
        (q_rows(5400, "mg"), "lt5.4|http://unitsofmeasure.org|g", False),
        (q_rows(5400, "mg"), "5.4|http://unitsofmeasure.org|mL", False),
        (q_rows(5400, "mg"), "5.4||g", True),
        (q_rows(5400, "mg"), "5400||mg", True),
        (q_rows(5400, "mg"), "5400", True),
        (q_rows(5400, "mg"), "5.4", False),
        (q_rows(37.2, "Cel"), "gt98.9|http://unitsofmeasure.org|[degF]", True),  # 98.96 °F
        (q_rows(37.2, "Cel"), "gt99|http://unitsofmeasure.org|[degF]", False),
        (q_rows(150, "[lb_av]"), "ap68|http://unitsofmeasure.org|kg", True),
        (q_rows(5, "mg", "http://other"), "5|http://other|mg", True),
        (q_rows(5, "mg", "http://other"), "0.005|http://unitsofmeasure.org|g", False),
    ],
)
def test_quantity_matching_with_canonical_units(
    stored: list[QuantityRow], search: str, expected: bool
) -> None:
    assert quantity.matches(stored, [quantity.parse(search)]) is expected


def test_money_and_range_rows() -> None:
    money = list(quantity.extract_quantity_rows("p", {"value": 10, "currency": "EUR"}, "Money"))
    span = list(
        quantity.extract_quantity_rows(
            "p", {"low": {"value": 1, "code": "a"}, "high": {"value": 3, "code": "a"}}, "Range"
        )
    )

    assert (money[0].system, money[0].code) == ("urn:iso:std:iso:4217", "EUR")
    assert (span[0].value, span[0].low, span[0].high) == (1.0, 1.0, 3.0)


# -- uri and reference -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "modifier", "expected"),
    [
        ("http://acme.org/fhir/ValueSet/123", None, True),
        ("http://acme.org/fhir/ValueSet", None, False),
        ("http://acme.org/fhir/", "below", True),
        ("http://acme.org/fhir/ValueSet/123/_history/5", "above", True),
        ("http://acme.org/other", "above", False),
    ],
)
def test_uri_matching(search: str, modifier: str | None, expected: bool) -> None:
    found = list(uri.extract_uri_rows("url", "http://acme.org/fhir/ValueSet/123", "uri"))

    assert uri.matches(found, [uri.parse(search)], modifier) is expected


def test_reference_rows_for_every_form() -> None:
    def of(ref: dict[str, object]) -> list[object]:
        return list(reference.extract_reference_rows("subject", ref, "Reference"))

    assert of({"reference": "Patient/1"}) == [ReferenceRow("subject", "Patient", "1")]
    assert of({"reference": "Patient/1/_history/3"}) == [
        ReferenceRow("subject", "Patient", "1", "3")
    ]
    assert of({"reference": "http://x.org/fhir/Patient/1/_history/2"}) == [
        ReferenceRow("subject", "Patient", None, "2", "http://x.org/fhir/Patient/1")
    ]
    assert of({"reference": "urn:uuid:abc"}) == [
        ReferenceRow("subject", None, None, None, "urn:uuid:abc")
    ]
    # A contained resource: a url row, so that :missing sees the reference.
    assert of({"reference": "#contained"}) == [
        ReferenceRow("subject", None, None, None, "#contained")
    ]
    assert of({"reference": "Patient?identifier=x|1"}) == []
    assert of({"identifier": {"system": "urn:mrn", "value": "7"}}) == [
        TokenRow("subject:identifier", "urn:mrn", "7")
    ]
    assert list(reference.extract_reference_rows("p", "http://x/Q|2.0", "canonical")) == [
        ReferenceRow("p", None, None, "2.0", "http://x/Q")
    ]


@pytest.mark.parametrize(
    ("search", "targets", "expected"),
    [
        ("Patient/1", (), True),
        ("Group/1", (), False),
        ("1", (), True),
        ("1", ("Patient",), True),
        ("1", ("Group",), False),
        ("Patient/1/_history/3", (), False),
        ("Patient/2", (), False),
    ],
)
def test_reference_matching(search: str, targets: tuple[str, ...], expected: bool) -> None:
    found = [ReferenceRow("subject", "Patient", "1")]
    value = reference.parse(search, None, targets)

    assert reference.matches(found, [], [value]) is expected


# -- Location near (R4 search.html#special) --------------------------------------------------------


def test_near_distances_are_great_circle_km() -> None:
    assert near.distance_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.56, abs=0.1)
    assert near.distance_km(0, 179.9, 0, -179.9) == pytest.approx(22.24, abs=0.01)
    assert near.distance_km(89.9, 0, 89.9, 180) == pytest.approx(22.24, abs=0.01)


@given(
    a=st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    b=st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    origin=st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
)
def test_the_distance_sort_value_orders_as_the_distance(
    a: tuple[float, float], b: tuple[float, float], origin: tuple[float, float]
) -> None:
    """``_sort=near`` sorts by the haversine term; it must order points as km do."""
    point = near.NearValue(origin[0], origin[1], 10.0)
    values = [
        near.sort_value(near.extract_near_rows({"latitude": x, "longitude": y}), point)
        for x, y in (a, b)
    ]
    km = [near.distance_km(origin[0], origin[1], x, y) for x, y in (a, b)]
    assert values[0] is not None and values[1] is not None
    if abs(km[0] - km[1]) > 1e-6:
        assert (values[0] < values[1]) == (km[0] < km[1])
    assert near.sort_value([], point) is None
    assert (
        near.position_distance_km({"position": {"latitude": a[0], "longitude": a[1]}}, point)
        == km[0]
    )
    assert near.position_distance_km({"name": "no position"}, point) is None


def test_near_rows_need_both_coordinates() -> None:
    assert list(near.extract_near_rows({"latitude": 1.5, "longitude": -2})) == [
        near.NumberRow(near.LATITUDE, 1.5, 1.5, 1.5),
        near.NumberRow(near.LONGITUDE, -2.0, -2.0, -2.0),
    ]
    assert list(near.extract_near_rows({"latitude": 1.5})) == []
    assert list(near.extract_near_rows({"latitude": 95, "longitude": 0})) == []


@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 2 * math.pi),
    fraction=st.floats(0, 1),
    distance=st.floats(0.01, 3000),
)
def test_the_bounding_box_keeps_every_point_within_the_distance(
    lat: float, lon: float, bearing: float, fraction: float, distance: float
) -> None:
    """The SQL prefilter (box) never drops a point the exact haversine test keeps."""
    # The point at ``fraction * distance`` km along ``bearing`` (spherical destination).
    angular = fraction * distance / near.EARTH_RADIUS_KM
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(
        math.sin(p1) * math.cos(angular) + math.cos(p1) * math.sin(angular) * math.cos(bearing)
    )
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(angular) * math.cos(p1),
        math.cos(angular) - math.sin(p1) * math.sin(p2),
    )
    plat = math.degrees(p2)
    plon = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    value = near.NearValue(lat, lon, distance)
    rows = list(near.extract_near_rows({"latitude": plat, "longitude": plon}))
    if not near.matches(rows, [value]):
        return  # at the very edge rounding may put it outside: nothing to check
    low, high = value.latitude_range()
    assert low <= plat <= high
    ranges = value.longitude_ranges()
    assert ranges is None or any(a <= plon <= b for a, b in ranges)


def test_identifiers_get_one_of_type_row_per_coded_type() -> None:
    ident = {
        "system": "urn:mrn",
        "value": "4|2",
        "type": {"coding": [{"system": "http://t", "code": "MR"}, {"code": "no-system"}]},
    }

    assert list(token.extract_of_type_rows("identifier", ident, "Identifier")) == [
        TokenRow("identifier:of-type", "http://t", "MR|4\\|2")
    ]
    concept = {"coding": [{"system": "http://t", "code": "MR"}]}
    assert list(token.extract_of_type_rows("code", concept, "CodeableConcept")) == []
