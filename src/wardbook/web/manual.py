"""In-app help: each page's "Help" link into the user manual, and the manual served at /manual/.

The manual is the mkdocs site built by ``make docs`` (``build/site``, or the folder named by
``WARDBOOK_MANUAL_DIR``). Its clinician pages live at ``docs/manual/<name>.md`` and so at
``/manual/manual/<name>/``. Every web page maps to one of :data:`MANUAL_PAGES` by its route
(:data:`PAGE_MANUAL`); a page not listed gets "Help and feedback". When the site is not built,
``/manual/`` answers with a page saying how to build it and linking the help centre.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

# The user manual's pages (docs/manual/<name>.md) and their titles.
MANUAL_PAGES: dict[str, str] = {
    "find-a-patient": "Find a patient",
    "read-the-chart": "Read the chart",
    "record-vital-signs": "Record vital signs",
    "write-a-note": "Write a note",
    "allergies": "Allergies",
    "medications": "Medicines",
    "problems": "Problems",
    "discharge": "Discharge a patient",
    "break-the-glass": "Break the glass",
    "sign-in": "Sign in",
    "help-and-feedback": "Help and feedback",
    "training-video": "Training video",
}
DEFAULT_PAGE = "help-and-feedback"

_P = "/patients/{patient_id}"
# Route path (as routed) -> manual page. Every HTML page of the web app is listed here;
# tests/web/test_help.py checks that against the routes.
PAGE_MANUAL: dict[str, str] = {
    "/": "find-a-patient",
    _P: "read-the-chart",
    _P + "/vitals": "record-vital-signs",
    _P + "/vitals/new": "record-vital-signs",
    _P + "/notes": "write-a-note",
    _P + "/notes/new": "write-a-note",
    _P + "/notes/{note_id}": "write-a-note",
    _P + "/problems/new": "problems",
    _P + "/problems/{condition_id}/resolve": "problems",
    _P + "/allergies/new": "allergies",
    _P + "/medications/{medication_id}/stop": "medications",
    _P + "/discharge": "discharge",
    _P + "/appointments": "read-the-chart",
    _P + "/appointments/new": "read-the-chart",
    _P + "/audit": "break-the-glass",
    _P + "/break-glass": "break-the-glass",
    "/help": "help-and-feedback",
    "/help/accessibility": "help-and-feedback",
    "/help/feedback": "help-and-feedback",
    "/help/feedback/sent": "help-and-feedback",
    "/admin": "help-and-feedback",
    "/admin/users": "help-and-feedback",
    "/admin/roles": "help-and-feedback",
    "/admin/feedback": "help-and-feedback",
    "/admin/clients": "help-and-feedback",
    "/admin/clients/new": "help-and-feedback",
    "/admin/clients/{client_id}/revoke": "help-and-feedback",
    "/manual/{path:path}": "help-and-feedback",
    "/sign-in": "sign-in",
    "/sign-in/mfa": "sign-in",
    "/sign-in/enrol": "sign-in",
    "/account/password": "sign-in",
    "/account/password/changed": "sign-in",
    "/sign-out": "sign-in",
    "/sign-out-everywhere": "sign-in",
    "/oauth2/authorize": "sign-in",  # SMART consent (its own layout links the page directly)
}
_COMPILED: list[tuple[re.Pattern[str], str]] = [
    (compile_path(route)[0], name) for route, name in PAGE_MANUAL.items()
]

# Renders the friendly answer when the site is not built (False) or has no such page (True).
MissingPage = Callable[[Request, bool], Response]

MANUAL_CSP = (
    # The manual is our own static build (mkdocs-material): it needs its inline bootstrap
    # script and styles, and holds no patient data.
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def manual_url(name: str) -> str:
    """The URL of a manual page, e.g. /manual/manual/record-vital-signs/."""
    return f"/manual/manual/{name}/"


def manual_page_for(path: str) -> str:
    """The manual page that explains the web page at ``path``."""
    for pattern, name in _COMPILED:
        if pattern.match(path):
            return name
    return DEFAULT_PAGE


def manual_link(path: str, page: str | None = None) -> dict[str, str]:
    """``href`` and ``title`` of the Help link for a page (``page`` overrides the route's)."""
    name = page if page in MANUAL_PAGES else manual_page_for(path)
    return {"href": manual_url(name), "title": MANUAL_PAGES[name]}


class ManualSite:
    """Serves the built manual's files read-only; never outside its folder."""

    def __init__(self, root: Path | None, missing_page: MissingPage) -> None:
        self.root = root.resolve() if root is not None else None
        self.missing_page = missing_page

    @property
    def built(self) -> bool:
        return self.root is not None and (self.root / "index.html").is_file()

    def locate(self, relative: str) -> Path | None:
        """The file for a URL path below /manual/ (a folder means its index.html)."""
        if self.root is None or "\x00" in relative or "\\" in relative:
            return None
        target = (self.root / relative.lstrip("/")).resolve()
        if not target.is_relative_to(self.root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    async def endpoint(self, request: Request) -> Response:
        """GET /manual/{path}: a file of the built site, or a friendly page saying why not."""
        if not self.built:
            return self.missing_page(request, False)
        target = self.locate(request.path_params.get("path", ""))
        if target is None:
            return self.missing_page(request, True)
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
            media += "; charset=utf-8"
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": MANUAL_CSP}
        body = b"" if request.method == "HEAD" else target.read_bytes()
        return Response(body, media_type=media, headers=headers)
