"""The FHIR REST surface as one table: path, method, interaction, handler.

The router and the CapabilityStatement are both built from :data:`INTERACTIONS`, so the
CapabilityStatement can never claim an interaction that has no handler (R4
capabilitystatement.html).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wardbook.api import history, instance, type_level
from wardbook.api.context import FhirContext
from wardbook.api.http import error_response, outcome_response
from wardbook.api.operations import validate
from wardbook.errors import Issue, WardbookError

Handler = Callable[[FhirContext, Request], Awaitable[Response]]
log = logging.getLogger("wardbook.api")


@dataclass(frozen=True, slots=True)
class Interaction:
    """One REST interaction: ``level`` is system, type or instance; ``code`` is R4's name."""

    method: str
    path: str
    level: str
    code: str
    handler: Handler


INTERACTIONS: tuple[Interaction, ...] = (
    Interaction("GET", "/_history", "system", "history-system", history.history),
    Interaction("GET", "/{type}/_history", "type", "history-type", history.history),
    Interaction("POST", "/{type}/_search", "type", "search-type", type_level.search_post),
    Interaction("POST", "/{type}/$validate", "type", "$validate", validate.validate),
    Interaction("GET", "/{type}", "type", "search-type", type_level.search),
    Interaction("POST", "/{type}", "type", "create", type_level.create),
    Interaction("PUT", "/{type}", "type", "conditional-update", type_level.conditional_update),
    Interaction("DELETE", "/{type}", "type", "conditional-delete", type_level.conditional_delete),
    Interaction("PATCH", "/{type}", "type", "conditional-patch", type_level.conditional_patch),
    Interaction("GET", "/{type}/{id}/_history", "instance", "history-instance", history.history),
    Interaction("GET", "/{type}/{id}/_history/{vid}", "instance", "vread", instance.vread),
    Interaction("POST", "/{type}/{id}/$validate", "instance", "$validate", validate.validate),
    Interaction("GET", "/{type}/{id}", "instance", "read", instance.read),
    Interaction("PUT", "/{type}/{id}", "instance", "update", instance.update),
    Interaction("DELETE", "/{type}/{id}", "instance", "delete", instance.delete),
    Interaction("PATCH", "/{type}/{id}", "instance", "patch", instance.patch),
)


def guarded(ctx: FhirContext, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Map Wardbook's errors to OperationOutcomes; anything unexpected is logged, never leaked."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(ctx, request)
        except WardbookError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            issue = Issue("fatal", "exception", "Internal server error; it has been logged")
            return outcome_response([issue], 500)

    return endpoint


def fhir_routes(ctx: FhirContext, extra: list[Route] | None = None) -> list[Route]:
    """Starlette routes for every interaction, grouped by path so 405 lists the methods."""
    by_path: dict[str, dict[str, Handler]] = {}
    for interaction in INTERACTIONS:
        by_path.setdefault(interaction.path, {})[interaction.method] = interaction.handler
    routes = list(extra or [])
    for path, handlers in by_path.items():
        routes.append(Route(path, _dispatch(ctx, handlers), methods=sorted(handlers)))
    return routes


def _dispatch(
    ctx: FhirContext, handlers: dict[str, Handler]
) -> Callable[[Request], Awaitable[Response]]:
    guarded_handlers = {method: guarded(ctx, handler) for method, handler in handlers.items()}
    if "GET" in guarded_handlers:
        guarded_handlers["HEAD"] = guarded_handlers["GET"]

    async def endpoint(request: Request) -> Response:
        return await guarded_handlers[request.method](request)

    return endpoint
