"""``GET|POST [base]/Patient/[id]/$everything`` and ``.../Encounter/[id]/$everything``.

R4 patient-operation-everything.html: a ``searchset`` Bundle of the focus's record, paged
(``_count``, next links with a cursor), filtered by ``start``, ``end``, ``_since`` and
``_type``. The engine is :mod:`wardbook.service.everything`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import searchset_bundle
from wardbook.api.context import FhirContext
from wardbook.api.history import parse_count, parse_moment
from wardbook.api.http import base_url, fhir_response, negotiate, read_body
from wardbook.errors import BadRequest, UnsupportedMediaType
from wardbook.fhir import jsonio
from wardbook.search.params.date import parse_date_range
from wardbook.service.everything import EverythingRequest, everything

_KNOWN = frozenset({"start", "end", "_since", "_type", "_count", "_cursor", "_format", "_pretty"})


def _date(name: str, value: str, *, upper: bool) -> int:
    """A date parameter as the start (``start``) or the end (``end``) of the period it names."""
    bounds = parse_date_range(value.strip())
    if bounds is None:
        raise BadRequest(f"{name}='{value}' is not a valid FHIR date")
    return bounds[1] if upper else bounds[0]


async def _parameters(ctx: FhirContext, request: Request) -> list[tuple[str, str]]:
    params = [(k, v) for k, v in request.query_params.multi_items()]
    if request.method == "POST":
        header = request.headers.get("content-type", "")
        raw = await read_body(request, ctx.settings.max_body_bytes)
        if header.lower().startswith("application/x-www-form-urlencoded"):
            try:
                params += parse_qsl(raw.decode(), keep_blank_values=True)
            except UnicodeDecodeError as exc:
                raise BadRequest("The form body is not UTF-8") from exc
        elif raw.strip():
            body = jsonio.loads(raw)
            if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
                raise UnsupportedMediaType("POST $everything takes a Parameters resource or a form")
            for parameter in body.get("parameter") or []:
                if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
                    value = next((v for k, v in parameter.items() if k.startswith("value")), None)
                    if value is not None:
                        params.append((parameter["name"], str(value)))
    return params


async def patient_everything(ctx: FhirContext, request: Request) -> Response:
    return await _everything(ctx, request, "Patient")


async def encounter_everything(ctx: FhirContext, request: Request) -> Response:
    return await _everything(ctx, request, "Encounter")


async def _everything(ctx: FhirContext, request: Request, compartment: str) -> Response:
    media = negotiate(request)
    focus_id = request.path_params["id"]
    params = await _parameters(ctx, request)
    unknown = sorted({name for name, _ in params} - _KNOWN)
    if unknown:
        raise BadRequest(f"$everything does not support the parameter(s) {', '.join(unknown)}")
    values = dict(params)
    types = None
    if "_type" in values:
        types = tuple(sorted({t.strip() for t in values["_type"].split(",") if t.strip()}))
    page_size = parse_count(values.get("_count"), ctx.settings.default_page_size, 1000)
    page = await everything(
        ctx.service,
        EverythingRequest(
            compartment=compartment,
            focus_id=focus_id,
            count=max(page_size, 1),
            cursor=values.get("_cursor"),
            types=types,
            since=parse_moment("_since", values["_since"]) if values.get("_since") else None,
            start=_date("start", values["start"], upper=False) if values.get("start") else None,
            end=_date("end", values["end"], upper=True) if values.get("end") else None,
        ),
    )
    base = base_url(request, ctx.settings.base_url)
    path = f"{base}/{compartment}/{focus_id}/$everything"
    kept = [(k, v) for k, v in params if k in ("start", "end", "_since", "_type", "_count")]
    self_link = f"{path}?{urlencode(kept)}" if kept else path
    next_link = None
    if page.next_cursor is not None:
        next_link = f"{path}?{urlencode([*kept, ('_cursor', page.next_cursor)])}"
    bundle = searchset_bundle(page, base, self_link, next_link)
    return fhir_response(jsonio.dumps(bundle), 200, None, media)
