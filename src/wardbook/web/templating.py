"""Jinja2 rendering for the web app, with the security headers every page carries.

Pages hold patient data, so they are never cached (``Cache-Control: no-store``) and carry a
strict Content Security Policy: scripts and styles only from this origin, no inline script
or style, no framing (OWASP Secure Headers). Static assets are linked by fingerprinted URL
(:mod:`wardbook.web.assets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from wardbook.auth.principal import current_principal
from wardbook.web import access, formatting
from wardbook.web.assets import StaticAssets
from wardbook.web.manual import manual_link
from wardbook.web.session import SCOPE_KEY, WebSession, csrf_token, signed_in_user

TEMPLATES = Path(__file__).parent / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def configure_environment(
    env: jinja2.Environment, assets: StaticAssets, zone: tzinfo = UTC
) -> None:
    """What base.html needs from any Jinja environment that renders it (also ident's pages)."""
    env.globals["asset"] = assets.url
    env.globals["current_principal"] = current_principal
    env.globals["manual_link"] = manual_link
    env.globals["may"] = access.may
    env.globals["patient_home"] = access.patient_home
    env.filters.update(formatting.filters(zone))
    env.globals["time_zone"] = str(zone)


def session_idle_seconds(request: Request) -> int | None:
    """How long the signed-in user's session lasts without a request (None if not signed in)."""
    web = request.scope.get(SCOPE_KEY)
    if isinstance(web, WebSession) and web.signed_in:
        return web.settings.session_idle_minutes * 60
    return None


class Renderer:
    """Renders templates to HTML responses; one per application."""

    def __init__(self, assets: StaticAssets, zone: tzinfo = UTC) -> None:
        self.assets = assets
        self.zone = zone  # the hospital's clock (WARDBOOK_TIMEZONE)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        configure_environment(self.env, assets, zone)

    def render_text(self, template: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(template).render(context)

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A full page (or, for an htmx request, the same template's fragment)."""
        principal = current_principal()
        values: dict[str, Any] = {
            "request": request,
            "principal": principal,
            "is_admin": principal.unrestricted or "admin" in principal.roles,
            "is_auditor": principal.unrestricted or bool({"admin", "auditor"} & principal.roles),
            "csrf_token": csrf_token(request),
            "signed_in": signed_in_user(request) is not None,
            "session_idle_seconds": session_idle_seconds(request),
            "path": request.url.path,
            "htmx": request.headers.get("hx-request") == "true",
        }
        values.update(context or {})
        html = self.render_text(template, values)
        return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
