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
from starlette.types import Receive, Scope, Send

from wardbook.api import history, instance, transaction, type_level
from wardbook.api.context import FhirContext
from wardbook.api.http import error_response, outcome_response
from wardbook.api.operations import everything, export, lastn, meta, reindex, validate
from wardbook.errors import Issue, WardbookError

Handler = Callable[[FhirContext, Request], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("wardbook.api")


@dataclass(frozen=True, slots=True)
class Interaction:
    """One REST interaction: ``level`` is system, type or instance; ``code`` is R4's name."""

    method: str
    path: str
    level: str
    code: str
    handler: Handler
    definition: str | None = None  # an operation's canonical OperationDefinition


BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"


INTERACTIONS: tuple[Interaction, ...] = (
    # Operations first: their literal segments must win over /{type} and /{type}/{id}.
    Interaction("POST", "/$reindex", "system", "$reindex", reindex.reindex_system),
    Interaction(
        "GET", "/$reindex-status/{job}", "system", "$reindex-status", reindex.reindex_status
    ),
    Interaction("POST", "/{type}/$reindex", "type", "$reindex", reindex.reindex_type),
    # Bulk Data (export.html).
    Interaction(
        "GET", "/$export", "system", "$export", export.export_system, f"{BULK_DATA}/export"
    ),
    Interaction(
        "GET",
        "/Patient/$export",
        "type",
        "$export",
        export.export_patient,
        f"{BULK_DATA}/patient-export",
    ),
    Interaction(
        "GET",
        "/Group/{id}/$export",
        "instance",
        "$export",
        export.export_group,
        f"{BULK_DATA}/group-export",
    ),
    Interaction("GET", "/_export/{id}", "system", "export-status", export.export_status),
    Interaction("DELETE", "/_export/{id}", "system", "export-cancel", export.export_cancel),
    Interaction("GET", "/_export/{id}/{file}", "system", "export-file", export.export_file),
    Interaction("GET", "/", "system", "search-system", type_level.system_search),
    # One endpoint, two R4 interactions: Bundle.type says which (http.html#transaction).
    Interaction("POST", "/", "system", "transaction", transaction.transaction),
    Interaction("POST", "/", "system", "batch", transaction.transaction),
    Interaction("GET", "/_history", "system", "history-system", history.history),
    Interaction("GET", "/$meta", "system", "$meta", meta.meta),
    Interaction("POST", "/$meta", "system", "$meta", meta.meta),
    Interaction("GET", "/{type}/_history", "type", "history-type", history.history),
    Interaction("POST", "/{type}/_search", "type", "search-type", type_level.search_post),
    Interaction("POST", "/{type}/$validate", "type", "$validate", validate.validate),
    Interaction("GET", "/{type}/$meta", "type", "$meta", meta.meta),
    Interaction("POST", "/{type}/$meta", "type", "$meta", meta.meta),
    # Literal types before /{type}/{id}: the router takes the first pattern that matches.
    Interaction("GET", "/Observation/$lastn", "type", "$lastn", lastn.lastn),
    Interaction("POST", "/Observation/$lastn", "type", "$lastn", lastn.lastn),
    Interaction("GET", "/{type}", "type", "search-type", type_level.search),
    Interaction("POST", "/{type}", "type", "create", type_level.create),
    Interaction("PUT", "/{type}", "type", "conditional-update", type_level.conditional_update),
    Interaction("DELETE", "/{type}", "type", "conditional-delete", type_level.conditional_delete),
    Interaction("PATCH", "/{type}", "type", "conditional-patch", type_level.conditional_patch),
    Interaction("GET", "/{type}/{id}/_history", "instance", "history-instance", history.history),
    Interaction("GET", "/{type}/{id}/_history/{vid}", "instance", "vread", instance.vread),
    Interaction("POST", "/{type}/{id}/$validate", "instance", "$validate", validate.validate),
    Interaction("GET", "/{type}/{id}/$meta", "instance", "$meta", meta.meta),
    Interaction("POST", "/{type}/{id}/$meta", "instance", "$meta", meta.meta),
    Interaction("POST", "/{type}/{id}/$meta-add", "instance", "$meta-add", meta.meta_add),
    Interaction("POST", "/{type}/{id}/$meta-delete", "instance", "$meta-delete", meta.meta_delete),
    Interaction("GET", "/{type}/{id}/_history/{vid}/$meta", "instance", "$meta", meta.meta),
    Interaction(
        "POST", "/{type}/{id}/_history/{vid}/$meta-add", "instance", "$meta-add", meta.meta_add
    ),
    Interaction(
        "POST",
        "/{type}/{id}/_history/{vid}/$meta-delete",
        "instance",
        "$meta-delete",
        meta.meta_delete,
    ),
    *(
        Interaction(method, "/Patient/{id}/$everything", "instance", "$everything", handler)
        for method in ("GET", "POST")
        for handler in (everything.patient_everything,)
    ),
    *(
        Interaction(method, "/Encounter/{id}/$everything", "instance", "$everything", handler)
        for method in ("GET", "POST")
        for handler in (everything.encounter_everything,)
    ),
    Interaction("GET", "/{type}/{id}", "instance", "read", instance.read),
    Interaction("PUT", "/{type}/{id}", "instance", "update", instance.update),
    Interaction("DELETE", "/{type}/{id}", "instance", "delete", instance.delete),
    Interaction("PATCH", "/{type}/{id}", "instance", "patch", instance.patch),
    # After every literal third segment (_history, $validate): the compartment type is free.
    Interaction(
        "GET",
        "/{type}/{id}/{member}",
        "compartment",
        "search-compartment",
        type_level.compartment_search,
    ),
)


def guarded(ctx: FhirContext, handler: Handler, code: str = "unknown") -> Endpoint:
    """Map Wardbook's errors to OperationOutcomes; anything unexpected is logged, never leaked.

    ``code`` (the interaction's name) is left in the ASGI scope for metrics and audit.
    """

    async def endpoint(request: Request) -> Response:
        request.scope["wardbook.interaction"] = code
        try:
            return await handler(ctx, request)
        except WardbookError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            issue = Issue("fatal", "exception", "Internal server error; it has been logged")
            return outcome_response([issue], 500)

    return endpoint


class FhirRouter:
    """The ASGI app under ``/fhir``: matches the route table by path segments.

    Built from :data:`INTERACTIONS` (plus the capability endpoints), it does what a
    Starlette Mount with one Route per path would, with less work per request (one split,
    a dictionary lookup by segment count): reads are the hot path. Errors are
    OperationOutcomes: 404 for no such path, 405 (with Allow) for a known path and a
    method it lacks.
    """

    def __init__(self, ctx: FhirContext, extra: tuple[Interaction, ...] = ()) -> None:
        self._by_length: dict[int, list[tuple[tuple[str | None, ...], dict[str, Endpoint]]]] = {}
        grouped: dict[str, dict[str, Endpoint]] = {}
        for interaction in (*extra, *INTERACTIONS):
            handlers = grouped.setdefault(interaction.path, {})
            handlers[interaction.method] = guarded(ctx, interaction.handler, interaction.code)
            if interaction.method == "GET":
                handlers["HEAD"] = handlers["GET"]
        for path, handlers in grouped.items():
            pattern = _pattern(path)
            self._by_length.setdefault(len(pattern), []).append((pattern, handlers))

    def match(self, path: str) -> tuple[dict[str, str], dict[str, Endpoint]] | None:
        """Path parameters and the handlers by method of the first route matching ``path``."""
        segments = [part for part in path.split("/") if part] if path not in ("", "/") else []
        for pattern, handlers in self._by_length.get(len(segments), ()):
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want is None:
                    continue
                if want.startswith("{"):
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return params, handlers
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"][len(FHIR_PREFIX) :]
        found = self.match(path)
        request = Request(scope, receive)
        if found is None:
            issue = Issue("error", "not-found", f"No FHIR endpoint at {scope['path']}")
            response = outcome_response([issue], 404)
        else:
            params, handlers = found
            endpoint = handlers.get(scope["method"])
            if endpoint is None:
                issue = Issue(
                    "error", "not-supported", f"{scope['method']} is not supported on this URL"
                )
                allow = ", ".join(sorted(handlers))
                response = outcome_response([issue], 405, {"Allow": allow})
            else:
                scope["path_params"] = params
                response = await endpoint(request)
        await response(scope, receive, send)


FHIR_PREFIX = "/fhir"


def _pattern(path: str) -> tuple[str | None, ...]:
    """``/{type}/{id}/_history`` -> ("{type}", "{id}", "_history")."""
    return tuple(part for part in path.split("/") if part)
