"""POST [base]: transaction and batch Bundles (R4 http.html#transaction, http.html#batch).

The engine is :mod:`wardbook.service.transaction`; this module reads the Bundle and renders
the ``transaction-response`` / ``batch-response`` Bundle: per entry ``response.status``,
``location``, ``etag``, ``lastModified``, the resource (``Prefer: return``) and, in a batch,
the ``outcome`` of a failed entry. A failed transaction is the failing entry's status with
an OperationOutcome naming the entry (``Bundle.entry[i]``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import history_bundle, searchset_bundle
from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate, prefer_return, read_json
from wardbook.errors import Issue, operation_outcome
from wardbook.fhir import jsonio
from wardbook.fhir.meta import etag, format_instant
from wardbook.service.transaction import BundleOutcome, BundleService, EntryResult


async def transaction(ctx: FhirContext, request: Request) -> Response:
    """POST [base] (with or without a trailing slash) with a transaction or batch Bundle."""
    media = negotiate(request)
    body = await read_json(request, ctx.settings.max_body_bytes)
    base = base_url(request, ctx.settings.base_url)
    if isinstance(body, dict) and body.get("type") in ("transaction", "batch"):
        # One route serves both interactions: metrics and audit see which one this was.
        request.scope["wardbook.interaction"] = body["type"]
    outcome = await BundleService(ctx.service).process(body, base=base)
    bundle = response_bundle(outcome, base, prefer_return(request))
    return fhir_response(jsonio.dumps(bundle), 200, None, media)


def response_bundle(outcome: BundleOutcome, base: str, preference: str) -> dict[str, Any]:
    """The ``transaction-response`` or ``batch-response`` Bundle, entries in request order."""
    return {
        "resourceType": "Bundle",
        "type": f"{outcome.kind}-response",
        "entry": [_entry(result, base, preference) for result in outcome.results],
    }


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _entry(result: EntryResult, base: str, preference: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    response: dict[str, Any] = {"status": _status(result.status)}
    stored = result.stored
    if stored is not None:
        url = f"{stored.resource_type}/{stored.id}"
        if not stored.deleted:
            entry["fullUrl"] = f"{base}/{url}"
        if result.location:
            response["location"] = f"{base}/{url}/_history/{stored.version}"
        response["etag"] = etag(stored.version)
        response["lastModified"] = format_instant(stored.last_updated)
        if stored.body is not None and result.status not in (204, 304) and not result.head:
            if preference == "representation":
                entry["resource"] = orjson.Fragment(stored.body)
            elif preference == "OperationOutcome":
                verb = "unchanged" if not result.changed else _status(result.status)
                issue = Issue("information", "informational", f"{url}: {verb}")
                response["outcome"] = operation_outcome([issue])
    elif result.page is not None and not result.head:
        entry["resource"] = _page_bundle(result, base)
    if result.issues:
        response["outcome"] = operation_outcome(result.issues)
    entry["response"] = response
    return entry


def _page_bundle(result: EntryResult, base: str) -> dict[str, Any]:
    if result.page is None:
        raise RuntimeError("internal error: result.page is missing")
    if result.history_path is not None:
        path = f"{base}/{result.history_path}"
        return history_bundle(result.page, base, path, None)
    query = result.query
    if query is None:
        raise RuntimeError("internal error: query is missing")
    path = f"{base}/{query.resource_type}" if query.resource_type else base
    self_link = f"{path}?{query.to_query_string()}"
    next_link = (
        f"{path}?{query.to_query_string(cursor=result.page.next_cursor)}"
        if result.page.next_cursor
        else None
    )
    return searchset_bundle(result.page, base, self_link, next_link)
