"""Liveness and readiness probes (INTERFACES.md: /livez, /readyz)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from wardbook.fhir import jsonio
from wardbook.storage.base import Repository, StorageError

_JSON = "application/json"


async def livez(request: Request) -> Response:
    """The process is up. No I/O: it doubles as the hello-world baseline in benchmarks."""
    return Response(b'{"status":"ok"}', media_type=_JSON)


def readyz(repository: Repository) -> Callable[[Request], Awaitable[Response]]:
    """Ready when the database answers and no migration is pending."""

    async def endpoint(request: Request) -> Response:
        try:
            await repository.ping()
            pending = await repository.pending_migrations()
        except StorageError as error:
            body = {"status": "unavailable", "database": error.message}
            return Response(jsonio.dumps(body), 503, {"Retry-After": "5"}, media_type=_JSON)
        if pending:
            body = {"status": "unavailable", "pending_migrations": ",".join(pending)}
            return Response(jsonio.dumps(body), 503, {"Retry-After": "30"}, media_type=_JSON)
        return Response(b'{"status":"ready"}', media_type=_JSON)

    return endpoint
