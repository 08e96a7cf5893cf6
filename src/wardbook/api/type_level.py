"""Type-level interactions: create, search, conditional update/delete/patch (R4 http.html)."""

from __future__ import annotations

from functools import partial
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.bundles import distance_search, searchset_bundle
from wardbook.api.context import FhirContext
from wardbook.api.http import (
    base_url,
    fhir_response,
    negotiate,
    prefer_handling,
    read_body,
    read_json,
)
from wardbook.api.instance import if_match_version, patch_function, write_response
from wardbook.errors import BadRequest, Issue, UnsupportedMediaType
from wardbook.fhir import jsonio
from wardbook.search.parse import near_point, parse_search
from wardbook.search.projection import project
from wardbook.service.resources import check_id, check_type, reject_nul

# Query parameters of a create that shape the response, not the condition (R4 http.html#parameters).
_RESPONSE_PARAMETERS = frozenset({"_format", "_pretty"})


def create_condition(request: Request) -> str | None:
    """The conditional-create criteria: the If-None-Exist header (R4 http.html#ccreate), or
    search parameters in the URL of the POST, which fhirpy's ``get_or_create`` and Aidbox
    clients send. Ignoring them would create a duplicate each time; both at once must agree.
    """
    header = request.headers.get("if-none-exist")
    pairs = [
        (name, value)
        for name, value in request.query_params.multi_items()
        if name not in _RESPONSE_PARAMETERS
    ]
    if not pairs:
        return header
    query = "&".join(f"{quote(name, safe='_:.-')}={quote(value, safe='')}" for name, value in pairs)
    if header is not None and parse_qsl(header.lstrip("?"), keep_blank_values=True) != pairs:
        raise BadRequest(
            "Conditional create: the If-None-Exist header and the search parameters in the "
            "URL differ; give the criteria once"
        )
    return query


async def create(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    resource_type = request.path_params["type"]
    check_type(resource_type)
    condition = create_condition(request)
    body = await read_json(request, ctx.settings.max_body_bytes)
    result = await ctx.service.create(resource_type, body, if_none_exist=condition)
    return write_response(ctx, request, result, media)


def _criteria(request: Request) -> str:
    check_type(request.path_params["type"])  # an unknown type is 404 before missing criteria
    criteria = request.url.query
    if not criteria:
        raise BadRequest(
            f"{request.method} on a resource type needs search criteria in the URL "
            "(a conditional operation), or an id in the path"
        )
    return criteria


async def conditional_update(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    resource_type = request.path_params["type"]
    criteria = _criteria(request)
    body = await read_json(request, ctx.settings.max_body_bytes)
    result = await ctx.service.conditional_update(
        resource_type, criteria, body, if_match=if_match_version(request)
    )
    return write_response(ctx, request, result, media)


async def conditional_delete(ctx: FhirContext, request: Request) -> Response:
    negotiate(request)
    deleted = await ctx.service.conditional_delete(request.path_params["type"], _criteria(request))
    return Response(status_code=204, headers={"X-Deleted-Count": str(deleted)})


async def conditional_patch(ctx: FhirContext, request: Request) -> Response:
    media = negotiate(request)
    resource_type = request.path_params["type"]
    criteria = _criteria(request)
    apply = await patch_function(ctx, request)
    result = await ctx.service.conditional_patch(
        resource_type, criteria, apply, if_match=if_match_version(request)
    )
    return write_response(ctx, request, result, media)


async def search(ctx: FhirContext, request: Request) -> Response:
    """R4 search.html: GET [base]/[type]?params."""
    media = negotiate(request)
    resource_type = request.path_params["type"]
    check_type(resource_type)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    return await _run_search(ctx, request, resource_type, params, media)


async def search_post(ctx: FhirContext, request: Request) -> Response:
    """R4 search.html#Introduction: POST [base]/[type]/_search, form-encoded."""
    media = negotiate(request)
    resource_type = request.path_params["type"]
    check_type(resource_type)
    header = request.headers.get("content-type", "application/x-www-form-urlencoded")
    if not header.lower().startswith("application/x-www-form-urlencoded"):
        raise UnsupportedMediaType("POST _search needs application/x-www-form-urlencoded")
    raw = await read_body(request, ctx.settings.max_body_bytes)
    from urllib.parse import parse_qsl

    try:
        form = parse_qsl(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise BadRequest("The form body is not UTF-8") from exc
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"] + form
    return await _run_search(ctx, request, resource_type, params, media)


async def _run_search(
    ctx: FhirContext,
    request: Request,
    resource_type: str | None,
    params: list[tuple[str, str]],
    media: str,
    compartment: tuple[str, str] | None = None,
) -> Response:
    strict = prefer_handling(request) == "strict"
    reject_nul(params)
    query = parse_search(resource_type, params, strict=strict, compartment=compartment)
    page = await ctx.service.search(query)
    base = base_url(request, ctx.settings.base_url)
    path = base
    if compartment is not None:
        path = f"{base}/{compartment[0]}/{quote(compartment[1], safe='')}/{resource_type or '*'}"
    elif resource_type:
        path = f"{base}/{resource_type}"
    self_link = f"{path}?{query.to_query_string(cursor=query.cursor)}"
    next_link = (
        f"{path}?{query.to_query_string(cursor=page.next_cursor)}" if page.next_cursor else None
    )
    prev_link = (
        f"{path}?{query.to_query_string(cursor=page.prev_cursor)}" if page.prev_cursor else None
    )
    warnings = [
        Issue("warning", "not-supported", f"Search parameter '{name}' was ignored: {reason}")
        for name, reason in query.ignored
    ]
    project_match = project_include = None
    if query.elements is not None or query.summary in ("true", "text", "data"):
        summary, elements = query.summary, query.elements
        project_match = partial(project, summary=summary, elements=elements)
        # _elements names the matched type's elements; includes get only the summary.
        project_include = partial(project, summary=summary, elements=None)
    bundle = searchset_bundle(
        page,
        base,
        self_link,
        next_link,
        warnings,
        prev_link,
        project_match=project_match,
        project_include=project_include,
        match_search=distance_search(point) if (point := near_point(query)) else None,
    )
    return fhir_response(jsonio.dumps(bundle), 200, None, media)


async def compartment_search(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/{compartment}/{id}/{type} and .../* (R4 search.html#compartments)."""
    media = negotiate(request)
    compartment = request.path_params["type"]
    owner_id = request.path_params["id"]
    member = request.path_params["member"]
    check_type(compartment)
    check_id(owner_id)
    resource_type = None if member == "*" else member
    if resource_type is not None:
        check_type(resource_type)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    return await _run_search(
        ctx, request, resource_type, params, media, compartment=(compartment, owner_id)
    )


async def system_search(ctx: FhirContext, request: Request) -> Response:
    """GET [base]?_type=... (R4 search.html#all)."""
    media = negotiate(request)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    return await _run_search(ctx, request, None, params, media)
