"""Builds the ASGI application: routes, middleware, lifespan; wires the dependencies once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from wardbook.api import type_level
from wardbook.api.capabilities import capability_statement
from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate, outcome_response
from wardbook.api.openapi import openapi_json
from wardbook.api.routes import fhir_routes, guarded
from wardbook.config import Settings
from wardbook.errors import Issue
from wardbook.fhir import jsonio
from wardbook.ops.health import livez, readyz
from wardbook.ops.logging import RequestIdMiddleware
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository


async def metadata(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/metadata: the generated CapabilityStatement (public)."""
    media = negotiate(request)
    statement = capability_statement(base_url(request, ctx.settings.base_url))
    return fhir_response(jsonio.dumps(statement), 200, {"Cache-Control": "max-age=60"}, media)


async def home(request: Request) -> Response:
    """Placeholder start page until the clinician web app lands."""
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Wardbook</title></head><body><main><h1>Wardbook</h1>"
        "<p>The FHIR R4 API is at <a href='/fhir/metadata'>/fhir</a>.</p></main></body></html>"
    )


async def _fhir_http_error(request: Request, exc: Exception) -> Response:
    """404/405 from routing, as OperationOutcomes on FHIR paths."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        issue = Issue("error", "not-supported", f"{request.method} is not supported on this URL")
    elif exc.status_code == 404:
        issue = Issue("error", "not-found", f"No FHIR endpoint at {request.url.path}")
    else:
        issue = Issue("error", "processing", str(exc.detail))
    return outcome_response([issue], exc.status_code, dict(exc.headers or {}))


def build_app(settings: Settings, repository: Repository | None = None) -> Starlette:
    """The whole application. Pass a repository to share one (tests); else one is opened."""
    repo = repository if repository is not None else open_repository(settings.database_url)
    ctx = FhirContext(service=ResourceService(repo), settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if repository is None:
            await repo.open()
        try:
            yield
        finally:
            if repository is None:
                await repo.close()

    system_search = guarded(ctx, type_level.system_search)
    extra = [
        Route("/metadata", guarded(ctx, metadata), methods=["GET"]),
        Route("/openapi.json", guarded(ctx, openapi_json), methods=["GET"]),
        Route("/", system_search, methods=["GET"]),
    ]
    fhir = fhir_routes(ctx, extra=extra)
    app = Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz(repo), methods=["GET"]),
            Route("/fhir", system_search, methods=["GET"]),
            Mount("/fhir", routes=fhir),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: _fhir_http_error},
    )
    app.state.repository = repo
    app.state.settings = settings
    app.add_middleware(RequestIdMiddleware)
    return app


def create_app() -> Starlette:
    """Factory for the HTTP server (granian calls it once per worker process)."""
    from wardbook.config import load_settings
    from wardbook.ops.logging import configure

    settings = load_settings()
    settings.check()
    configure(settings.log_level)
    return build_app(settings)
