"""Instance-level interactions: read, vread, update, patch, delete (R4 http.html)."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import version_headers
from wardbook.api.context import FhirContext
from wardbook.api.http import (
    JSON_TYPES,
    base_url,
    check_content_type,
    fhir_response,
    media_type,
    negotiate,
    outcome_response,
    prefer_return,
    read_body,
    read_json,
)
from wardbook.errors import BadRequest, Issue, UnsupportedMediaType
from wardbook.fhir import jsonio
from wardbook.fhir.fhirpath_patch import apply_fhirpath_patch
from wardbook.fhir.jsonpatch import apply_json_patch
from wardbook.fhir.meta import parse_etag
from wardbook.service.resources import WriteResult
from wardbook.storage.base import StoredResource, to_micros

JSON_PATCH = "application/json-patch+json"


def _not_modified(request: Request, stored: StoredResource) -> bool:
    """R4 http.html#cread: If-None-Match and If-Modified-Since give 304."""
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        return any(parse_etag(tag) == stored.version for tag in none_match.split(","))
    since = request.headers.get("if-modified-since")
    if since is not None:
        try:
            moment = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        # HTTP dates have whole seconds: compare at that precision.
        return stored.last_updated // 1_000_000 <= to_micros(moment) // 1_000_000
    return False


def _if_match(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if header is None:
        return None
    version = parse_etag(header)
    if version is None:
        raise BadRequest(f"If-Match '{header}' is not a version ETag like W/\"3\"")
    return version


async def read(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    params = request.path_params
    stored = await ctx.service.read(params["type"], params["id"])
    headers = version_headers(stored)
    if _not_modified(request, stored):
        return Response(status_code=304, headers=headers)
    return fhir_response(stored.body, 200, headers, media)


async def vread(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    params = request.path_params
    stored = await ctx.service.vread(params["type"], params["id"], params["vid"])
    headers = version_headers(stored)
    if _not_modified(request, stored):
        return Response(status_code=304, headers=headers)
    return fhir_response(stored.body, 200, headers, media)


def write_response(ctx: FhirContext, request: Request, result: WriteResult, media: str) -> Response:
    """Status, ETag, Last-Modified, Location and the Prefer'd body of a write."""
    stored = result.stored
    headers = version_headers(stored)
    status = 201 if result.created else 200
    if result.created or request.method == "POST":
        base = base_url(request, ctx.settings.base_url)
        headers["Location"] = f"{base}/{stored.resource_type}/{stored.id}/_history/{stored.version}"
    preference = prefer_return(request)
    if preference == "minimal":
        return Response(status_code=status, headers=headers)
    if preference == "OperationOutcome":
        verb = "created" if result.created else ("updated" if result.changed else "unchanged")
        issue = Issue(
            "information",
            "informational",
            f"{stored.resource_type}/{stored.id} {verb} (version {stored.version})",
        )
        return outcome_response([issue], status, headers)
    return fhir_response(stored.body, status, headers, media)


async def update(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    params = request.path_params
    body = await read_json(request, ctx.settings.max_body_bytes)
    result = await ctx.service.update(
        params["type"], params["id"], body, if_match=_if_match(request)
    )
    return write_response(ctx, request, result, media)


async def delete(ctx: FhirContext, request: Request) -> Response:
    negotiate(request)
    params = request.path_params
    result = await ctx.service.delete(params["type"], params["id"])
    headers = version_headers(result.stored) if result is not None else {}
    return Response(status_code=204, headers=headers)


async def patch_function(
    ctx: FhirContext, request: Request
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Read a PATCH body and return the function that applies it (JSON or FHIRPath Patch)."""
    header = request.headers.get("content-type")
    kind = media_type(header) if header else ""
    if kind == JSON_PATCH:
        raw = await read_body(request, ctx.settings.max_body_bytes)
        if not raw.strip():
            raise BadRequest("The PATCH request needs a JSON Patch body")
        document = jsonio.loads(raw)
        return lambda resource: apply_json_patch(resource, document)
    if kind in JSON_TYPES:
        check_content_type(request)
        parameters = await read_json(request, ctx.settings.max_body_bytes)
        if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
            raise BadRequest("A FHIRPath Patch body must be a Parameters resource")
        return lambda resource: apply_fhirpath_patch(resource, parameters)
    raise UnsupportedMediaType(
        f"PATCH needs Content-Type {JSON_PATCH} (JSON Patch) or application/fhir+json "
        "(FHIRPath Patch Parameters)"
    )


async def patch(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    params = request.path_params
    apply = await patch_function(ctx, request)
    result = await ctx.service.patch(
        params["type"], params["id"], apply, if_match=_if_match(request)
    )
    return write_response(ctx, request, result, media)


if_match_version = _if_match
