"""Bearer-token authentication for ``/fhir`` (RFC 6750; SMART App Launch 2.0).

Every FHIR request carries ``Authorization: Bearer <access token>``; the token's
:class:`Principal` is bound with :func:`acting_as` for the request, and the service layer
authorizes each use case against it. Without a valid token the answer is 401 with
``WWW-Authenticate: Bearer`` and an OperationOutcome. The CapabilityStatement and SMART
discovery stay public. With ``serve --no-auth`` (loopback development only) a request
without a token acts as the local developer; a token, if sent, is still checked and used.
A request without a token but with the web session cookie of a user whose password must be
changed (an admin reset) is answered 403 with an OperationOutcome saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from wardbook.api.http import error_response
from wardbook.auth.principal import Principal, acting_as
from wardbook.auth.smart import SmartAuth
from wardbook.errors import Forbidden, Unauthorized, WardbookError

ANONYMOUS = Principal(kind="client", subject="anonymous")
PUBLIC_FHIR_PATHS = frozenset(
    {
        "/fhir/metadata",
        "/fhir/.well-known/smart-configuration",
        "/fhir/openapi.json",
    }
)


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header; "" for another or malformed scheme."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = str(value.decode("latin-1")).strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return ""
            return token.strip()
    return None


class BearerAuthMiddleware:
    """Authenticates every FHIR request before it reaches the router."""

    def __init__(
        self,
        app: ASGIApp,
        auth: SmartAuth,
        *,
        no_auth: bool,
        password_gate: Callable[[Scope], Awaitable[bool]] | None = None,
    ) -> None:
        self.app = app
        self.auth = auth
        self.no_auth = no_auth
        # True for a request carrying the web session of a user who must change their
        # password: such a request (without a Bearer token) is refused with a 403 that says so.
        self.password_gate = password_gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_FHIR_PATHS:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None and self.password_gate is not None and await self.password_gate(scope):
            refusal = Forbidden(
                "Your password must be changed before you can use Wardbook: sign in to the web"
                " app and change it at /account/password"
            )
            with acting_as(ANONYMOUS):
                await error_response(refusal)(scope, receive, send)
            return
        if token is None and self.no_auth:
            await self.app(scope, receive, send)
            return
        try:
            if token is None:
                raise Unauthorized("This FHIR server needs an access token (Authorization: Bearer)")
            if not token:
                raise Unauthorized("Use the Bearer authorization scheme with an access token")
            client = scope.get("client")
            principal = await self.auth.principal_for(token, client[0] if client else None)
        except WardbookError as error:
            # Bound while the 401 goes out, so the audit trail records a failed access by
            # nobody in particular -- never by the local developer, the unbound default.
            with acting_as(ANONYMOUS):
                await error_response(error)(scope, receive, send)
            return
        with acting_as(principal):
            await self.app(scope, receive, send)
