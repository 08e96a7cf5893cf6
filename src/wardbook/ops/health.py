"""Liveness and readiness probes (INTERFACES.md: /livez, /readyz)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from wardbook.fhir import jsonio
from wardbook.storage.base import Repository, StorageError

_JSON = "application/json"


async def livez(request: Request) -> Response:
    """The process is up. No I/O: it doubles as the hello-world baseline in benchmarks."""
    return Response(b'{"status":"ok"}', media_type=_JSON)


class _Audit(Protocol):
    @property
    def healthy(self) -> bool: ...


def readyz(
    repository: Repository, audit: _Audit | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """Ready when the database answers, no migration is pending and the audit writer runs."""

    async def endpoint(request: Request) -> Response:
        if audit is not None and not audit.healthy:
            body = {"status": "unavailable", "audit": "the audit writer process is not running"}
            return Response(jsonio.dumps(body), 503, {"Retry-After": "5"}, media_type=_JSON)
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
