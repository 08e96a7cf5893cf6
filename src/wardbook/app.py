"""Builds the ASGI application: routes, middleware, lifespan; wires the dependencies once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wardbook.api.capabilities import capability_statement
from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate
from wardbook.api.openapi import openapi_json
from wardbook.api.routes import FHIR_PREFIX, FhirRouter, Interaction
from wardbook.audit.middleware import AuditMiddleware
from wardbook.audit.process import AuditProcessWriter
from wardbook.audit.writer import AuditSink, AuditWriter
from wardbook.auth.discovery import smart_configuration
from wardbook.auth.endpoints import SmartEndpoints
from wardbook.auth.middleware import BearerAuthMiddleware
from wardbook.auth.smart import SmartAuth
from wardbook.config import Settings
from wardbook.fhir import jsonio
from wardbook.ops import metrics
from wardbook.ops.hardening import RateLimitMiddleware, SecurityHeadersMiddleware
from wardbook.ops.health import livez, readyz
from wardbook.ops.logging import RequestIdMiddleware
from wardbook.ops.metrics_endpoint import (
    backup_refresher,
    jobs_refresher,
    metrics_endpoint,
    pool_refresher,
    refresh_forever,
    replica_refresher,
)
from wardbook.search.custom import CUSTOM
from wardbook.service.export_runner import start_runner
from wardbook.service.reindex import ReindexWorker
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository
from wardbook.storage.sqlite import SqliteRepository
from wardbook.web.auth_routes import auth_routes
from wardbook.web.routes import web_routes
from wardbook.web.session import WebSessionMiddleware


async def metadata(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/metadata: the generated CapabilityStatement (public)."""
    media = negotiate(request)
    statement = capability_statement(
        base_url(request, ctx.settings.base_url), custom_generation=CUSTOM.generation
    )
    return fhir_response(jsonio.dumps(statement), 200, {"Cache-Control": "max-age=60"}, media)


async def fhir_smart_configuration(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/.well-known/smart-configuration (SMART App Launch 2.0, public)."""
    document = smart_configuration(base_url(request, ctx.settings.base_url))
    return JSONResponse(document, headers={"Cache-Control": "max-age=300"})


def build_app(settings: Settings, repository: Repository | None = None) -> ASGIApp:
    """The whole application. Pass a repository to share one (tests); else one is opened."""
    repo = (
        repository
        if repository is not None
        else open_repository(
            settings.database_url,
            search_timeout_ms=settings.search_timeout_ms,
            replica_urls=settings.database_replica_urls,
            max_replica_lag_seconds=settings.replica_max_lag_seconds,
        )
    )
    ctx = FhirContext(service=ResourceService(repo), settings=settings)
    auth = SmartAuth(repo, settings)
    smart = SmartEndpoints(auth, ctx.service)

    audit_writer = audit_sink(settings, repo)

    metrics.clear_refreshers()
    metrics.add_refresher(pool_refresher(repo))
    metrics.add_refresher(backup_refresher(repo))
    metrics.add_refresher(replica_refresher(repo))
    metrics.add_refresher(jobs_refresher(repo))

    async def audit_pending() -> None:
        metrics.AUDIT_PENDING.set(audit_writer.pending)

    metrics.add_refresher(audit_pending)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if repository is None:
            await repo.open()
        refresher = asyncio.create_task(refresh_forever())
        await audit_writer.start()
        # Custom SearchParameters, and $reindex jobs that a restart interrupted.
        reindexer = ReindexWorker(repo)
        # Bulk Data export jobs run in the background of every server process.
        _, exports = start_runner(
            repo, Path(settings.export_dir), lease_seconds=settings.export_lease_seconds
        )
        try:
            await reindexer.start()
            yield
        finally:
            await reindexer.stop()
            exports.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exports
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await audit_writer.stop()  # flush what is buffered before the database closes
            if repository is None:
                await repo.close()

    fhir = FhirRouter(
        ctx,
        extra=(
            Interaction("GET", "/metadata", "system", "capabilities", metadata),
            Interaction("GET", "/openapi.json", "system", "openapi", openapi_json),
            Interaction(
                "GET",
                "/.well-known/smart-configuration",
                "system",
                "smart-configuration",
                fhir_smart_configuration,
            ),
        ),
    )
    web = Starlette(
        routes=[
            *auth_routes(),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz(repo, audit_writer), methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *smart.browser_routes(),
            *web_routes(ctx.service, settings),
        ],
        lifespan=lifespan,
    )
    web.state.repository = repo
    web.state.settings = settings
    web.state.audit_writer = audit_writer
    web.state.smart = auth
    session_web = WebSessionMiddleware(web, repo, settings)
    guarded_fhir = BearerAuthMiddleware(
        fhir, auth, no_auth=settings.no_auth, password_gate=session_web.password_change_pending
    )
    oauth = Starlette(routes=smart.machine_routes())
    routed = RateLimitMiddleware(WardbookApp(guarded_fhir, session_web, oauth), settings)
    inner: ASGIApp = AuditMiddleware(
        routed, audit_writer, mode=settings.audit_mode, no_auth=settings.no_auth
    )
    if settings.otlp_endpoint:
        from wardbook.ops import tracing

        inner = tracing.install(inner, settings.otlp_endpoint)
    return RequestIdMiddleware(SecurityHeadersMiddleware(inner, settings))


def audit_sink(settings: Settings, repository: Repository) -> AuditSink:
    """The audit writer ``settings`` ask for (docs/security.md, "Audit").

    An in-memory SQLite database cannot be opened by another process: its records are
    always committed in this one.
    """
    in_memory = settings.database_url.startswith("sqlite:///:memory:")
    if settings.audit_writer == "process" and not in_memory:
        sqlite = repository if isinstance(repository, SqliteRepository) else None
        return AuditProcessWriter(
            settings.database_url,
            flush_ms=settings.audit_flush_ms,
            log_level=settings.log_level,
            lend_turns_of=sqlite,
        )
    return AuditWriter(repository, flush_ms=settings.audit_flush_ms)


# SMART endpoints apps call directly (token, introspection, ...): outside the web session.
OAUTH_MACHINE_PATHS = frozenset(
    {
        "/.well-known/smart-configuration",
        "/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/revoke",
        "/oauth2/jwks",
    }
)


class WardbookApp:
    """Sends ``/fhir`` and ``/fhir/...`` to the FHIR router, everything else to the web app."""

    def __init__(self, fhir: ASGIApp, web: ASGIApp, oauth: ASGIApp | None = None) -> None:
        self.fhir = fhir
        self.web = web
        self.oauth = oauth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/"):
                await self.fhir(scope, receive, send)
                return
            if self.oauth is not None and path in OAUTH_MACHINE_PATHS:
                await self.oauth(scope, receive, send)
                return
        await self.web(scope, receive, send)


def create_app() -> ASGIApp:
    """Factory for the HTTP server (granian calls it once per worker process)."""
    from wardbook.config import load_settings
    from wardbook.ops.logging import configure

    settings = load_settings()
    settings.check()
    configure(settings.log_level)
    return build_app(settings)
