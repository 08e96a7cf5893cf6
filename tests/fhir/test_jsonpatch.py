"""JSON Patch (RFC 6902) and JSON Pointer (RFC 6901), as FHIR R4 http.html#patch uses them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardbook.errors import BadRequest, Unprocessable
from wardbook.fhir import jsonio
from wardbook.fhir.jsonpatch import apply_json_patch, json_equal, parse_pointer

# --- RFC 6902 Appendix A, every example ---------------------------------------------------

APPENDIX_A_SUCCESS = [
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
        id="A.1 adding an object member",
    ),
    pytest.param(
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
        id="A.2 adding an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
        id="A.3 removing an object member",
    ),
    pytest.param(
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
        id="A.4 removing an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
        id="A.5 replacing a value",
    ),
    pytest.param(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        id="A.6 moving a value",
    ),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
        id="A.7 moving an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
        id="A.8 testing a value: success",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
        id="A.10 adding a nested member object",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
        id="A.11 ignoring unrecognized elements",
    ),
    pytest.param(
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
        id="A.14 ~ escape ordering",
    ),
    pytest.param(
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
        id="A.16 adding an array value",
    ),
]


@pytest.mark.parametrize(("document", "patch", "expected"), APPENDIX_A_SUCCESS)
def test_rfc6902_appendix_a_examples(
    document: dict[str, Any], patch: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(document)
    assert apply_json_patch(document, patch) == expected
    assert document == before


def test_a9_testing_a_value_error() -> None:
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}])
    assert caught.value.status == 422
    assert caught.value.message == (
        "operation 0 (test /baz): test failed: the value at path is not equal to 'value'"
    )


def test_a12_adding_to_a_nonexistent_target() -> None:
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}])
    assert caught.value.message == ("operation 0 (add /baz/bat): the parent of path does not exist")


def test_a13_invalid_patch_document_duplicate_op_member() -> None:
    # A.13 repeats "op"; JSON parsers keep the last member, so the body arrives as a remove
    # of /baz, which this document lacks: the patch is still refused and nothing changes.
    patch = jsonio.loads(b'[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]')
    assert patch == [{"op": "remove", "path": "/baz", "value": "qux"}]
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch({"foo": "bar"}, patch)
    assert caught.value.message == "operation 0 (remove /baz): path does not exist"


def test_a15_comparing_strings_and_numbers() -> None:
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}])
    assert caught.value.message.startswith("operation 0 (test /~01): test failed")


# --- RFC 6901 §5: every pointer of the example document ----------------------------------

RFC6901_DOCUMENT: dict[str, Any] = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", RFC6901_DOCUMENT),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc6901_pointers_select_their_values(pointer: str, expected: Any) -> None:
    patch = [{"op": "test", "path": pointer, "value": expected}]
    assert apply_json_patch(RFC6901_DOCUMENT, patch) == RFC6901_DOCUMENT


def test_pointer_escapes_decode_tilde_one_before_tilde_zero() -> None:
    assert parse_pointer("/~01") == ("~1",)
    assert parse_pointer("/a~1b/m~0n/") == ("a/b", "m~n", "")
    assert parse_pointer("") == ()


# --- FHIR resources -------------------------------------------------------------------------


def test_patches_a_real_patient(example: Any) -> None:
    patient = example("Patient", "example")
    original = copy.deepcopy(patient)
    patch = [
        {"op": "test", "path": "/name/0/family", "value": "Chalmers"},
        {"op": "replace", "path": "/name/0/family", "value": "Chalmers-Smith"},
        {"op": "add", "path": "/name/0/given/-", "value": "Jim"},
        {"op": "remove", "path": "/telecom/0"},
        {"op": "copy", "from": "/address/0", "path": "/contact/0/address"},
        {"op": "move", "from": "/name/1", "path": "/name/0"},
    ]
    patched = apply_json_patch(patient, patch)
    assert patient == original
    assert patched["name"][1]["family"] == "Chalmers-Smith"
    assert patched["name"][1]["given"] == ["Peter", "James", "Jim"]
    assert patched["name"][0] == original["name"][1]
    assert patched["telecom"] == original["telecom"][1:]
    assert patched["contact"][0]["address"] == original["address"][0]


def test_decimals_keep_their_text() -> None:
    observation = jsonio.loads(
        b'{"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}}'
    )
    patch = [
        {"op": "test", "path": "/valueQuantity/value", "value": 1.5},
        {"op": "copy", "from": "/valueQuantity", "path": "/referenceRange"},
        {"op": "add", "path": "/component", "value": [{"valueQuantity": {"value": 2.0}}]},
    ]
    patched = apply_json_patch(observation, patch)
    value = patched["referenceRange"]["value"]
    assert isinstance(value, jsonio.Decimal)
    assert value.text == "1.50"
    assert jsonio.dumps(patched["valueQuantity"]) == b'{"value":1.50,"unit":"mg"}'


def test_replacing_the_whole_document() -> None:
    patched = apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}])
    assert patched == {"b": 2}
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "", "value": {"c": 3}}]) == {"c": 3}


def test_move_within_the_same_location_is_a_no_op() -> None:
    assert apply_json_patch({"a": [1, 2]}, [{"op": "move", "from": "/a/0", "path": "/a/0"}]) == {
        "a": [1, 2]
    }


def test_copy_makes_an_independent_value() -> None:
    patched = apply_json_patch(
        {"a": {"b": [1]}},
        [
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "add", "path": "/c/b/-", "value": 2},
        ],
    )
    assert patched == {"a": {"b": [1]}, "c": {"b": [1, 2]}}


def test_the_patch_value_is_copied_not_shared() -> None:
    value = {"given": ["A"]}
    patched = apply_json_patch({"name": []}, [{"op": "add", "path": "/name/-", "value": value}])
    patched["name"][0]["given"].append("B")
    assert value == {"given": ["A"]}


# --- test: JSON equality (RFC 6902 §4.6) -------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1.0, True),
        (1, jsonio.Decimal("1.00"), True),
        (True, 1, False),
        (False, 0, False),
        (None, False, False),
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ("10", 10, False),
        ("é", "é", True),
        ([], {}, False),
    ],
)
def test_json_equality(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal
    assert json_equal(right, left) is equal


# --- errors ---------------------------------------------------------------------------------

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"given": ["Ann"]}],
    "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
}

MALFORMED = [
    pytest.param(
        {"op": "add", "path": "/a", "value": 1},
        "a JSON Patch document must be a JSON array of operations (RFC 6902 §3), not an object",
        id="not an array",
    ),
    pytest.param(
        ["add"],
        "operation 0: must be a JSON object (RFC 6902 §4), not a string",
        id="operation not an object",
    ),
    pytest.param(
        [{"path": "/a"}],
        "operation 0: the member 'op' is missing or not a string",
        id="missing op",
    ),
    pytest.param(
        [{"op": "test", "path": "/name", "value": []}, {"op": "merge", "path": "/a"}],
        "operation 1: unknown op 'merge' (expected one of add, remove, replace, move, copy, test)",
        id="unknown op",
    ),
    pytest.param(
        [{"op": "remove"}],
        "operation 0 (remove): the member 'path' is missing or not a string",
        id="missing path",
    ),
    pytest.param(
        [{"op": "replace", "path": "/name/0"}],
        "operation 0 (replace /name/0): the member 'value' is missing",
        id="missing value",
    ),
    pytest.param(
        [{"op": "copy", "path": "/a"}],
        "operation 0 (copy /a): the member 'from' is missing or not a string",
        id="missing from",
    ),
    pytest.param(
        [{"op": "remove", "path": "name"}],
        "operation 0 (remove): path 'name' is not a JSON Pointer: "
        "a JSON Pointer is empty or starts with '/'",
        id="pointer without a leading slash",
    ),
    pytest.param(
        [{"op": "remove", "path": "/a~2b"}],
        "operation 0 (remove): path '/a~2b' is not a JSON Pointer: "
        "'~' must be followed by '0' or '1' in a JSON Pointer",
        id="bad escape",
    ),
    pytest.param(
        [{"op": "move", "from": "/name", "path": "/name/0/x"}],
        "operation 0 (move /name -> /name/0/x): 'from' must not be a proper prefix of 'path'",
        id="move into a child",
    ),
]


@pytest.mark.parametrize(("patch", "message"), MALFORMED)
def test_malformed_patches_are_bad_requests(patch: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        apply_json_patch(PATIENT, patch)
    assert caught.value.status == 400
    assert caught.value.message == message
    assert caught.value.outcome()["issue"][0]["code"] == "invalid"


def test_a_malformed_operation_is_reported_before_anything_runs() -> None:
    # The failing test at 0 would be a 422; the malformed operation 1 wins with a 400.
    patch = [{"op": "test", "path": "/nope", "value": 1}, {"op": "add", "path": "/a"}]
    with pytest.raises(BadRequest):
        apply_json_patch(PATIENT, patch)


UNAPPLICABLE = [
    pytest.param(
        [
            {"op": "test", "path": "/resourceType", "value": "Patient"},
            {"op": "add", "path": "/active", "value": True},
            {"op": "replace", "path": "/name/0/family", "value": "Smith"},
        ],
        "operation 2 (replace /name/0/family): path does not exist",
        id="replace a missing member",
    ),
    pytest.param(
        [{"op": "remove", "path": "/telecom/2"}],
        "operation 0 (remove /telecom/2): path does not exist: "
        "index 2 is out of bounds (the array has 2 elements)",
        id="remove past the end",
    ),
    pytest.param(
        [{"op": "add", "path": "/telecom/3", "value": {}}],
        "operation 0 (add /telecom/3): cannot add at path: "
        "index 3 is out of bounds (the array has 2 elements)",
        id="add beyond the end",
    ),
    pytest.param(
        [{"op": "replace", "path": "/telecom/01", "value": {}}],
        "operation 0 (replace /telecom/01): path does not exist: '01' is not an array index",
        id="leading zero",
    ),
    pytest.param(
        [{"op": "remove", "path": "/telecom/-"}],
        "operation 0 (remove /telecom/-): path does not exist: '-' is past the last element",
        id="dash outside add",
    ),
    pytest.param(
        [{"op": "add", "path": "/telecom/x", "value": {}}],
        "operation 0 (add /telecom/x): cannot add at path: 'x' is not an array index",
        id="word as index",
    ),
    pytest.param(
        [{"op": "add", "path": "/name/0/given/0/x", "value": 1}],
        "operation 0 (add /name/0/given/0/x): the parent of path is neither an object nor an array",
        id="child of a string",
    ),
    pytest.param(
        [{"op": "move", "from": "/photo", "path": "/x"}],
        "operation 0 (move /photo -> /x): from does not exist",
        id="move from nowhere",
    ),
    pytest.param(
        [{"op": "copy", "from": "/telecom/5", "path": "/x"}],
        "operation 0 (copy /telecom/5 -> /x): from does not exist: "
        "index 5 is out of bounds (the array has 2 elements)",
        id="copy from nowhere",
    ),
    pytest.param(
        [{"op": "remove", "path": ""}],
        'operation 0 (remove ""): the whole document cannot be removed (its path is empty)',
        id="remove the document",
    ),
    pytest.param(
        [{"op": "test", "path": "/telecom/0/system", "value": "email"}],
        "operation 0 (test /telecom/0/system): test failed: "
        "the value at path is not equal to 'value'",
        id="failed test",
    ),
]


@pytest.mark.parametrize(("patch", "message"), UNAPPLICABLE)
def test_patches_that_cannot_apply_are_unprocessable(patch: Any, message: str) -> None:
    before = copy.deepcopy(PATIENT)
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch(PATIENT, patch)
    assert caught.value.status == 422
    assert caught.value.message == message
    assert before == PATIENT


def test_a_result_that_is_not_an_object_is_unprocessable() -> None:
    with pytest.raises(Unprocessable) as caught:
        apply_json_patch(PATIENT, [{"op": "replace", "path": "", "value": [1]}])
    assert "not a JSON object" in caught.value.message


def test_patches_are_atomic() -> None:
    document = {"a": [1, 2, 3], "b": {"c": 1}}
    before = copy.deepcopy(document)
    patch = [
        {"op": "remove", "path": "/a/0"},
        {"op": "add", "path": "/b/d", "value": 2},
        {"op": "test", "path": "/b/c", "value": 2},
    ]
    with pytest.raises(Unprocessable):
        apply_json_patch(document, patch)
    assert document == before


# --- properties -----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
json_documents = st.dictionaries(st.text(max_size=4), json_values, max_size=5)

pointer_tokens = st.one_of(
    st.sampled_from(["-", "0", "1", "01", "a", "~0", "~1", "~", ""]), st.text(max_size=3)
)
pointers = st.one_of(
    st.lists(pointer_tokens, max_size=4).map(lambda ts: "".join("/" + t for t in ts)),
    st.text(max_size=6),
)
operations = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.one_of(
                st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
                json_values,
            ),
        },
        optional={"path": st.one_of(pointers, json_values), "value": json_values},
    ).flatmap(
        lambda op: st.one_of(
            st.just(op),
            pointers.map(lambda source: {**op, "from": source}),
        )
    ),
    json_values,
)
patches = st.one_of(st.lists(operations, max_size=5), json_values)


@settings(max_examples=400, deadline=None)
@given(document=json_documents, patch=patches)
def test_any_patch_either_applies_or_fails_cleanly(document: dict[str, Any], patch: Any) -> None:
    before = copy.deepcopy(document)
    try:
        result = apply_json_patch(document, patch)
    except (BadRequest, Unprocessable):
        pass
    else:
        assert isinstance(result, dict)
    assert document == before


@st.composite
def documents_with_a_present_pointer(draw: st.DrawFn) -> tuple[dict[str, Any], str, Any]:
    document = draw(json_documents)
    current: Any = document
    pointer = ""
    while isinstance(current, dict | list) and current and draw(st.booleans()):
        if isinstance(current, dict):
            key = draw(st.sampled_from(sorted(current)))
            pointer += "/" + key.replace("~", "~0").replace("/", "~1")
            current = current[key]
        else:
            index = draw(st.integers(min_value=0, max_value=len(current) - 1))
            pointer += f"/{index}"
            current = current[index]
    return document, pointer, current


@settings(max_examples=300, deadline=None)
@given(documents_with_a_present_pointer())
def test_a_successful_test_leaves_the_document_unchanged(
    case: tuple[dict[str, Any], str, Any],
) -> None:
    document, pointer, value = case
    patched = apply_json_patch(document, [{"op": "test", "path": pointer, "value": value}])
    assert patched == document
    assert patched is not document
