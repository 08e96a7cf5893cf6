"""The OpenAPI 3.1 description of the FHIR API, generated from the route table and the registry.

Served at ``GET [base]/openapi.json`` (INTERFACES.md). Like the CapabilityStatement nothing
is hand-listed: paths and methods come from :data:`wardbook.api.routes.INTERACTIONS`, one
path per resource type; query parameters from the R4 registry's SearchParameters, filtered
by what the search engine executes (:func:`wardbook.api.capabilities.supports_parameter`).
Only the HTTP shape of each interaction (statuses, headers, body) is described here, from
R4 http.html. About 146 types x 16 interactions make ~2,300 operations, so each operation
is a few ``$ref``s to shared components.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from wardbook import FHIR_VERSION, __version__
from wardbook.api.capabilities import RESULT_PARAMETERS, searchable
from wardbook.api.context import FhirContext
from wardbook.api.routes import INTERACTIONS, Interaction
from wardbook.fhir.registry import SearchParamDef, resource_types

OPENAPI_VERSION = "3.1.0"
FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"
_DESCRIPTION_LIMIT = 120

JsonObject = dict[str, Any]


def _ref(kind: str, name: str) -> JsonObject:
    return {"$ref": f"#/components/{kind}/{name}"}


@dataclass(frozen=True, slots=True)
class _Shape:
    """The HTTP shape of one interaction (R4 http.html): what it takes and answers."""

    summary: str  # ``{type}`` is replaced by the resource type
    success: tuple[tuple[str, str], ...]  # (status, response component)
    errors: tuple[int, ...]
    headers: tuple[str, ...] = ()  # parameter components
    query: str = "format"  # search | criteria | history | validate | system | format
    body: str | None = None  # requestBodies component


# Every operation also answers "default": 400 (malformed), 406 (XML asked for) and any other
# error as an OperationOutcome; only the statuses particular to an interaction are listed.
_WRITE_ERRORS = (404, 409, 412, 413, 415, 422)
_WRITE_HEADERS = ("If-Match", "Prefer")
_CONDITIONAL_READ = ("If-None-Match", "If-Modified-Since")

# Keyed by (interaction code, method); an interaction added to the route table without an
# entry here is still described, by :data:`_FALLBACK`.
_SHAPES: dict[tuple[str, str], _Shape] = {
    ("read", "GET"): _Shape(
        "Read a {type}",
        (("200", "Resource"), ("304", "NotModified")),
        (404, 410),
        _CONDITIONAL_READ,
    ),
    ("vread", "GET"): _Shape(
        "Read one version of a {type}",
        (("200", "Resource"), ("304", "NotModified")),
        (404, 410),
        _CONDITIONAL_READ,
    ),
    ("update", "PUT"): _Shape(
        "Update a {type}, or create it with this id",
        (("200", "Resource"), ("201", "Created")),
        _WRITE_ERRORS,
        _WRITE_HEADERS,
        body="Resource",
    ),
    ("patch", "PATCH"): _Shape(
        "Patch a {type} (JSON Patch or FHIRPath Patch)",
        (("200", "Resource"),),
        (*_WRITE_ERRORS, 410),
        _WRITE_HEADERS,
        body="Patch",
    ),
    ("delete", "DELETE"): _Shape("Delete a {type}", (("204", "NoContent"),), (404, 409)),
    ("history-instance", "GET"): _Shape(
        "History of a {type}", (("200", "Bundle"),), (404,), query="history"
    ),
    ("history-type", "GET"): _Shape(
        "History of every {type}", (("200", "Bundle"),), (404,), query="history"
    ),
    ("history-system", "GET"): _Shape(
        "History of every resource", (("200", "Bundle"),), (), query="history"
    ),
    ("create", "POST"): _Shape(
        "Create a {type}; conditional with If-None-Exist",
        (("200", "Resource"), ("201", "Created")),
        (404, 412, 413, 415, 422),
        ("If-None-Exist", "Prefer"),
        body="Resource",
    ),
    ("search-type", "GET"): _Shape(
        "Search {type}", (("200", "Bundle"),), (404,), ("Prefer",), query="search"
    ),
    ("search-type", "POST"): _Shape(
        "Search {type}, parameters form-encoded",
        (("200", "Bundle"),),
        (404, 413, 415),
        ("Prefer",),
        body="SearchForm",
    ),
    ("conditional-update", "PUT"): _Shape(
        "Update the one {type} matching the criteria, or create one",
        (("200", "Resource"), ("201", "Created")),
        _WRITE_ERRORS,
        _WRITE_HEADERS,
        query="criteria",
        body="Resource",
    ),
    ("conditional-delete", "DELETE"): _Shape(
        "Delete every {type} matching the criteria",
        (("204", "NoContent"),),
        (404, 412),
        query="criteria",
    ),
    ("conditional-patch", "PATCH"): _Shape(
        "Patch the one {type} matching the criteria",
        (("200", "Resource"),),
        _WRITE_ERRORS,
        _WRITE_HEADERS,
        query="criteria",
        body="Patch",
    ),
    ("transaction", "POST"): _Shape(
        "Process a transaction (all or nothing) or batch Bundle",
        (("200", "Bundle"),),
        (404, 409, 412, 413, 415, 422),
        ("Prefer",),
        body="Resource",
    ),
    ("batch", "POST"): _Shape(
        "Process a transaction (all or nothing) or batch Bundle",
        (("200", "Bundle"),),
        (404, 409, 412, 413, 415, 422),
        ("Prefer",),
        body="Resource",
    ),
    ("$validate", "POST"): _Shape(
        "Validate a {type}; the OperationOutcome says whether it is valid",
        (("200", "Outcome"),),
        (404, 410, 413, 415),
        query="validate",
        body="Validate",
    ),
}
_FALLBACK = _Shape("{code} on {type}", (("200", "Resource"),), (404,))

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed request: syntax, parameters, resourceType or id mismatch"),
    404: ("NotFound", "Unknown resource type, resource or version"),
    406: ("NotAcceptable", "The client accepts only XML or another format; JSON is served"),
    409: ("Conflict", "A concurrent change won; retry"),
    410: ("Gone", "The resource was deleted"),
    412: ("PreconditionFailed", "If-Match is stale, or the criteria match several resources"),
    413: ("PayloadTooLarge", "The body exceeds the server's size limit"),
    415: ("UnsupportedMediaType", "The body is not JSON (XML is not supported)"),
    422: ("Unprocessable", "The resource fails validation rules"),
}


# --- query parameters ----------------------------------------------------------------------


def _type_specific(description: str, resource_type: str) -> str:
    """The line of a shared parameter's description that is about ``resource_type``."""
    marker = f"* [{resource_type}]("
    for line in description.splitlines():
        if line.startswith(marker):
            return line.split("):", 1)[-1]
    return description


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _DESCRIPTION_LIMIT:
        return text
    return text[: _DESCRIPTION_LIMIT - 1].rstrip() + "…"


def _search_parameter(resource_type: str, code: str, param: SearchParamDef) -> JsonObject:
    text = _short(_type_specific(param.description or "", resource_type))
    return {
        "name": code,
        "in": "query",
        "description": f"{param.type}: {text}" if text else param.type,
        "schema": {"type": "string"},
    }


def _search_parameters(resource_type: str) -> list[JsonObject]:
    """The executed SearchParameters of a type, inline: their text differs per type."""
    return [
        _search_parameter(resource_type, code, param)
        for code, param in sorted(searchable(resource_type).items())
    ]


_QUERY_PARAMETERS = {
    "criteria": ("criteria",),
    "history": ("_since", "_at", "_count"),
    "validate": ("mode",),
}


def _query_parameters(kind: str, resource_type: str | None) -> list[JsonObject]:
    result = [_ref("parameters", name) for name, _, _ in RESULT_PARAMETERS]
    if kind == "search" and resource_type is not None:
        return [*_search_parameters(resource_type), *result]
    if kind == "system":
        return [_ref("parameters", "_type"), *result]
    return [_ref("parameters", name) for name in _QUERY_PARAMETERS.get(kind, ())]


# --- operations and paths ------------------------------------------------------------------


def _operation_ids() -> dict[Interaction, str]:
    """A stable name per interaction; a code used twice gets its level or method appended."""
    by_code: dict[str, list[Interaction]] = {}
    for interaction in INTERACTIONS:
        by_code.setdefault(interaction.code, []).append(interaction)
    names: dict[Interaction, str] = {}
    for code, group in by_code.items():
        distinct_levels = len({i.level for i in group}) == len(group)
        distinct_methods = len({i.method for i in group}) == len(group)
        for interaction in group:
            suffix = ""
            if len(group) > 1:
                method = interaction.method.lower()
                if distinct_levels:
                    suffix = f"-{interaction.level}"
                elif distinct_methods:
                    suffix = f"-{method}"
                else:
                    suffix = f"-{interaction.level}-{method}"
            if len(group) > 1 and "{vid}" in interaction.path:
                suffix += "-version"  # e.g. $meta on /{type}/{id}/_history/{vid}
            names[interaction] = code.lstrip("$") + suffix
    return names


def _operation(
    shape: _Shape, operation_id: str, resource_type: str | None, code: str = ""
) -> JsonObject:
    responses: JsonObject = {status: _ref("responses", name) for status, name in shape.success}
    for status in shape.errors:
        responses[str(status)] = _ref("responses", _ERRORS[status][0])
    responses["default"] = _ref("responses", "Error")
    operation: JsonObject = {
        "operationId": operation_id,
        "summary": shape.summary.format(type=resource_type or "resources", code=code),
    }
    if resource_type is not None:
        operation["tags"] = [resource_type]
    parameters = _query_parameters(shape.query, resource_type)
    parameters += [_ref("parameters", name) for name in shape.headers]
    if parameters:
        operation["parameters"] = parameters
    if shape.body is not None:
        operation["requestBody"] = _ref("requestBodies", shape.body)
    operation["responses"] = responses
    return operation


def _path_item(template: str) -> JsonObject:
    """A path's shared parameters: its ids, and ``_format`` (every FHIR route negotiates)."""
    names = [
        name for name in ("id", "vid", "job", "file", "member") if "{" + name + "}" in template
    ]
    return {"parameters": [_ref("parameters", name) for name in (*names, "_format")]}


def _interaction_paths() -> JsonObject:
    names = _operation_ids()
    paths: JsonObject = {}
    system = [i for i in INTERACTIONS if "{type}" not in i.path]
    typed = [i for i in INTERACTIONS if "{type}" in i.path]
    expanded = [(i, None, i.path) for i in system] + [
        (i, resource_type, i.path.replace("{type}", resource_type))
        for resource_type in sorted(resource_types())
        for i in typed
    ]
    for interaction, resource_type, path in expanded:
        shape = _SHAPES.get((interaction.code, interaction.method), _FALLBACK)
        name = names[interaction]
        # A route under a literal type (/Patient/{id}/$everything) is named after it.
        owner = resource_type or next(
            (part for part in interaction.path.split("/")[1:2] if part in resource_types()), None
        )
        operation_id = f"{owner}.{name}" if owner else name
        item = paths.setdefault(path, _path_item(interaction.path))
        item[interaction.method.lower()] = _operation(
            shape, operation_id, resource_type, interaction.code
        )
    return paths


def _server_paths() -> JsonObject:
    """Routes app.py serves next to the interactions: metadata, system search, this document."""
    system_search = _Shape(
        "Search across resource types", (("200", "Bundle"),), (), ("Prefer",), query="system"
    )
    return {
        "/metadata": _path_item("/metadata")
        | {
            "get": {
                "operationId": "capabilities",
                "summary": "The CapabilityStatement (public)",
                "responses": {
                    "200": _ref("responses", "Resource"),
                    "default": _ref("responses", "Error"),
                },
            }
        },
        "/": _path_item("/") | {"get": _operation(system_search, "search-system", None)},
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This OpenAPI document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


# --- components ----------------------------------------------------------------------------


def _string_param(name: str, where: str, description: str) -> JsonObject:
    return {"name": name, "in": where, "description": description, "schema": {"type": "string"}}


def _parameters() -> JsonObject:
    params: JsonObject = {
        "job": {
            "name": "job",
            "in": "path",
            "required": True,
            "description": "A $reindex job id, from the Content-Location of POST $reindex",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"},
        },
        "id": {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "Logical id (R4 datatypes.html#id)",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
        },
        "vid": {
            "name": "vid",
            "in": "path",
            "required": True,
            "description": "Version id (meta.versionId)",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        "member": {
            "name": "member",
            "in": "path",
            "required": True,
            "description": "Compartment search: a resource type in the compartment, or *",
            "schema": {"type": "string", "pattern": "^([A-Z][A-Za-z]+|\\*)$"},
        },
        "file": {
            "name": "file",
            "in": "path",
            "required": True,
            "description": "An output file of a Bulk Data export job, e.g. Patient.ndjson",
            "schema": {"type": "string", "pattern": "^[A-Za-z]+\\.ndjson$"},
        },
        "_format": _string_param(
            "_format", "query", "Response format: json (XML is not supported: 406)"
        ),
        "_since": _string_param("_since", "query", "Only versions changed after this instant"),
        "_at": _string_param("_at", "query", "Only versions current at this instant"),
        "_type": _string_param("_type", "query", "Comma-separated resource types to search"),
        "mode": _string_param("mode", "query", "$validate mode: create, update or delete"),
        "criteria": {
            "name": "criteria",
            "in": "query",
            "description": "Search parameters selecting the resource(s), as in a search",
            "required": True,
            "style": "form",
            "explode": True,
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "If-Match": _string_param("If-Match", "header", 'Version ETag, e.g. W/"3": else 412'),
        "If-None-Exist": _string_param(
            "If-None-Exist", "header", "Search criteria: create only if nothing matches"
        ),
        "If-None-Match": _string_param("If-None-Match", "header", "Version ETag: 304 if current"),
        "If-Modified-Since": _string_param(
            "If-Modified-Since", "header", "HTTP date: 304 if unchanged since"
        ),
        "Prefer": _string_param(
            "Prefer",
            "header",
            "return=minimal|representation|OperationOutcome; handling=strict|lenient",
        ),
    }
    for name, kind, doc in RESULT_PARAMETERS:
        params[name] = _string_param(name, "query", f"{kind}: {doc}")
    return params


def _content(schema: str, *media: str) -> JsonObject:
    return {m: {"schema": _ref("schemas", schema)} for m in media}


def _responses() -> JsonObject:
    version = {"ETag": _ref("headers", "ETag"), "Last-Modified": _ref("headers", "Last-Modified")}
    responses: JsonObject = {
        "Resource": {
            "description": "The resource (empty with Prefer: return=minimal)",
            "headers": version,
            "content": _content("Resource", FHIR_JSON),
        },
        "Created": {
            "description": "Created (body as for Prefer)",
            "headers": {**version, "Location": _ref("headers", "Location")},
            "content": _content("Resource", FHIR_JSON),
        },
        "Bundle": {"description": "A Bundle", "content": _content("Bundle", FHIR_JSON)},
        "Outcome": {
            "description": "An OperationOutcome",
            "content": _content("OperationOutcome", FHIR_JSON),
        },
        "NoContent": {"description": "Done; no body"},
        "NotModified": {"description": "Not modified since the given version or date"},
        "Error": {
            "description": "400 (malformed), 406 (XML asked for) or any other error",
            "content": _content("OperationOutcome", FHIR_JSON),
        },
    }
    for name, description in sorted(_ERRORS.values()):
        responses[name] = {
            "description": description,
            "content": _content("OperationOutcome", FHIR_JSON),
        }
    return responses


def _request_bodies() -> JsonObject:
    return {
        "Resource": {
            "description": "A FHIR resource whose resourceType is the URL's type",
            "required": True,
            "content": _content("Resource", FHIR_JSON, "application/json"),
        },
        "Patch": {
            "description": "A JSON Patch document, or a FHIRPath Patch Parameters resource",
            "required": True,
            "content": {
                JSON_PATCH: {"schema": _ref("schemas", "JsonPatch")},
                FHIR_JSON: {"schema": _ref("schemas", "Parameters")},
            },
        },
        "Validate": {
            "description": "The resource, or Parameters with 'resource' and 'mode'",
            "required": True,
            "content": _content("Resource", FHIR_JSON, "application/json"),
        },
        "SearchForm": {
            "description": "Search parameters, form-encoded",
            "content": {
                FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
            },
        },
    }


def _schemas() -> JsonObject:
    return {
        "Resource": {
            "type": "object",
            "description": "Any FHIR R4 resource (R4 json.html)",
            "required": ["resourceType"],
            "properties": {
                "resourceType": {"type": "string"},
                "id": {"type": "string"},
                "meta": {"type": "object"},
            },
        },
        "Bundle": {
            "type": "object",
            "required": ["resourceType", "type"],
            "properties": {
                "resourceType": {"const": "Bundle"},
                "type": {"type": "string"},
                "total": {"type": "integer", "minimum": 0},
                "link": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"relation": {"type": "string"}, "url": {"type": "string"}},
                    },
                },
                "entry": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "fullUrl": {"type": "string"},
                            "resource": {"$ref": "#/components/schemas/Resource"},
                        },
                    },
                },
            },
        },
        "OperationOutcome": {
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": {"const": "OperationOutcome"},
                "issue": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["severity", "code"],
                        "properties": {
                            "severity": {"enum": ["fatal", "error", "warning", "information"]},
                            "code": {"type": "string"},
                            "diagnostics": {"type": "string"},
                            "expression": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "Parameters": {
            "type": "object",
            "required": ["resourceType"],
            "properties": {
                "resourceType": {"const": "Parameters"},
                "parameter": {"type": "array", "items": {"type": "object"}},
            },
        },
        "JsonPatch": {
            "type": "array",
            "description": "RFC 6902 JSON Patch",
            "items": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string"},
                    "from": {"type": "string"},
                    "value": {},
                },
            },
        },
    }


def _headers() -> JsonObject:
    return {
        "ETag": {"description": 'Weak version ETag, W/"n"', "schema": {"type": "string"}},
        "Last-Modified": {"description": "HTTP date", "schema": {"type": "string"}},
        "Location": {
            "description": "[base]/[type]/[id]/_history/[vid]",
            "schema": {"type": "string"},
        },
    }


def openapi_document(server_url: str = "/fhir") -> JsonObject:
    """The OpenAPI 3.1 document for the FHIR API served at ``server_url``."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Wardbook FHIR R4 API",
            "version": __version__,
            "description": (
                f"FHIR R4 ({FHIR_VERSION}) REST API. JSON only ({FHIR_JSON}); every error is "
                "an OperationOutcome. The CapabilityStatement is at /metadata."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": {**_server_paths(), **_interaction_paths()},
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "headers": _headers(),
            "requestBodies": _request_bodies(),
            "responses": _responses(),
        },
    }


@lru_cache(maxsize=4)
def openapi_bytes(server_url: str = "/fhir") -> bytes:
    """The document serialized once per server URL (it only changes with the code)."""
    return orjson.dumps(openapi_document(server_url))


@lru_cache(maxsize=4)
def _gzipped(server_url: str) -> bytes:
    # ~1.7 MB of JSON shrinks ~30-fold; mtime=0 keeps the bytes deterministic.
    return gzip.compress(openapi_bytes(server_url), mtime=0)


def _accepts_gzip(header: str) -> bool:
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


async def openapi_json(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/openapi.json (public), gzip-compressed when the client accepts it."""
    # The configured public base, else a relative URL: never the request's Host header, which
    # a client controls and which would otherwise multiply the cached copies.
    configured = ctx.settings.base_url
    server_url = configured.rstrip("/") if configured else "/fhir"
    headers = {"Cache-Control": "max-age=3600", "Vary": "Accept-Encoding"}
    body = openapi_bytes(server_url)
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = _gzipped(server_url)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)
