"""$validate at type and instance level (R4 operation-resource-validate.html).

The answer is always an OperationOutcome with 200 OK when validation ran: the issues say
whether the resource is acceptable. Modes: (none) general, ``create``, ``update``
(instance level; the id must match) and ``delete`` (instance level; it must exist).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.context import FhirContext
from wardbook.api.http import negotiate, outcome_response, read_json
from wardbook.errors import BadRequest, Issue, ValidationReport
from wardbook.service.resources import check_id, check_type, validate_only

_MODES = frozenset({"create", "update", "delete"})


def _unwrap(body: Any, query_mode: str | None) -> tuple[Any, str | None]:
    """The resource and mode from a Parameters body, or the bare resource."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource: Any = None
        mode = query_mode
        for parameter in body.get("parameter") or []:
            if not isinstance(parameter, dict):
                continue
            if parameter.get("name") == "resource":
                resource = parameter.get("resource")
            elif parameter.get("name") == "mode":
                mode = parameter.get("valueCode")
        return resource, mode
    return body, query_mode


async def validate(ctx: FhirContext, request: Request) -> Response:
    negotiate(request)
    resource_type = request.path_params["type"]
    resource_id = request.path_params.get("id")
    check_type(resource_type)
    if resource_id is not None:
        check_id(resource_id)
    body = await read_json(request, ctx.settings.max_body_bytes)
    resource, mode = _unwrap(body, request.query_params.get("mode"))
    if mode is not None and mode not in _MODES:
        raise BadRequest(f"$validate mode '{mode}' is not one of create, update, delete")
    if mode in ("update", "delete") and resource_id is None:
        raise BadRequest(f"$validate mode '{mode}' needs the instance URL [type]/[id]/$validate")
    report = ValidationReport()
    if mode == "delete":
        if resource_id is None:
            raise RuntimeError("internal error: resource_id is missing")
        await ctx.service.read(resource_type, resource_id)  # 404/410 when there is nothing
    elif resource is None:
        raise BadRequest("$validate needs a resource (the body, or a 'resource' parameter)")
    else:
        report = validate_only(resource, resource_type)
        if isinstance(resource, dict):
            body_id = resource.get("id")
            if mode == "update" and body_id != resource_id:
                report.error(
                    "invalid",
                    f"For mode update the resource id must be '{resource_id}', not '{body_id}'",
                    f"{resource_type}.id",
                )
    issues = list(report.issues)
    if not any(i.severity in ("error", "fatal") for i in issues):
        issues.insert(0, Issue("information", "informational", "Validation successful: no errors"))
    return outcome_response(issues, 200)
