"""Sign-in, second factor, authenticator enrolment, sign-out and break-the-glass pages.

Accessible names follow INTERFACES.md ("Username", "Password", "Sign in"; "Authentication
code", "Continue"; "Sign out"; "Reason", "Break the glass"). Every sign-in, failure,
sign-out and break-the-glass is written as its own AuditEvent (wardbook.audit.events).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from wardbook.audit.records import AuditKind, AuditRecord, note_patient, skip_request_audit
from wardbook.audit.writer import AuditWriter
from wardbook.auth import break_glass, mfa
from wardbook.auth.principal import Principal, current_principal
from wardbook.auth.users import SignInFailed, User
from wardbook.errors import WardbookError
from wardbook.fhir.meta import is_valid_id
from wardbook.web.session import (
    SESSION_COOKIE,
    WebSession,
    cookie_header,
    login_required,
    secure_cookies,
    web_session,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirect to //evil.example or https://...)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    web = web_session(request)
    context = {
        "csrf_token": web.csrf_token,
        "signed_in": web.signed_in,
        "errors": [],
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _writer(request: Request) -> AuditWriter:
    writer: AuditWriter = request.app.state.audit_writer
    return writer


async def _audit(
    request: Request,
    kind: AuditKind,
    *,
    user: User | None = None,
    user_name: str | None = None,
    status: int = 200,
    reason: str | None = None,
    patient: str | None = None,
    now: bool = False,
) -> None:
    client = request.client
    principal = user.principal() if user is not None else current_principal()
    record = AuditRecord(
        kind=kind,
        recorded=time.time_ns() // 1000,
        principal=principal,
        source_ip=client.host if client else None,
        method=request.method,
        path=request.url.path,
        status=status,
        reason=reason,
        user_name=user_name,
        patients={patient} if patient else set(),
    )
    writer = _writer(request)
    if now:
        await writer.write_now(record)
    else:
        await writer.submit(record)


def _set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    web = web_session(request)
    response.headers.append(
        "set-cookie",
        cookie_header(
            SESSION_COOKIE,
            cookie,
            secure=secure_cookies(web.settings, request.scope),
            max_age=web.settings.session_absolute_minutes * 60,
        ),
    )


def _clear_session_cookie(request: Request, response: Response) -> None:
    web = web_session(request)
    response.headers.append(
        "set-cookie",
        cookie_header(
            SESSION_COOKIE, "", secure=secure_cookies(web.settings, request.scope), max_age=0
        ),
    )


async def sign_in_form(request: Request) -> Response:
    """GET /sign-in."""
    return _page(
        request,
        "auth/sign_in.html",
        {"next": _safe_next(request.query_params.get("next")), "username": ""},
    )


async def sign_in(request: Request) -> Response:
    """POST /sign-in: password first; then the second factor or enrolment."""
    web = web_session(request)
    form = await request.form()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))[:1000]
    target = _safe_next(str(form.get("next", "/")))
    try:
        user = await web.users.authenticate(username, password)
    except SignInFailed:
        skip_request_audit()
        await _audit(
            request,
            "login-failed",
            user_name=username.strip().lower()[:64],
            status=401,
            reason="wrong user name or password, or account locked",
        )
        return _page(
            request,
            "auth/sign_in.html",
            {
                "next": target,
                "username": username,
                "errors": [("username", "Enter a correct username and password")],
            },
            status=401,
        )
    if web.cookie:
        await web.sessions.end(web.cookie)  # never reuse a session id across sign-ins
    needs_mfa = user.mfa_required or user.mfa_enrolled
    client = request.client
    cookie, _ = await web.sessions.create(
        user.username, mfa_done=not needs_mfa, source_ip=client.host if client else None
    )
    if needs_mfa:
        step = "/sign-in/mfa" if user.mfa_enrolled else "/sign-in/enrol"
        response: Response = RedirectResponse(f"{step}?next={target}", status_code=303)
    else:
        skip_request_audit()
        await _audit(request, "login", user=user)
        response = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, response, cookie)
    return response


def _pending_user(request: Request) -> tuple[WebSession, User] | None:
    web = web_session(request)
    if web.session is None or web.user is None or web.session.mfa_done:
        return None
    return web, web.user


async def mfa_form(request: Request) -> Response:
    """GET /sign-in/mfa."""
    if _pending_user(request) is None:
        return RedirectResponse("/sign-in", status_code=303)
    return _page(request, "auth/mfa.html", {})


async def _second_factor(request: Request, *, enrol: bool) -> Response:
    pending = _pending_user(request)
    if pending is None:
        return RedirectResponse("/sign-in", status_code=303)
    web, user = pending
    form = await request.form()
    code = str(form.get("code", ""))[:64]
    target = _safe_next(request.query_params.get("next"))
    skip_request_audit()
    if not await web.users.verify_second_factor(user, code):
        await _audit(
            request, "mfa-failed", user=user, status=401, reason="wrong authentication code"
        )
        template = "auth/enrol.html" if enrol else "auth/mfa.html"
        context: dict[str, Any] = {"errors": [("code", "Enter a correct authentication code")]}
        if enrol:
            context |= _enrol_context(user)
        return _page(request, template, context, status=401)
    # A fresh session id once fully signed in (no session fixation).
    assert web.cookie is not None
    await web.sessions.end(web.cookie)
    client = request.client
    cookie, fresh = await web.sessions.create(
        user.username, mfa_done=True, source_ip=client.host if client else None
    )
    await _audit(request, "login", user=user)
    if enrol:
        codes = await web.users.new_recovery_codes(user.username)
        response = _page(
            request,
            "auth/recovery_codes.html",
            # The page already belongs to the new session: its token, signed in.
            {"codes": codes, "next": target, "csrf_token": fresh.csrf_token, "signed_in": True},
        )
    else:
        response = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, response, cookie)
    return response


async def mfa_submit(request: Request) -> Response:
    """POST /sign-in/mfa."""
    return await _second_factor(request, enrol=False)


def _enrol_context(user: User) -> dict[str, Any]:
    assert user.totp_secret is not None
    uri = mfa.provisioning_uri(user.totp_secret, user.username)
    return {"qr_svg": mfa.qr_svg(uri), "secret": user.totp_secret}


async def enrol_form(request: Request) -> Response:
    """GET /sign-in/enrol: the QR code of the user's (not yet confirmed) TOTP secret."""
    pending = _pending_user(request)
    if pending is None or pending[1].mfa_enrolled or pending[1].totp_secret is None:
        return RedirectResponse("/sign-in", status_code=303)
    return _page(request, "auth/enrol.html", _enrol_context(pending[1]))


async def enrol_submit(request: Request) -> Response:
    """POST /sign-in/enrol: confirm with a first code; shows the recovery codes once."""
    pending = _pending_user(request)
    if pending is None or pending[1].mfa_enrolled:
        return RedirectResponse("/sign-in", status_code=303)
    return await _second_factor(request, enrol=True)


async def sign_out(request: Request) -> Response:
    """POST /sign-out (and /sign-out-everywhere: every session of the user)."""
    web = web_session(request)
    everywhere = request.url.path.endswith("everywhere")
    if web.user is not None and web.cookie:
        if everywhere:
            await web.users.end_sessions(web.user.username)
        else:
            await web.sessions.end(web.cookie)
        skip_request_audit()
        await _audit(request, "logout", user=web.user, reason="everywhere" if everywhere else None)
    response = _page(request, "auth/signed_out.html", {"signed_in": False})
    _clear_session_cookie(request, response)
    return response


@login_required
async def break_glass_form(request: Request) -> Response:
    """GET /break-glass/{patient_id}: the warning and the Reason field."""
    patient_id = request.path_params["patient_id"]
    if not _valid_patient(request):
        return Response("Not found", status_code=404)
    web = web_session(request)
    return _page(
        request,
        "auth/break_glass.html",
        {"patient_id": patient_id, "minutes": web.settings.break_glass_minutes, "reason": ""},
    )


@login_required
async def break_glass_submit(request: Request) -> Response:
    """POST /break-glass/{patient_id}: record the reason, open the record for a while."""
    patient_id = request.path_params["patient_id"]
    if not _valid_patient(request):
        return Response("Not found", status_code=404)
    web = web_session(request)
    form = await request.form()
    reason = str(form.get("reason", ""))[:2000]
    principal: Principal = current_principal()
    note_patient(patient_id)
    try:
        grant = await break_glass.open_record(
            web.repository, principal, patient_id, reason, minutes=web.settings.break_glass_minutes
        )
    except WardbookError as error:
        return _page(
            request,
            "auth/break_glass.html",
            {
                "patient_id": patient_id,
                "minutes": web.settings.break_glass_minutes,
                "reason": reason,
                "errors": [("reason", error.message)],
            },
            status=400,
        )
    skip_request_audit()
    await _audit(request, "break-glass", patient=patient_id, reason=grant.reason, now=True)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


def _valid_patient(request: Request) -> bool:
    return is_valid_id(request.path_params.get("patient_id", ""))


def auth_routes() -> list[Route]:
    """The routes to add to the web app."""
    return [
        Route("/sign-in", sign_in_form, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-in/mfa", mfa_form, methods=["GET"]),
        Route("/sign-in/mfa", mfa_submit, methods=["POST"]),
        Route("/sign-in/enrol", enrol_form, methods=["GET"]),
        Route("/sign-in/enrol", enrol_submit, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/sign-out-everywhere", sign_out, methods=["POST"]),
        Route("/break-glass/{patient_id:str}", break_glass_form, methods=["GET"]),
        Route("/break-glass/{patient_id:str}", break_glass_submit, methods=["POST"]),
    ]
