"""History at instance, type and system level (R4 http.html#history)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import history_bundle
from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate
from wardbook.errors import BadRequest
from wardbook.fhir import jsonio
from wardbook.storage.base import to_micros

_KNOWN = frozenset({"_count", "_since", "_at", "_cursor", "_format", "_pretty"})


def parse_moment(name: str, value: str) -> int:
    """An R4 instant or (partial) dateTime as epoch µs; date-only values start at 00:00Z."""
    text = value.strip()
    try:
        if len(text) == 4 and text.isdigit():
            moment = datetime(int(text), 1, 1, tzinfo=UTC)
        elif len(text) == 7 and text[4] == "-":
            moment = datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadRequest(f"{name}='{value}' is not a valid FHIR instant or dateTime") from exc
    return to_micros(moment)


def parse_count(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"_count='{value}' is not a whole number")
    return min(int(value), maximum)


async def history(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    resource_type = request.path_params.get("type")
    resource_id = request.path_params.get("id")
    query = request.query_params
    unknown = sorted(set(query.keys()) - _KNOWN)
    if unknown:
        raise BadRequest(f"History does not support the parameter(s) {', '.join(unknown)}")
    since_text, at_text = query.get("_since"), query.get("_at")
    since = parse_moment("_since", since_text) if since_text else None
    at = parse_moment("_at", at_text) if at_text else None
    count = parse_count(query.get("_count"), ctx.settings.default_page_size, 1000)
    cursor = query.get("_cursor")
    page = await ctx.service.history(
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        at=at,
        count=count,
        cursor=cursor,
    )
    base = base_url(request, ctx.settings.base_url)
    path = "/".join(p for p in (base, resource_type, resource_id, "_history") if p)
    kept = [(k, v) for k, v in query.multi_items() if k in ("_count", "_since", "_at")]
    self_link = f"{path}?{urlencode(kept)}" if kept else path
    next_link = None
    if page.next_cursor:
        next_link = f"{path}?{urlencode([*kept, ('_cursor', page.next_cursor)])}"
    bundle = history_bundle(page, base, self_link, next_link)
    return fhir_response(jsonio.dumps(bundle), 200, None, media)
