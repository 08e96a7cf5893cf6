"""Admin pages for SMART clients: list, register, revoke (administrators only).

The same use cases as ``wardbook client add|list|remove`` (:mod:`wardbook.cli_smart`):
registration is :func:`wardbook.auth.clients.register_client` and revocation
:func:`wardbook.auth.clients.revoke_client`, so the form and the command line apply the
same rules and give the same errors. Forms carry the session's CSRF token (checked by
:class:`wardbook.web.session.WebSessionMiddleware` before any handler runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wardbook.auth.clients import CLIENT_TYPES, register_client, revoke_client
from wardbook.auth.principal import current_principal
from wardbook.errors import BadRequest, Conflict, Forbidden, NotFound
from wardbook.storage.oauth_store import ClientRecord, OAuthStore
from wardbook.web.context import WebContext
from wardbook.web.formatting import date_time
from wardbook.web.forms import FormErrors, text_of
from wardbook.web.help import is_admin
from wardbook.web.patients import plain_form, read_form

TYPE_LABELS = {
    "public": "Public (browser or mobile app, PKCE)",
    "confidential": "Confidential (server-side app with a secret)",
    "backend": "Backend service (system scopes, signed JWT)",
}

Handler = Callable[[Request], Any]


def client_row(client: ClientRecord, zone: tzinfo = UTC) -> dict[str, Any]:
    """What the list shows of one registered client."""
    if client.redirect_uris:
        where = list(client.redirect_uris)
    elif client.jwks_uri:
        where = [f"Keys at {client.jwks_uri}"]
    else:
        where = ["Keys registered inline (JWKS)"]
    return {
        "client_id": client.client_id,
        "type": client.client_type.capitalize(),
        "scopes": client.scope.split(),
        "redirects": where,
        "name": client.name or "",
        "created": date_time(datetime.fromtimestamp(client.created_at, tz=UTC), zone),
    }


class ClientPages:
    """GET /admin/clients; GET/POST /admin/clients/new and /admin/clients/{id}/revoke."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = OAuthStore(ctx.service.repository)

    def routes(self, wrap: Callable[[Handler], Any]) -> list[BaseRoute]:
        """The routes, wrapped like every other page (session, errors, audit)."""
        return [
            Route("/admin/clients", wrap(self.client_list), methods=["GET"]),
            Route("/admin/clients/new", wrap(self.register), methods=["GET", "POST"]),
            Route("/admin/clients/{client_id}/revoke", wrap(self.revoke), methods=["GET", "POST"]),
        ]

    @staticmethod
    def _require_admin() -> None:
        if not is_admin(current_principal()):
            raise Forbidden("Only administrators can manage SMART clients")

    async def client_list(self, request: Request) -> Response:
        self._require_admin()
        zone = self.ctx.renderer.zone  # the hospital's clock, like every other page
        rows = [client_row(c, zone) for c in await self.store.list_clients()]
        revoked = request.query_params.get("revoked", "")[:200]
        return self.ctx.renderer.page(
            request, "admin/clients.html", {"rows": rows, "revoked": revoked}
        )

    async def register(self, request: Request) -> Response:
        self._require_admin()
        values: dict[str, str] = {}
        errors = FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            arguments = registration_arguments(values, errors)
            if arguments is not None:
                try:
                    new = await register_client(self.store, **arguments)
                except Conflict as error:
                    errors.add("client-id", error.message)
                except BadRequest as error:
                    errors.add(_field_of(error.message), error.message)
                else:
                    return self.ctx.renderer.page(
                        request,
                        "admin/client_registered.html",
                        {"client": client_row(new.record), "secret": new.secret},
                        status=201,
                    )
        return self.ctx.renderer.page(
            request,
            "admin/client_new.html",
            {"values": values, "errors": errors, "types": list(TYPE_LABELS.items())},
            status=422 if errors else 200,
        )

    async def revoke(self, request: Request) -> Response:
        self._require_admin()
        client_id = request.path_params["client_id"]
        client = await self.store.get_client(client_id)
        if client is None:
            raise NotFound(f"No SMART client '{client_id}' is registered")
        if request.method == "POST":
            await revoke_client(self.store, client_id)
            return RedirectResponse(f"/admin/clients?revoked={client_id}", status_code=303)
        return self.ctx.renderer.page(
            request, "admin/client_revoke.html", {"client": client_row(client)}
        )


def registration_arguments(values: dict[str, str], errors: FormErrors) -> dict[str, Any] | None:
    """The form as ``register_client`` arguments; None (with errors) when incomplete."""
    client_id = text_of(values, "client_id")
    client_type = text_of(values, "client_type")
    if not client_id:
        errors.add("client-id", "Enter a client ID")
    if client_type not in CLIENT_TYPES:
        errors.add("client-type", "Select the type of client")
    jwks_text = text_of(values, "jwks")
    jwks: dict[str, Any] | None = None
    if jwks_text:
        try:
            parsed = json.loads(jwks_text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            errors.add("jwks", 'Enter the public keys as a JSON Web Key Set: an object with "keys"')
        else:
            jwks = parsed
    if errors:
        return None
    return {
        "client_id": client_id,
        "client_type": client_type,
        "redirect_uris": text_of(values, "redirect_uris").split(),
        "scope": text_of(values, "scope") or None,
        "jwks": jwks,
        "jwks_uri": text_of(values, "jwks_uri") or None,
        "name": text_of(values, "name") or None,
    }


def _field_of(message: str) -> str:
    """The form field a registration error is about (its message names the CLI option)."""
    lowered = message.lower()
    for needle, field_id in (
        ("redirect", "redirect-uris"),
        ("jwks-uri", "jwks-uri"),
        ("jwks", "jwks"),
        ("scope", "scope"),
        ("client id", "client-id"),
        ("client name", "name"),
        ("client type", "client-type"),
    ):
        if needle in lowered:
            return field_id
    return "client-id"
