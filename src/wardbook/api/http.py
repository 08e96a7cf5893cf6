"""HTTP plumbing shared by the FHIR interactions: negotiation, bodies, responses.

R4 http.html#mime: Wardbook serves JSON only. A client asking for XML gets 406 (Accept,
``_format``) or 415 (Content-Type), each with an OperationOutcome saying so.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardbook.errors import (
    BadRequest,
    Issue,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
    WardbookError,
    operation_outcome,
)
from wardbook.fhir import jsonio

FHIR_JSON = "application/fhir+json"
JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
XML_TYPES = frozenset(
    {"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"}
)
_FORMAT_JSON = frozenset({"json", "application/json", "application/fhir+json", "text/json"})
_FORMAT_XML = frozenset({"xml", "application/xml", "application/fhir+xml", "text/xml"})
_JSON_ONLY = "Wardbook serves FHIR as JSON only (application/fhir+json); XML is not supported"


def media_type(header: str) -> str:
    """The bare media type of a Content-Type or Accept item, lower-cased."""
    return header.split(";", 1)[0].strip().lower()


def negotiate(request: Request) -> str:
    """The response media type; 406 when the client accepts only XML (or only non-JSON)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        fmt_type = media_type(fmt.replace(" ", "+"))
        if fmt_type in _FORMAT_XML:
            raise NotAcceptable(_JSON_ONLY)
        if fmt_type not in _FORMAT_JSON:
            raise NotAcceptable(f"_format '{fmt}' is not supported; use json")
        return FHIR_JSON
    accept = request.headers.get("accept")
    if not accept:
        return FHIR_JSON
    wanted = [media_type(item) for item in accept.split(",") if item.strip()]
    for item in wanted:
        if item in JSON_TYPES:
            return "application/json" if item == "application/json" else FHIR_JSON
        if item in ("*/*", "application/*", "text/html", "text/plain", "text/*"):
            return FHIR_JSON
    if any(item in XML_TYPES for item in wanted):
        raise NotAcceptable(_JSON_ONLY)
    raise NotAcceptable(f"Cannot produce any of '{accept}'; Wardbook serves application/fhir+json")


def check_content_type(request: Request, allowed: frozenset[str] = JSON_TYPES) -> None:
    """415 for a body that is not JSON (R4 http.html#mime)."""
    header = request.headers.get("content-type")
    if header is None:
        return  # lenient: many clients omit it; the body must still parse as JSON
    kind = media_type(header)
    if kind in allowed:
        return
    if kind in XML_TYPES:
        raise UnsupportedMediaType(_JSON_ONLY)
    raise UnsupportedMediaType(
        f"Content-Type '{kind}' is not supported; send {' or '.join(sorted(allowed))}"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes with 413."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"The body is larger than the {limit}-byte limit")
        except ValueError as exc:
            raise BadRequest("Content-Length is not a number") from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, allowed: frozenset[str] = JSON_TYPES) -> Any:
    """Check Content-Type, read and parse the JSON body."""
    check_content_type(request, allowed)
    raw = await read_body(request, limit)
    if not raw.strip():
        raise BadRequest("The request needs a JSON body")
    return jsonio.loads(raw)


def fhir_response(
    body: bytes | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media: str = FHIR_JSON,
) -> Response:
    """A FHIR JSON response from ready bytes (bodies are stored serialized)."""
    return Response(
        content=body if body is not None else b"",
        status_code=status,
        headers=headers,
        media_type=f"{media}; charset=utf-8" if body is not None else None,
    )


def outcome_response(
    issues: list[Issue], status: int, headers: dict[str, str] | None = None
) -> Response:
    return fhir_response(jsonio.dumps(operation_outcome(issues)), status, headers)


def error_response(error: WardbookError) -> Response:
    """The single mapping of Wardbook's error tree to HTTP (ARCHITECTURE.md)."""
    return outcome_response(error.issues, error.status, dict(error.headers))


def base_url(request: Request, configured: str | None) -> str:
    """The FHIR base URL for fullUrl, Location and links (no trailing slash)."""
    if configured:
        return configured.rstrip("/")
    scope = request.scope
    host = request.headers.get("host")
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return _base_for(scope.get("scheme", "http"), host, scope.get("root_path", ""))


@lru_cache(maxsize=256)
def _base_for(scheme: str, host: str, root_path: str) -> str:
    # Cached: every write and bundle needs it, and a server sees few distinct hosts.
    return f"{scheme}://{host}{root_path.rstrip('/')}/fhir"


def _prefer(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    """One preference of the Prefer header (RFC 7240), when it is one of ``allowed``."""
    for part in request.headers.get("prefer", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == name:
            value = value.strip().strip('"')
            if value in allowed:
                return value
    return default


def prefer_return(request: Request) -> str:
    """R4 http.html#ops: Prefer return=minimal | representation | OperationOutcome."""
    return _prefer(
        request, "return", ("minimal", "representation", "OperationOutcome"), "representation"
    )


def prefer_handling(request: Request) -> str:
    """R4 search.html#errors: Prefer handling=strict | lenient (default lenient)."""
    return _prefer(request, "handling", ("strict", "lenient"), "lenient")
