"""The web app's session layer: who is signed in, CSRF checks, and the Principal binding.

:class:`WebSessionMiddleware` wraps the web (non-FHIR) application. For each request it
loads the session named by the ``wardbook_session`` cookie (idle and absolute timeouts,
see wardbook.auth.sessions), binds the signed-in user's Principal with ``acting_as`` for
the request, and refuses state-changing requests (POST, PUT, PATCH, DELETE) whose CSRF
token does not match (403): the synchronizer token of the session, or -- before sign-in --
an HMAC of a pre-session cookie (ASVS 5.0 V3.5). Forms carry the token in a hidden
``csrf_token`` field; scripts may send ``X-CSRF-Token``. A cross-site ``Origin`` is refused
too. Web routes use :func:`login_required` (or :func:`signed_in_user`). A user whose
password an admin reset (``must_change_password``) is sent to ``/account/password`` from
every other signed-in page until they have changed it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wardbook.auth import break_glass
from wardbook.auth.principal import LOCAL_DEVELOPER, Principal, acting_as
from wardbook.auth.sessions import Session, SessionStore
from wardbook.auth.users import User, UserStore
from wardbook.config import Settings, is_loopback
from wardbook.storage.base import Repository

SESSION_COOKIE = "wardbook_session"
PRE_SESSION_COOKIE = "wardbook_presession"
MAX_FORM_BYTES = 1024 * 1024
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SCOPE_KEY = "wardbook.web_session"
# Pages anyone may see; every other web page needs a signed-in user (deny by default).
# The user manual holds no patient data and explains how to sign in, so it is public too.
PUBLIC_PREFIXES = ("/sign-in", "/sign-out", "/static/", "/help/accessibility", "/manual")
ANONYMOUS = Principal(kind="user", subject="anonymous")
CHANGE_PAGE = "/account/password"  # "Change your password"
# While a password change is forced (an admin reset), a signed-in user reaches only these
# besides the public pages: the change page itself, its stylesheets and "Stay signed in".
_DURING_FORCED_CHANGE = (CHANGE_PAGE, "/static/", "/session/keepalive")


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


@dataclass(slots=True)
class WebSession:
    """What the middleware found for this request (in ``scope['wardbook.web_session']``)."""

    settings: Settings
    repository: Repository
    sessions: SessionStore
    users: UserStore
    cookie: str | None = None
    session: Session | None = None
    user: User | None = None
    pre_session: str | None = None
    new_pre_session: bool = False

    @property
    def signed_in(self) -> bool:
        """Password and (where required) second factor done."""
        return self.session is not None and self.user is not None and self.session.mfa_done

    @property
    def must_change_password(self) -> bool:
        """Signed in, but the password was reset by an admin and must be changed first."""
        return self.signed_in and self.user is not None and self.user.must_change_password

    @property
    def csrf_token(self) -> str:
        if self.session is not None:
            return self.session.csrf_token
        if self.pre_session is None:
            raise RuntimeError("internal error: self.pre_session is missing")
        return pre_session_token(self.settings.secret_key, self.pre_session)


def pre_session_token(secret: str, pre_session: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + pre_session.encode(), hashlib.sha256).hexdigest()


def secure_cookies(settings: Settings, scope: Scope) -> bool:
    """Secure cookies everywhere except plain HTTP on a loopback address (development)."""
    if scope.get("scheme") == "https" or (settings.public_url or "").startswith("https://"):
        return True
    if settings.tls_terminated:
        return True
    server = scope.get("server")
    host = str(server[0]) if server else settings.host
    return not (is_loopback(host) or host == "testserver")


def cookie_header(
    name: str, value: str, *, secure: bool, max_age: int | None = None, same_site: str = "Lax"
) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 - malformed cookies are ignored  # nosec B112
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


class WebSessionMiddleware:
    """Loads the session, binds the Principal, enforces CSRF (see module docstring)."""

    def __init__(self, app: ASGIApp, repository: Repository, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.repository = repository
        self.sessions = SessionStore(
            repository,
            idle_minutes=settings.session_idle_minutes,
            absolute_minutes=settings.session_absolute_minutes,
        )
        self.users = UserStore(repository)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/livez", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        web = WebSession(self.settings, self.repository, self.sessions, self.users)
        web.cookie = cookies.get(SESSION_COOKIE)
        if web.cookie:
            web.session = await self.sessions.load(web.cookie)
            if web.session is not None:
                web.user = await self.users.get(web.session.username)
                if web.user is None or web.user.disabled:
                    web.session = web.user = None
        if web.session is None:
            web.pre_session = cookies.get(PRE_SESSION_COOKIE)
            if not web.pre_session or len(web.pre_session) > 100:
                web.pre_session = secrets.token_urlsafe(24)
                web.new_pre_session = True
        scope[SCOPE_KEY] = web

        if not (web.signed_in or self.settings.no_auth or is_public(scope["path"])):
            target = quote(scope["path"], safe="/")
            await RedirectResponse(f"/sign-in?next={target}", status_code=303)(scope, receive, send)
            return

        if web.must_change_password and not (
            is_public(scope["path"]) or scope["path"].startswith(_DURING_FORCED_CHANGE)
        ):
            target = quote(scope["path"], safe="/")
            redirect = RedirectResponse(f"{CHANGE_PAGE}?next={target}", status_code=303)
            await redirect(scope, receive, send)
            return

        if scope["method"] in _UNSAFE:
            receive, refusal = await self._check_csrf(scope, receive, web)
            if refusal is not None:
                await refusal(scope, receive, send)
                return

        secure = secure_cookies(self.settings, scope)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and web.new_pre_session:
                headers = list(message.get("headers") or ())
                if web.pre_session is None:
                    raise RuntimeError("internal error: web.pre_session is missing")
                headers.append(
                    (
                        b"set-cookie",
                        cookie_header(
                            PRE_SESSION_COOKIE, web.pre_session, secure=secure, same_site="Strict"
                        ).encode("latin-1"),
                    )
                )
                message["headers"] = headers
            await send(message)

        principal = await self._principal(scope, web)
        with acting_as(principal):
            await self.app(scope, receive, send_with_cookie)

    async def password_change_pending(self, scope: Scope) -> bool:
        """True when the request's session cookie is a signed-in user who must change password.

        The FHIR API answers such a browser 403 (see wardbook.auth.middleware) instead of
        the usual 401, so a script riding the web session learns what to do.
        """
        cookie = _cookies(scope).get(SESSION_COOKIE)
        if not cookie or len(cookie) > 100:
            return False
        session = await self.sessions.load(cookie)
        if session is None or not session.mfa_done:
            return False
        user = await self.users.get(session.username)
        return user is not None and not user.disabled and user.must_change_password

    async def _principal(self, scope: Scope, web: WebSession) -> Principal:
        if web.signed_in and web.user is not None and web.session is not None:
            client = scope.get("client")
            glass = await break_glass.active_grants(self.repository, web.user.username)
            return web.user.principal(
                session_id=web.session.session_hash[:16],
                source_ip=str(client[0]) if client else None,
                break_glass_patients=glass,
            )
        if self.settings.no_auth:
            return LOCAL_DEVELOPER
        return ANONYMOUS

    async def _check_csrf(
        self, scope: Scope, receive: Receive, web: WebSession
    ) -> tuple[Receive, ASGIApp | None]:
        """Refuse cross-site posts: Fetch Metadata when the browser sends it, else the token.

        A cross-site ``Origin`` or ``Sec-Fetch-Site`` is always refused. Browsers send
        ``Sec-Fetch-Site: same-origin`` on their own forms (it cannot be forged from another
        site), which suffices; without it the synchronizer token must match.
        """
        refused = PlainTextResponse(
            "The form has expired or did not come from this site: go back and try again",
            status_code=403,
        )
        origin = _header(scope, b"origin")
        host = _header(scope, b"host")
        if origin and origin != "null" and host and origin.split("://", 1)[-1] != host:
            return receive, refused
        site = _header(scope, b"sec-fetch-site")
        if site is not None:
            return receive, (None if site in ("same-origin", "none") else refused)
        token = _header(scope, b"x-csrf-token")
        if token is None:
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if len(body) > MAX_FORM_BYTES:
                    return receive, PlainTextResponse("Form too large", status_code=413)
                if not message.get("more_body", False):
                    break
            content_type = _header(scope, b"content-type") or ""
            if content_type.startswith("application/x-www-form-urlencoded"):
                for name, value in parse_qsl(body.decode("utf-8", "replace")):
                    if name == "csrf_token":
                        token = value
                        break
            replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
            original = receive

            async def replayed() -> Message:
                if replay:
                    return replay.pop()
                return await original()

            receive = replayed
        if token is None or not hmac.compare_digest(token, web.csrf_token):
            return receive, refused
        return receive, None


def web_session(request: Request) -> WebSession:
    """The WebSession the middleware stored for this request."""
    web: WebSession = request.scope[SCOPE_KEY]
    return web


def signed_in_user(request: Request) -> User | None:
    """The signed-in user, or None (also None under --no-auth)."""
    web = request.scope.get(SCOPE_KEY)
    if isinstance(web, WebSession) and web.signed_in:
        return web.user
    return None


def csrf_token(request: Request) -> str:
    """The token to put in every form's hidden ``csrf_token`` field."""
    web = request.scope.get(SCOPE_KEY)
    return web.csrf_token if isinstance(web, WebSession) else ""


Endpoint = Callable[[Request], Awaitable[Response]]


def login_required(endpoint: Endpoint) -> Endpoint:
    """Redirect to the sign-in page unless a user is signed in (or auth is disabled)."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        web = request.scope.get(SCOPE_KEY)
        allowed = isinstance(web, WebSession) and (web.signed_in or web.settings.no_auth)
        if not allowed:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
        return await endpoint(request)

    return guarded
