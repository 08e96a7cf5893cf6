"""Lexical rules of the R4 primitive datatypes (R4 datatypes.html#primitive)."""

from __future__ import annotations

import pytest

from wardbook.fhir import jsonio
from wardbook.fhir.primitives import check_primitive

VALID = [
    ("boolean", True),
    ("integer", -(2**31)),
    ("integer", 2**31 - 1),
    ("positiveInt", 1),
    ("unsignedInt", 0),
    ("decimal", 0),
    ("decimal", -1.5e10),
    ("decimal", jsonio.Decimal("1.50")),
    ("string", " padded "),
    ("string", "line\nbreak"),
    ("code", "a b"),
    ("code", "CHEST\u00a0"),  # only ASCII whitespace counts, as in XML Schema
    ("id", "a-B.9"),
    ("id", "x" * 64),
    ("uri", "urn:ietf:rfc:3986"),
    ("url", "http://example.org/a?b=c"),
    ("canonical", "http://hl7.org/fhir/ValueSet/x|4.0.1"),
    ("oid", "urn:oid:2.16.840.1.113883"),
    ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
    ("date", "2024"),
    ("date", "2024-02"),
    ("date", "2024-02-29"),
    ("dateTime", "2015-02-07T13:28:17.239+02:00"),
    ("dateTime", "2017-01-01T00:00:00Z"),
    ("dateTime", "1905-08-23"),
    ("instant", "2015-02-07T13:28:17.239+02:00"),
    ("time", "23:59:60"),
    ("base64Binary", "aGVsbG8="),
    ("base64Binary", "aGVs\nbG8="),
    ("markdown", "# title"),
    ("xhtml", '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'),
]

INVALID = [
    ("boolean", "true", "structure"),
    ("boolean", 0, "structure"),
    ("integer", True, "structure"),
    ("integer", 2**31, "value"),
    ("integer", jsonio.Decimal("1" * 25), "value"),
    ("integer", 1.0, "structure"),
    ("positiveInt", 0, "value"),
    ("unsignedInt", -1, "value"),
    ("decimal", "1.0", "structure"),
    ("decimal", False, "structure"),
    ("string", "", "value"),
    ("string", 12, "structure"),
    ("code", " lead", "value"),
    ("code", "two  spaces", "value"),
    ("id", "under_score", "value"),
    ("id", "x" * 65, "value"),
    ("uri", "has space", "value"),
    ("uri", "", "value"),
    ("oid", "urn:oid:3.1", "value"),
    ("uuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520", "value"),
    ("date", "2023-02-29", "value"),
    ("date", "2024-1-01", "value"),
    ("date", "0000", "value"),
    ("dateTime", "2015-02-07T13:28:17", "value"),
    ("dateTime", "2015-02-07T13:28+02:00", "value"),
    ("dateTime", "2015-02-07T24:00:00Z", "value"),
    ("instant", "2015-02-07", "value"),
    ("time", "24:00:00", "value"),
    ("time", "10:00", "value"),
    ("base64Binary", "abc", "value"),
    ("base64Binary", "ab$=", "value"),
    ("xhtml", "<p>x</p>", "value"),
    ("xhtml", "<div>x</div>", "value"),
]


@pytest.mark.parametrize(("type_name", "value"), VALID)
def test_valid_values(type_name: str, value: object) -> None:
    assert check_primitive(type_name, value) is None


@pytest.mark.parametrize(("type_name", "value", "code"), INVALID)
def test_invalid_values(type_name: str, value: object, code: str) -> None:
    problem = check_primitive(type_name, value)
    assert problem is not None
    assert problem[0] == code


def test_unknown_primitive_type() -> None:
    with pytest.raises(KeyError):
        check_primitive("HumanName", "x")
