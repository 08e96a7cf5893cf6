"""Audit every HTTP request: FHIR interactions and web page views, whatever the route.

Wraps the whole application (inside the request-id middleware, outside authentication),
so no route can skip it. After the response it queues one :class:`AuditRecord` on the
buffered audit writer (:class:`~wardbook.audit.writer.AuditSink`). The principal is read
when the response starts -- inside the authentication middleware's ``acting_as``
binding -- so the record names who the request was served for. Health, metrics and
static files are not audited (no PHI).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wardbook.audit.classify import classify_fhir, web_patient
from wardbook.audit.records import AuditRecord, AuditSlot, bind_slot, reset_slot
from wardbook.audit.writer import AuditSink
from wardbook.auth.principal import Principal, current_principal
from wardbook.ops.logging import request_id_var

FHIR_PREFIX = "/fhir"
UNAUDITED = frozenset({"/livez", "/readyz", "/metrics", "/favicon.ico", "/robots.txt"})
UNAUTHENTICATED = Principal(kind="user", subject="anonymous")
_BODY_INTERACTIONS = frozenset({"read", "vread", "create", "update", "patch"})


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _location_version(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(id, version) from ``Location: .../Type/id/_history/v``, else from the ETag."""
    location = etag = None
    for name, value in headers:
        if name == b"location":
            location = value.decode("latin-1")
        elif name == b"etag":
            etag = value.decode("latin-1")
    if location and "/_history/" in location:
        head, version = location.rsplit("/_history/", 1)
        return head.rsplit("/", 1)[-1], version
    if etag:
        return None, etag.removeprefix("W/").strip('"')
    return None, None


class AuditMiddleware:
    """Queues an AuditRecord for each audited request (see module docstring)."""

    def __init__(
        self, app: ASGIApp, writer: AuditSink, *, mode: str = "buffered", no_auth: bool = True
    ) -> None:
        self.app = app
        self.writer = writer
        self.no_auth = no_auth
        self.mode = mode  # "sync": commit each record before answering (benchmark baseline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.mode == "off":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in UNAUDITED or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        started = time.time_ns() // 1000
        slot = AuditSlot()
        token = bind_slot(slot)
        is_fhir = path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")
        state: dict[str, object] = {"status": 500}
        principal: Principal | None = None
        headers: list[tuple[bytes, bytes]] = []
        body: bytes | None = None
        first_body = True
        committed = False

        async def audited_send(message: Message) -> None:
            nonlocal principal, headers, body, first_body, committed
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                principal = current_principal()
                headers = list(message.get("headers") or ())
            elif message["type"] == "http.response.body":
                if first_body:
                    first_body = False
                    if is_fhir and not message.get("more_body", False):
                        body = message.get("body")
                if self.mode == "sync" and not message.get("more_body", False) and not slot.skip:
                    # sync: the record is committed before the response's last byte leaves
                    record = self._record(
                        scope, path, is_fhir, started, state, principal, headers, body, slot
                    )
                    await self.writer.write_now(record)
                    committed = True
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            reset_slot(token)
            if not slot.skip and not committed:
                await self.writer.submit(
                    self._record(
                        scope, path, is_fhir, started, state, principal, headers, body, slot
                    )
                )

    def _who(self, principal: Principal) -> Principal:
        """With authentication on, nobody bound means an unauthenticated caller."""
        if principal.kind == "local" and not self.no_auth:
            return UNAUTHENTICATED
        return principal

    def _record(
        self,
        scope: Scope,
        path: str,
        is_fhir: bool,
        started: int,
        state: dict[str, object],
        principal: Principal | None,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        slot: AuditSlot,
    ) -> AuditRecord:
        status = int(state["status"])  # type: ignore[call-overload]
        method: str = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        record = AuditRecord(
            kind="rest" if is_fhir else "web",
            recorded=started,
            principal=self._who(principal or current_principal()),
            source_ip=client_ip(scope),
            method=method,
            path=path,
            query=query,
            status=status,
            patients=slot.patients,
            request_id=request_id_var.get(),
        )
        if status in (401, 403):
            record.reason = "access denied" if status == 403 else "not authenticated"
        if is_fhir:
            fhir = classify_fhir(method, path[len(FHIR_PREFIX) :], query)
            routed = scope.get("wardbook.interaction")  # set by the router (api/routes.py)
            if routed in ("transaction", "batch"):
                fhir.interaction = routed
            record.interaction = fhir.interaction
            record.resource_type = fhir.resource_type
            record.resource_id = fhir.resource_id
            record.version = fhir.version
            record.patients |= fhir.patients
            if fhir.interaction in _BODY_INTERACTIONS and status < 300:
                if fhir.interaction in ("create", "update", "patch"):
                    new_id, version = _location_version(headers)
                    record.resource_id = new_id or record.resource_id
                    record.version = version
                if fhir.resource_type == "Patient" and record.resource_id:
                    # A Patient is its own compartment: its id is the patient, no need to
                    # carry (and parse) the body to find it.
                    record.patients.add(record.resource_id)
                elif body and fhir.resource_type:
                    record.body = body
            elif fhir.interaction == "delete" and status < 300:
                record.version = _location_version(headers)[1]
        else:
            patient = web_patient(path)
            if patient:
                record.patients.add(patient)
        return record
