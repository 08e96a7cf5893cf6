"""GET /fhir/openapi.json: an OpenAPI 3.1 document generated from the routes and the registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from wardbook.api.capabilities import supports_parameter
from wardbook.api.openapi import openapi_bytes, openapi_document
from wardbook.api.routes import INTERACTIONS
from wardbook.fhir.registry import resource_types, search_parameters

# A size guard: ~2,200 operations stay small only while they share components by $ref.
# Raised from 2,500,000 when composites ending in a quantity or date became searchable
# (about 30 more parameters listed: +6 KB, 2,501,156 bytes).
MAX_BYTES = 2_600_000


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(openapi_bytes())
    return parsed


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_is_openapi_31_for_the_fhir_base(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/fhir"}]
    assert document["info"]["title"]


def test_every_interaction_has_a_path_for_every_resource_type(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for resource_type in resource_types():
        for interaction in INTERACTIONS:
            path = interaction.path.replace("{type}", resource_type)
            assert interaction.method.lower() in paths.get(path, {}), (path, interaction.method)
    for path in (
        "/Patient",
        "/Patient/{id}",
        "/Patient/{id}/_history/{vid}",
        "/Patient/_search",
        "/Patient/$validate",
        "/metadata",
        "/_history",
        "/openapi.json",
    ):
        assert path in paths, path


def test_no_path_claims_a_method_without_a_route(document: dict[str, Any]) -> None:
    routed = {(i.method, i.path) for i in INTERACTIONS}
    server = {("GET", "/metadata"), ("GET", "/openapi.json"), ("GET", "/")}
    for path, method, operation in operations(document):
        if (method.upper(), path) in server:
            continue
        tags = operation.get("tags", [])
        template = path.replace(tags[0], "{type}", 1) if tags else path
        assert (method.upper(), template) in routed, (method, path)


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    counts = Counter(op["operationId"] for _, _, op in operations(document))
    assert counts.most_common(1)[0][1] == 1
    assert document["paths"]["/Patient/{id}"]["get"]["operationId"] == "Patient.read"


def test_search_lists_the_executed_search_parameters(document: dict[str, Any]) -> None:
    search = document["paths"]["/Observation"]["get"]
    params = {p["name"]: p for p in (resolve(document, q) for q in search["parameters"])}
    expected = {
        c
        for c, p in search_parameters("Observation").items()
        if supports_parameter(p, "Observation")
    }
    assert expected <= set(params)
    assert {"_count", "_sort"} <= set(params)
    code = params["code"]
    assert code["in"] == "query"
    assert code["schema"] == {"type": "string"}
    # A parameter shared by many types is described for this one, with its FHIR type.
    assert code["description"].startswith("token: ")
    assert "observation" in code["description"].lower()
    unsupported = {
        c
        for c, p in search_parameters("Observation").items()
        if not supports_parameter(p, "Observation")
    }
    assert unsupported, "Observation has composite parameters"
    assert not unsupported & set(params)


def test_headers_bodies_and_responses(document: dict[str, Any]) -> None:
    def names(path: str, method: str) -> set[str]:
        operation = document["paths"][path][method]
        shared = document["paths"][path].get("parameters", [])
        return {resolve(document, p)["name"] for p in [*shared, *operation.get("parameters", [])]}

    assert {"If-Match", "Prefer", "id", "_format"} <= names("/Patient/{id}", "put")
    assert {"If-None-Match", "If-Modified-Since"} <= names("/Patient/{id}", "get")
    assert {"If-None-Exist", "Prefer"} <= names("/Patient", "post")
    assert {"id", "vid"} <= names("/Patient/{id}/_history/{vid}", "get")

    patch = resolve(document, document["paths"]["/Patient/{id}"]["patch"]["requestBody"])
    assert set(patch["content"]) == {"application/json-patch+json", "application/fhir+json"}
    create = resolve(document, document["paths"]["/Patient"]["post"]["requestBody"])
    assert "application/fhir+json" in create["content"]

    responses = document["paths"]["/Patient/{id}"]["get"]["responses"]
    assert {"200", "304", "404", "410", "default"} <= set(responses)
    not_found = resolve(document, responses["404"])
    schema = not_found["content"]["application/fhir+json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/OperationOutcome"}
    outcome = document["components"]["schemas"]["OperationOutcome"]
    assert outcome["properties"]["issue"]["items"]["required"] == ["severity", "code"]
    assert {"Resource", "Bundle", "OperationOutcome"} <= set(document["components"]["schemas"])


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in sorted(refs):
        resolve(document, {"$ref": ref})  # KeyError names the dangling one


def test_is_deterministic_and_compact(document: dict[str, Any]) -> None:
    again = json.dumps(openapi_document(), sort_keys=False).encode()
    assert json.loads(again) == document
    assert openapi_bytes() == openapi_bytes()
    assert len(openapi_bytes()) < MAX_BYTES


def _validate_with_library(document: dict[str, Any]) -> list[str]:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    return [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]


_SUBPROCESS_CHECK = """
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator
document = json.load(open(sys.argv[1]))
for error in OpenAPIV31SpecValidator(document).iter_errors():
    print(error.message[:500])
"""


@pytest.mark.slow
def test_passes_openapi_spec_validator(document: dict[str, Any], tmp_path: Path) -> None:
    """openapi-spec-validator, in this venv or, failing that, in a python3.11 that has it."""
    try:
        errors = _validate_with_library(document)
    except ImportError:
        python = shutil.which("python3.11")
        probe = [python, "-c", "import openapi_spec_validator"] if python else None
        if probe is None or subprocess.run(probe, capture_output=True).returncode != 0:
            pytest.skip("openapi-spec-validator is not installed")
        assert python is not None
        path = tmp_path / "openapi.json"
        path.write_bytes(openapi_bytes())
        done = subprocess.run(
            [python, "-c", _SUBPROCESS_CHECK, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        errors = done.stdout.splitlines()
    assert errors == []


# --- over HTTP ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_served_at_fhir_openapi_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["openapi"] == "3.1.0"
    assert "/Patient/{id}" in response.json()["paths"]


@pytest.mark.anyio
async def test_served_gzipped_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert len(response.content) == len(openapi_bytes())  # httpx decompressed it
    plain = await client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    refused = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


@pytest.mark.anyio
async def test_writes_to_it_are_refused(client: httpx.AsyncClient) -> None:
    # POST /openapi.json routes as create on a type named "openapi.json": 404, never a write.
    response = await client.post("/openapi.json", json={})
    assert response.status_code in (404, 405)
    assert response.json()["resourceType"] == "OperationOutcome"
