"""Sign-in, second factor, authenticator enrolment, password change and sign-out pages.

Accessible names follow INTERFACES.md ("Username", "Password", "Sign in"; "Authentication
code", "Continue"; "Sign out"). Every sign-in, failure, password change and sign-out is
written as its own AuditEvent (wardbook.audit.events). Break-the-glass is a patient page
(web/break_glass.py).
"""

from __future__ import annotations

import functools
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from wardbook.audit.records import AuditKind, AuditRecord, skip_request_audit
from wardbook.audit.writer import AuditSink
from wardbook.auth import mfa
from wardbook.auth.passwords import MIN_LENGTH, normalize, password_problems
from wardbook.auth.principal import current_principal
from wardbook.auth.users import SignInFailed, User
from wardbook.web.assets import default_assets
from wardbook.web.forms import FormErrors
from wardbook.web.session import (
    CHANGE_PAGE,
    SESSION_COOKIE,
    WebSession,
    cookie_header,
    secure_cookies,
    web_session,
)
from wardbook.web.templating import Renderer


@functools.cache
def _renderer() -> Renderer:
    """The web app's renderer (its design system and base template)."""
    return Renderer(default_assets())


def _safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirect to //evil.example or https://...)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    web = web_session(request)
    errors = FormErrors()
    for field_id, message in context.pop("errors", []):
        errors.add(field_id, message)
    values = {
        "signed_in": web.signed_in,
        "errors": errors,
        "values": {},
        "next": _safe_next(request.query_params.get("next")),
        **context,
    }
    return _renderer().page(request, name, values, status=status)


def _writer(request: Request) -> AuditSink:
    writer: AuditSink = request.app.state.audit_writer
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
        {"next": _safe_next(request.query_params.get("next"))},
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
                "values": {"username": username},
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
        response = RedirectResponse(_after_sign_in(user, target), status_code=303)
    _set_session_cookie(request, response, cookie)
    return response


def _after_sign_in(user: User, target: str) -> str:
    """Where a fully signed-in user goes: the forced password change first, if one is due."""
    if user.must_change_password:
        return f"{CHANGE_PAGE}?next={quote(target, safe='/')}"
    return target


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
    if web.cookie is None:
        raise RuntimeError("internal error: web.cookie is missing")
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
            {
                "codes": codes,
                "next": target,
                "csrf_token": fresh.csrf_token,
                "signed_in": True,
                "principal": user.principal(),
            },
        )
    else:
        response = RedirectResponse(_after_sign_in(user, target), status_code=303)
    _set_session_cookie(request, response, cookie)
    return response


async def mfa_submit(request: Request) -> Response:
    """POST /sign-in/mfa."""
    return await _second_factor(request, enrol=False)


def _enrol_context(user: User) -> dict[str, Any]:
    if user.totp_secret is None:
        raise RuntimeError("internal error: user.totp_secret is missing")
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


# -- changing one's own password (ASVS 5.0 V6.2.2/V6.2.3; NIST 800-63B 3.1.1.2) -------------


_WRONG_CURRENT = "Your current password is not correct"


def _password_page(
    request: Request,
    web: WebSession,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    return _page(
        request,
        "auth/change_password.html",
        {
            "errors": errors or [],
            "forced": web.must_change_password,
            "min_length": MIN_LENGTH,
        },
        status=status,
    )


async def password_form(request: Request) -> Response:
    """GET /account/password: current password, new password, confirmation."""
    web = web_session(request)
    if not web.signed_in:
        return RedirectResponse(f"/sign-in?next={CHANGE_PAGE}", status_code=303)
    return _password_page(request, web)


async def _password_errors(
    web: WebSession, user: User, current: str, new: str, confirm: str
) -> list[tuple[str, str]]:
    """Form errors in field order; the current password is checked (and counted) if given."""
    errors: list[tuple[str, str]] = []
    if not current:
        errors.append(("current-password", "Enter your current password"))
    elif not await web.users.check_current_password(user, current):
        errors.append(("current-password", _WRONG_CURRENT))
    if not new:
        errors.append(("new-password", "Enter a new password"))
    else:
        # The same rules as `wardbook user add` and `reset-password` (auth/passwords.py).
        problems = password_problems(new, username=user.username)
        if not problems and current and normalize(new) == normalize(current):
            problems = ["Your new password must be different from your current password"]
        if problems:
            errors.append(("new-password", "; ".join(problems)))
    if new and not confirm:
        errors.append(("confirm-password", "Confirm your new password"))
    elif new and confirm != new:
        errors.append(("confirm-password", "The new passwords do not match: type it again"))
    return errors


async def password_submit(request: Request) -> Response:
    """POST /account/password: change it, end every other session, keep this browser in."""
    web = web_session(request)
    if not web.signed_in or web.user is None or web.cookie is None:
        return RedirectResponse(f"/sign-in?next={CHANGE_PAGE}", status_code=303)
    user = web.user
    form = await request.form()
    current = str(form.get("current_password", ""))[:1000]
    new = str(form.get("new_password", ""))[:1000]
    confirm = str(form.get("confirm_password", ""))[:1000]
    skip_request_audit()
    errors = await _password_errors(web, user, current, new, confirm)
    if errors:
        wrong_current = ("current-password", _WRONG_CURRENT) in errors
        await _audit(
            request,
            "password-change",
            user=user,
            status=401 if wrong_current else 400,
            reason="wrong current password" if wrong_current else "new password refused",
        )
        return _password_page(request, web, errors, status=401 if wrong_current else 400)
    # set_password re-hashes with today's argon2id parameters, clears must_change_password
    # and ends every session of the user (800-63B: other sessions of a changed secret end).
    await web.users.set_password(user.username, new)
    client = request.client
    cookie, _ = await web.sessions.create(
        user.username, mfa_done=True, source_ip=client.host if client else None
    )
    await _audit(request, "password-change", user=user, reason="password changed by its user")
    target = _safe_next(request.query_params.get("next"))
    response = RedirectResponse(
        f"{CHANGE_PAGE}/changed?next={quote(target, safe='/')}", status_code=303
    )
    _set_session_cookie(request, response, cookie)
    return response


async def password_changed(request: Request) -> Response:
    """GET /account/password/changed: the confirmation, with a link on to where they were."""
    return _page(request, "auth/password_changed.html", {})


def auth_routes() -> list[Route]:
    """The routes to add to the web app."""
    return [
        Route("/sign-in", sign_in_form, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-in/mfa", mfa_form, methods=["GET"]),
        Route("/sign-in/mfa", mfa_submit, methods=["POST"]),
        Route("/sign-in/enrol", enrol_form, methods=["GET"]),
        Route("/sign-in/enrol", enrol_submit, methods=["POST"]),
        Route(CHANGE_PAGE, password_form, methods=["GET"]),
        Route(CHANGE_PAGE, password_submit, methods=["POST"]),
        Route(CHANGE_PAGE + "/changed", password_changed, methods=["GET"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/sign-out-everywhere", sign_out, methods=["POST"]),
    ]
