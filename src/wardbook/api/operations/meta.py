"""``$meta`` (system, type, instance, version) and ``$meta-add``/``$meta-delete``.

R4 resource-operation-meta.html, -meta-add.html, -meta-delete.html: the answer is a
Parameters resource with one ``return`` parameter holding the Meta.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.context import FhirContext
from wardbook.api.http import fhir_response, negotiate, read_json
from wardbook.fhir import jsonio
from wardbook.service import meta as service


def _parameters(meta: dict[str, Any]) -> Response:
    body = {"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": meta}]}
    return fhir_response(jsonio.dumps(body), 200)


async def meta(ctx: FhirContext, request: Request) -> Response:
    """$meta at any level: system (/$meta), type, instance or version."""
    negotiate(request)
    params = request.path_params
    resource_type = params.get("type")
    resource_id = params.get("id")
    if resource_id is None:
        return _parameters(await service.summary(ctx.service, resource_type))
    found = await service.instance_meta(
        ctx.service, str(resource_type), resource_id, params.get("vid")
    )
    return _parameters(found)


async def meta_add(ctx: FhirContext, request: Request) -> Response:
    return await _change(ctx, request, "add")


async def meta_delete(ctx: FhirContext, request: Request) -> Response:
    return await _change(ctx, request, "delete")


async def _change(ctx: FhirContext, request: Request, change: service.MetaChange) -> Response:
    negotiate(request)
    params = request.path_params
    body = await read_json(request, ctx.settings.max_body_bytes)
    given = service.parse_meta_parameter(body)
    result = await service.change_meta(
        ctx.service, change, params["type"], params["id"], params.get("vid"), given
    )
    return _parameters(result)
