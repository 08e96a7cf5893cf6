"""``GET|POST [base]/Observation/$lastn`` (R4 observation-operation-lastn.html)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import searchset_bundle
from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate, prefer_handling, read_body
from wardbook.errors import BadRequest, Issue, UnsupportedMediaType
from wardbook.fhir import jsonio
from wardbook.service.lastn import lastn as run_lastn
from wardbook.service.lastn import parse_lastn


async def lastn(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    if request.method == "POST":
        header = request.headers.get("content-type", "application/x-www-form-urlencoded")
        if not header.lower().startswith("application/x-www-form-urlencoded"):
            raise UnsupportedMediaType("POST $lastn takes application/x-www-form-urlencoded")
        raw = await read_body(request, ctx.settings.max_body_bytes)
        try:
            params += parse_qsl(raw.decode(), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise BadRequest("The form body is not UTF-8") from exc
    query, max_per_code = parse_lastn(params, strict=prefer_handling(request) == "strict")
    page = await run_lastn(ctx.service, query, max_per_code)
    base = base_url(request, ctx.settings.base_url)
    self_link = f"{base}/Observation/$lastn?{urlencode(params)}"
    warnings = [
        Issue("warning", "not-supported", f"Search parameter '{name}' was ignored: {reason}")
        for name, reason in query.ignored
    ]
    bundle = searchset_bundle(page, base, self_link, None, warnings)
    return fhir_response(jsonio.dumps(bundle), 200, None, media)
