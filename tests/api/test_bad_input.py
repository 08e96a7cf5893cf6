"""Bad input on the FHIR API: each mistake gets its status and an OperationOutcome saying why.

R4 http.html#mime and #general, INTERFACES.md ("Errors on FHIR paths are always an
OperationOutcome with the right status ... Never a 500 for anything a client sent").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from wardbook.config import Settings

pytestmark = pytest.mark.anyio

FHIR = "application/fhir+json"
BODY_LIMIT = 4096


@pytest.fixture
def settings() -> Settings:
    """A small body limit, so 413 needs only a few kilobytes (overrides tests/api/conftest)."""
    return Settings(env="test", no_auth=True, max_body_bytes=BODY_LIMIT)


def patient(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": "Nakamura", "given": ["Hana"]}],
        "gender": "female",
        "birthDate": "1990-07-14",
    }
    body.update(extra)
    return body


def assert_outcome(response: httpx.Response, status: int, *says: str) -> dict[str, Any]:
    """The response has ``status`` and an OperationOutcome whose diagnostics say ``says``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], "an OperationOutcome needs at least one issue"
    for issue in outcome["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
    diagnostics = " ".join(issue.get("diagnostics", "") for issue in outcome["issue"])
    for fragment in says:
        assert fragment.lower() in diagnostics.lower(), diagnostics
    return outcome


@pytest.fixture
async def stored_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/Patient", json=patient(), headers={"Content-Type": FHIR})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- 400: the request cannot be read --------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"resourceType": "Patient", "gender": "female"',  # truncated
        b"{'resourceType': 'Patient'}",  # single quotes
        b'{"resourceType": "Patient",}',  # trailing comma
        b'{"resourceType": "Patient", "multipleBirthInteger": NaN}',
        b"\xff\xfe{\x00}\x00",  # not UTF-8
    ],
    ids=["truncated", "single-quotes", "trailing-comma", "nan", "not-utf8"],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/Patient", content=raw, headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "not valid JSON")


async def test_empty_body_on_create_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/Patient", content=b"", headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "needs a JSON body")


async def test_json_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/Patient", json=["Patient"], headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "JSON object")


async def test_resource_type_that_differs_from_the_url_is_400(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "Pulse"}}
    response = await client.post("/Patient", json=body, headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "resourceType 'Observation'", "'Patient'")


async def test_resource_type_mismatch_on_update_is_400(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Observation", "id": "p1", "status": "final", "code": {"text": "x"}}
    response = await client.put("/Patient/p1", json=body, headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "resourceType 'Observation'", "'Patient'")


async def test_missing_resource_type_is_400(client: httpx.AsyncClient) -> None:
    body = {"gender": "female"}
    response = await client.post("/Patient", json=body, headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "resourceType", "'Patient'")


async def test_id_that_differs_from_the_url_on_update_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/Patient/p-1", json=patient(id="p-2"), headers={"Content-Type": FHIR}
    )
    assert_outcome(response, 400, "id 'p-2'", "'p-1'")


async def test_update_without_an_id_in_the_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put("/Patient/p-1", json=patient(), headers={"Content-Type": FHIR})
    assert_outcome(response, 400, "id")


@pytest.mark.parametrize(
    "bad_id",
    ["has_underscore", "has%20space", "x" * 65, "caf%C3%A9", "semi%3Bcolon"],
    ids=["underscore", "space", "too-long", "non-ascii", "semicolon"],
)
async def test_invalid_id_in_the_url_is_400(client: httpx.AsyncClient, bad_id: str) -> None:
    response = await client.get(f"/Patient/{bad_id}")
    assert_outcome(response, 400, "not a valid resource id")


async def test_invalid_id_on_update_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/Patient/bad_id", json=patient(id="bad_id"), headers={"Content-Type": FHIR}
    )
    assert_outcome(response, 400, "not a valid resource id")


async def test_if_match_that_is_not_a_version_is_400(
    client: httpx.AsyncClient, stored_patient: dict[str, Any]
) -> None:
    pid = stored_patient["id"]
    response = await client.put(
        f"/Patient/{pid}",
        json=stored_patient,
        headers={"Content-Type": FHIR, "If-Match": "yesterday"},
    )
    assert_outcome(response, 400, "If-Match 'yesterday'")


async def test_unknown_search_parameter_is_400_when_strict(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/Patient", params={"no-such-parameter": "x"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(response, 400, "no-such-parameter")


async def test_garbage_count_on_history_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/_history", params={"_count": "lots"})
    assert_outcome(response, 400, "_count='lots'")


# --- 404: nothing there ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Patientx"),
        ("GET", "/Foo/123"),
        ("GET", "/patient/123"),  # type names are case-sensitive
        ("GET", "/Resource/123"),  # abstract
        ("GET", "/Foo/_history"),
    ],
)
async def test_unknown_resource_type_is_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    name = path.split("/")[1]
    response = await client.request(method, path)
    assert_outcome(response, 404, f"Unknown resource type '{name}'")


async def test_create_of_an_unknown_resource_type_is_404(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Foo"}
    response = await client.post("/Foo", json=body, headers={"Content-Type": FHIR})
    assert_outcome(response, 404, "Unknown resource type 'Foo'")


async def test_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/never-created")
    assert_outcome(response, 404, "Patient/never-created")


@pytest.mark.parametrize("version", ["99", "0", "abc"])
async def test_unknown_version_is_404(
    client: httpx.AsyncClient, stored_patient: dict[str, Any], version: str
) -> None:
    pid = stored_patient["id"]
    response = await client.get(f"/Patient/{pid}/_history/{version}")
    assert_outcome(response, 404, "Version", version, f"Patient/{pid}")


async def test_unknown_version_of_an_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient/never-created/_history/1")
    assert_outcome(response, 404, "Patient/never-created")


@pytest.mark.parametrize(
    "path",
    ["/Patient/1/_history/1/extra", "/Patient/1/_history/1/2/3", "/a/b/c/d/e"],
)
async def test_unknown_path_under_fhir_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_outcome(response, 404, f"No FHIR endpoint at /fhir{path}")


async def test_compartment_search_of_an_unknown_type_is_404(client: httpx.AsyncClient) -> None:
    # /{type}/{id}/{member} is compartment search (R4 search.html#compartments).
    response = await client.get("/Patient/1/foo")
    assert_outcome(response, 404, "Unknown resource type 'foo'")


# --- 405: the URL exists, the method does not -----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/Patient/123"),
        ("PUT", "/Patient/123/_history/1"),
        ("DELETE", "/Patient/123/_history/1"),
        ("POST", "/Patient/123/_history"),
        ("PATCH", "/Patient/123/$validate"),
    ],
)
async def test_unsupported_interaction_is_405(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert_outcome(response, 405, f"{method} is not supported on this URL")
    assert method not in response.headers["allow"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/metadata"), ("PATCH", "/_history"), ("PUT", "/_history?x=1")],
)
async def test_writes_to_reserved_names_are_405(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    # Reserved names are their own routes (GET only), never taken for a resource type.
    response = await client.request(method, path, json={"resourceType": "Patient"})
    assert_outcome(response, 405, f"{method} is not supported on this URL")
    assert response.headers["allow"] == "GET, HEAD"


async def test_get_search_is_405(client: httpx.AsyncClient) -> None:
    # R4 search.html: [type]/_search is POST only; "_search" is never taken for an id.
    response = await client.get("/Patient/_search")
    assert_outcome(response, 405, "GET is not supported on this URL")
    assert response.headers["allow"] == "POST"


# --- 406 / 415: JSON only -------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+xml",
        "application/xml",
        "text/xml",
        "application/xml+fhir",
        "application/fhir+xml;q=1.0, application/xml;q=0.8",
    ],
)
async def test_xml_accept_is_406(
    client: httpx.AsyncClient, stored_patient: dict[str, Any], accept: str
) -> None:
    for path in ("/metadata", "/Patient", f"/Patient/{stored_patient['id']}"):
        response = await client.get(path, headers={"Accept": accept})
        assert_outcome(response, 406, "JSON only")


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/xml", "application/xml"])
async def test_xml_format_parameter_is_406(
    client: httpx.AsyncClient, stored_patient: dict[str, Any], fmt: str
) -> None:
    for path in ("/metadata", "/Patient", f"/Patient/{stored_patient['id']}"):
        response = await client.get(path, params={"_format": fmt})
        assert_outcome(response, 406, "JSON only")


async def test_unknown_format_parameter_is_406(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient", params={"_format": "turtle"})
    assert_outcome(response, 406, "_format 'turtle'")


async def test_accept_of_only_unknown_types_is_406(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient", headers={"Accept": "image/png"})
    assert_outcome(response, 406, "image/png")


async def test_xml_accept_on_a_write_is_406_and_writes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient",
        json=patient(),
        headers={"Content-Type": FHIR, "Accept": "application/fhir+xml"},
    )
    assert_outcome(response, 406, "JSON only")
    search = await client.get("/Patient", params={"family": "Nakamura"})
    assert search.json().get("total", 0) == 0


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "application/xml", "text/xml"])
async def test_xml_content_type_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"><gender value="female"/></Patient>'
    response = await client.post("/Patient", content=xml, headers={"Content-Type": content_type})
    assert_outcome(response, 415, "JSON only")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", "multipart/form-data; boundary=x"]
)
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    raw = b'{"resourceType": "Patient"}'
    response = await client.post("/Patient", content=raw, headers={"Content-Type": content_type})
    kind = content_type.split(";")[0]
    assert_outcome(response, 415, f"Content-Type '{kind}' is not supported")


async def test_wrong_content_type_on_update_is_415(client: httpx.AsyncClient) -> None:
    raw = b'{"resourceType": "Patient", "id": "p-1"}'
    response = await client.put("/Patient/p-1", content=raw, headers={"Content-Type": "text/plain"})
    assert_outcome(response, 415, "text/plain")


async def test_patch_with_a_resource_content_type_other_than_json_is_415(
    client: httpx.AsyncClient, stored_patient: dict[str, Any]
) -> None:
    response = await client.patch(
        f"/Patient/{stored_patient['id']}",
        content=b"[]",
        headers={"Content-Type": "text/plain"},
    )
    assert_outcome(response, 415, "application/json-patch+json")


# --- 413: too large -------------------------------------------------------------------------


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = patient(text={"status": "generated", "div": "<div>" + "x" * BODY_LIMIT + "</div>"})
    response = await client.post("/Patient", json=big, headers={"Content-Type": FHIR})
    assert_outcome(response, 413, f"{BODY_LIMIT}-byte limit")


async def test_oversized_body_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"resourceType": "Patient", "text": {"div": "'
        for _ in range(BODY_LIMIT // 1024 + 2):
            yield b"x" * 1024
        yield b'"}}'

    response = await client.post("/Patient", content=chunks(), headers={"Content-Type": FHIR})
    assert "content-length" not in response.request.headers
    assert_outcome(response, 413, f"{BODY_LIMIT}-byte limit")


async def test_oversized_update_is_413(client: httpx.AsyncClient) -> None:
    big = patient(id="p-1", text={"status": "generated", "div": "x" * BODY_LIMIT})
    response = await client.put("/Patient/p-1", json=big, headers={"Content-Type": FHIR})
    assert_outcome(response, 413, f"{BODY_LIMIT}-byte limit")


async def test_content_length_that_is_not_a_number_is_400(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "POST", "/Patient", content=b"{}", headers={"Content-Type": FHIR}
    )
    request.headers["Content-Length"] = "twelve"
    response = await client.send(request)
    assert_outcome(response, 400, "Content-Length")


# --- found by tests/api/test_fuzz.py --------------------------------------------------------
# Each of these once answered 500.


@pytest.mark.parametrize("version", ["2147483648", "9223372036854775808", "9" * 30])
async def test_vread_of_a_version_beyond_the_integer_range_is_404(
    client: httpx.AsyncClient, stored_patient: dict[str, Any], version: str
) -> None:
    # SQLite: OverflowError "Python int too large to convert to SQLite INTEGER";
    # PostgreSQL: asyncpg DataError "value out of int32 range" (from 2**31 on).
    response = await client.get(f"/Patient/{stored_patient['id']}/_history/{version}")
    assert_outcome(response, 404, "Version", version)


async def test_decimal_with_trailing_zero_in_a_number_parameter_is_stored(
    client: httpx.AsyncClient,
) -> None:
    # RiskAssessment.prediction.probability is the number parameter "probability"; jsonio
    # keeps 0.10 as a Decimal, whose repr was "Decimal('0.10')", which number_text() could
    # not parse (500 on the official ChargeItem example; fixed in jsonio by 4e566a7).
    body = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p-1"},
        "prediction": [{"probabilityDecimal": 0.10}],
    }
    raw = json.dumps(body).replace("0.1", "0.10").encode()
    response = await client.post("/RiskAssessment", content=raw, headers={"Content-Type": FHIR})
    assert response.status_code == 201, response.text
    assert b"0.10" in response.content
    found = await client.get("/RiskAssessment", params={"probability": "0.1"})
    assert found.json()["total"] == 1


async def test_nul_character_in_a_string_is_400(client: httpx.AsyncClient) -> None:
    # R4 datatypes.html#string: no characters below U+0020 except tab, CR and LF. It used to
    # be stored by SQLite (201) and refused by PostgreSQL's jsonb (500).
    response = await client.post(
        "/Patient",
        json=patient(name=[{"family": "Nakamura\u0000"}]),
        headers={"Content-Type": FHIR},
    )
    outcome = assert_outcome(response, 400, "control characters")
    assert outcome["issue"][0]["expression"] == ["Patient.name[0].family"]


@pytest.mark.parametrize("parameter", ["family", "_id", "identifier", "name:exact"])
async def test_nul_character_in_a_search_value_is_not_a_5xx(
    client: httpx.AsyncClient, parameter: str
) -> None:
    # PostgreSQL: CharacterNotInRepertoireError 'invalid byte sequence for encoding "UTF8": 0x00'
    response = await client.get("/Patient", params={parameter: "Naka\u0000mura"})
    assert_outcome(response, 400, "NUL")
