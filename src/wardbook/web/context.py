"""What every web handler needs, and the one place web errors become HTML pages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from wardbook.auth.care import may_access_patient
from wardbook.auth.principal import current_principal
from wardbook.errors import Forbidden, WardbookError
from wardbook.service.resources import ResourceService
from wardbook.web.assets import StaticAssets
from wardbook.web.forms import FormErrors
from wardbook.web.templating import Renderer

log = logging.getLogger("wardbook.web")

Handler = Callable[[Request], Awaitable[Response]]

ERROR_TITLES = {
    400: "There is a problem with this request",
    401: "You need to sign in",
    403: "You do not have access to this page",
    404: "Page not found",
    410: "This record was deleted",
    412: "Someone else changed this record",
    413: "What you sent is too large",
    422: "This could not be saved",
    429: "Too many requests",
    503: "Sorry, the service is unavailable",
}


@dataclass(frozen=True, slots=True)
class WebContext:
    """Dependencies of the web app, built once in :func:`wardbook.app.build_app`."""

    service: ResourceService
    renderer: Renderer
    assets: StaticAssets
    break_glass_minutes: int = 60

    def error_page(self, request: Request, error: WardbookError) -> Response:
        status = error.status if 400 <= error.status < 600 else 500
        return self.renderer.page(
            request,
            "error.html",
            {
                "title": ERROR_TITLES.get(status, "Sorry, there is a problem with the service"),
                "message": error.message,
                "status": status,
            },
            status=status,
            headers=error.headers,
        )


def same_origin(request: Request) -> bool:
    """CSRF defence for form posts: the browser says the request came from this site.

    Browsers send ``Sec-Fetch-Site`` (Fetch Metadata) and ``Origin`` on every POST; a
    cross-site form or script therefore cannot post here in a signed-in user's name.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def page(ctx: WebContext, *, patient_record: bool = False) -> Callable[[Handler], Handler]:
    """Wrap a handler: domain errors render as error pages; posts must be same-origin.

    With ``patient_record`` the page belongs to the patient in the path: a user outside the
    patient's care relationships gets the break-the-glass warning instead (403).
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                if request.method == "POST" and not same_origin(request):
                    raise Forbidden("This form was sent from another site, so it was not saved")
                if patient_record:
                    patient_id = request.path_params["patient_id"]
                    principal = current_principal()
                    if not await may_access_patient(principal, patient_id, ctx.service):
                        return break_glass_page(ctx, request, patient_id)
                return await handler(request)
            except WardbookError as error:
                if error.status >= 500:
                    log.warning("web request failed: %s", error.message)
                return ctx.error_page(request, error)

        return run

    return decorate


def break_glass_page(
    ctx: WebContext,
    request: Request,
    patient_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    """The warning shown instead of a record outside the user's care relationships."""
    return ctx.renderer.page(
        request,
        "patients/break_glass.html",
        {
            "patient_id": patient_id,
            "minutes": ctx.break_glass_minutes,
            "values": values or {},
            "errors": errors or FormErrors(),
            "next": request.url.path if request.method == "GET" else f"/patients/{patient_id}",
            "manual_page": "break-the-glass",
        },
        status=403,
    )
