"""HTTP endpoints of the SMART authorization server (Starlette routes).

``/.well-known/smart-configuration`` (also under ``/fhir``), ``/oauth2/authorize``
(GET or POST, SMART ``authorize-post``; renders the consent page with "Allow" and "Deny"
and a patient picker), ``/oauth2/token``, ``/oauth2/introspect`` (RFC 7662),
``/oauth2/revoke`` (RFC 7009) and ``/oauth2/jwks``.

The user of the consent page is the web session's principal (bound by the web app's
session middleware); a request without one is sent to the sign-in page and comes back.
With ``serve --no-auth`` the local developer counts as signed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wardbook.api.http import base_url
from wardbook.auth.clients import ClientAuthenticator, OAuthError
from wardbook.auth.discovery import (
    AUTHORIZE_PATH,
    INTROSPECT_PATH,
    JWKS_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    endpoints,
    origin_of,
    smart_configuration,
)
from wardbook.auth.grants import Grants, Urls
from wardbook.auth.keys import now_seconds
from wardbook.auth.principal import Principal, current_principal
from wardbook.auth.scopes import ScopeError, ScopeSet, narrow, parse_resource_scope, split_scope
from wardbook.auth.smart import SmartAuth
from wardbook.auth.tokens import Grant, TokenInvalid
from wardbook.errors import WardbookError
from wardbook.fhir import jsonio
from wardbook.search.parse import parse_search
from wardbook.service.resources import ResourceService
from wardbook.storage.oauth_store import ClientRecord

LOGIN_PATH = "/sign-in"
REQUEST_TYP = "wardbook-authz+jwt"
REQUEST_LIFETIME = 600
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_LETTER_WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_OTHER_WORDS = {
    "openid": "confirm who you are",
    "fhirUser": "know which clinician record is yours",
    "profile": "see your name",
    "launch": "know the patient and encounter open in Wardbook",
    "launch/patient": "know which patient you choose",
    "launch/encounter": "know which encounter is open",
    "offline_access": "keep access after you sign out, until you revoke it",
    "online_access": "keep access while you are signed in",
}


def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("wardbook", "web/templates"),
        autoescape=select_autoescape(["html"]),
    )


def describe_scope(text: str) -> str:
    """Plain-language text of one scope for the consent page."""
    if text in _OTHER_WORDS:
        return _OTHER_WORDS[text]
    try:
        scope = parse_resource_scope(text)
    except ScopeError:
        return text
    verbs = ", ".join(_LETTER_WORDS[letter] for letter in "cruds" if letter in scope.letters)
    what = "all record types" if scope.resource_type == "*" else scope.resource_type
    whose = {
        "patient": "for the chosen patient",
        "user": "that you can access",
        "system": "for the whole system",
    }[scope.context]
    narrowed = f" where {'&'.join(f'{k}={v}' for k, v in scope.query)}" if scope.query else ""
    return f"{verbs} {what}{narrowed} {whose}"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, carried through the consent page signed."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    nonce: str | None
    patient: str | None
    encounter: str | None
    need_patient: bool
    user: str

    def to_claims(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scopes": list(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "nonce": self.nonce,
            "patient": self.patient,
            "encounter": self.encounter,
            "need_patient": self.need_patient,
            "user": self.user,
        }


class _PageError(Exception):
    """An error shown to the user (the redirect URI cannot be trusted yet)."""


class SmartEndpoints:
    """The authorization server's routes, sharing one :class:`SmartAuth`."""

    def __init__(self, auth: SmartAuth, service: ResourceService) -> None:
        self.auth = auth
        self.service = service
        self.grants = Grants(auth)
        self.clients = ClientAuthenticator(auth.store)
        self.templates = _templates()

    def browser_routes(self) -> list[Route]:
        """The pages a signed-in user sees: they belong behind the web session layer."""
        return [Route(AUTHORIZE_PATH, self.authorize, methods=["GET", "POST"])]

    def machine_routes(self) -> list[Route]:
        """Endpoints apps call directly, authenticated per request, never by cookie (so
        they sit outside the web session and its CSRF checks)."""
        return [
            Route("/.well-known/smart-configuration", self.configuration, methods=["GET"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route(INTROSPECT_PATH, self.introspect, methods=["POST"]),
            Route(REVOKE_PATH, self.revoke, methods=["POST"]),
            Route(JWKS_PATH, self.jwks, methods=["GET"]),
        ]

    def _urls(self, request: Request) -> Urls:
        fhir = base_url(request, self.auth.settings.base_url)
        return Urls(issuer=origin_of(fhir), fhir_base=fhir)

    # -- discovery -------------------------------------------------------------------------

    async def configuration(self, request: Request) -> Response:
        fhir = base_url(request, self.auth.settings.base_url)
        return JSONResponse(smart_configuration(fhir), headers={"Cache-Control": "max-age=300"})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(await self.auth.keys.jwks(), headers={"Cache-Control": "max-age=60"})

    # -- authorization endpoint ------------------------------------------------------------

    def _signed_in(self) -> Principal | None:
        principal = current_principal()
        if principal.kind == "user":
            return principal
        if principal.unrestricted and self.auth.settings.no_auth:
            return principal  # serve --no-auth: the local developer
        return None

    def _page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(f"oauth/{name}.html").render(**context)
        return HTMLResponse(html, status_code=status, headers=_NO_STORE)

    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            if "request" in form:
                return await self._decide(request, form)
            params = form
        else:
            params = dict(request.query_params)
            if "request" in params:
                return await self._consent_from_token(request, params)
        try:
            client, redirect_uri = await self._client_and_redirect(params)
        except _PageError as error:
            return self._page("error", 400, message=str(error))
        state = params.get("state")
        try:
            user = self._signed_in()
            if user is None:
                target = f"{AUTHORIZE_PATH}?{urlencode(params)}"
                return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': target})}", 303)
            authz = await self._validate(request, params, client, redirect_uri, user)
        except OAuthError as error:
            return _redirect_error(redirect_uri, error.error, error.description, state)
        return await self._consent(request, authz, user, patient_search="")

    async def _client_and_redirect(self, params: dict[str, str]) -> tuple[ClientRecord, str]:
        client_id = params.get("client_id")
        if not client_id:
            raise _PageError("The request does not name the app (client_id is missing).")
        client = await self.auth.store.get_client(client_id)
        if client is None or client.client_type == "backend":
            raise _PageError("The app is not registered with Wardbook.")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise _PageError("The app's redirect address is not the one registered for it.")
        return client, redirect_uri

    async def _validate(
        self,
        request: Request,
        params: dict[str, str],
        client: ClientRecord,
        redirect_uri: str,
        user: Principal,
    ) -> AuthorizationRequest:
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        challenge = params.get("code_challenge")
        if not challenge or params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        if len(challenge) != 43:
            raise OAuthError("invalid_request", "code_challenge must be a base64url SHA-256")
        fhir = base_url(request, self.auth.settings.base_url)
        aud = params.get("aud")
        if aud is None or aud.rstrip("/") != fhir:
            raise OAuthError("invalid_request", f"aud must be this FHIR server: {fhir}")
        try:
            requested = split_scope(params.get("scope"))
            scopes = narrow(requested, split_scope(client.scope))
        except ScopeError as error:
            raise OAuthError("invalid_scope", str(error)) from error
        if any(s.startswith("system/") for s in scopes):
            raise OAuthError("invalid_scope", "system/ scopes are for backend services")
        if not ScopeSet.parse(scopes).resource and "openid" not in scopes:
            raise OAuthError("invalid_scope", "no requested scope can be granted to this app")
        patient = encounter = None
        launch = params.get("launch")
        if launch is not None:
            try:
                context = await self.auth.tokens.verify(launch, "wardbook-launch+jwt")
            except TokenInvalid as error:
                raise OAuthError("invalid_request", "the launch context is not valid") from error
            if context.get("typ_") is not None:
                raise OAuthError("invalid_request", "the launch context is not valid")
            launched_by = context.get("user")
            if launched_by is not None and launched_by != user.subject:
                raise OAuthError("invalid_request", "the launch belongs to another user")
            patient, encounter = context.get("patient"), context.get("encounter")
            if "launch" not in scopes:
                scopes.append("launch")
        elif "launch" in scopes:
            raise OAuthError("invalid_request", "scope launch needs the launch parameter")
        need_patient = "launch/patient" in scopes and patient is None
        if patient is None and any(s.startswith("patient/") for s in scopes):
            need_patient = True
        return AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes),
            state=params.get("state"),
            code_challenge=challenge,
            nonce=params.get("nonce"),
            patient=patient,
            encounter=encounter,
            need_patient=need_patient,
            user=user.subject,
        )

    async def _consent(
        self,
        request: Request,
        authz: AuthorizationRequest,
        user: Principal,
        *,
        patient_search: str,
        error: str | None = None,
    ) -> Response:
        token = await self.auth.tokens.launch_id(
            {"typ_": REQUEST_TYP, **authz.to_claims()}, REQUEST_LIFETIME
        )
        patients: list[dict[str, str]] = []
        if authz.need_patient:
            patients = await self._find_patients(patient_search)
        patient_label = None
        if authz.patient is not None:
            patient_label = await self._patient_label(authz.patient)
        # The user decides by the app's registered name (RFC 7591 client_name) when it has one.
        client = await self.auth.store.get_client(authz.client_id)
        return self._page(
            "consent",
            client_id=authz.client_id,
            client_name=client.name if client is not None else None,
            username=user.subject,
            descriptions=[describe_scope(s) for s in authz.scopes],
            need_patient=authz.need_patient,
            patients=patients,
            patient_search=patient_search,
            patient_label=patient_label,
            request_token=token,
            action=AUTHORIZE_PATH,
            picker_action=AUTHORIZE_PATH,
            error=error,
            csrf_token=_csrf_token(request),
        )

    async def _request_from(self, token: str, user: Principal) -> AuthorizationRequest:
        try:
            claims = await self.auth.tokens.verify(token, "wardbook-launch+jwt")
        except TokenInvalid as error:
            raise _PageError("This page has expired. Start the app again.") from error
        if claims.get("typ_") != REQUEST_TYP or claims.get("user") != user.subject:
            raise _PageError("This page was not made for you. Start the app again.")
        return AuthorizationRequest(
            client_id=claims["client_id"],
            redirect_uri=claims["redirect_uri"],
            scopes=tuple(claims["scopes"]),
            state=claims.get("state"),
            code_challenge=claims["code_challenge"],
            nonce=claims.get("nonce"),
            patient=claims.get("patient"),
            encounter=claims.get("encounter"),
            need_patient=bool(claims.get("need_patient")),
            user=claims["user"],
        )

    async def _consent_from_token(self, request: Request, params: dict[str, str]) -> Response:
        user = self._signed_in()
        if user is None:
            return self._page(
                "error", 401, message="Sign in to Wardbook, then start the app again."
            )
        try:
            authz = await self._request_from(params["request"], user)
        except _PageError as error:
            return self._page("error", 400, message=str(error))
        return await self._consent(
            request, authz, user, patient_search=params.get("patient_search", "")[:200]
        )

    async def _decide(self, request: Request, form: dict[str, str]) -> Response:
        user = self._signed_in()
        if user is None:
            return self._page(
                "error", 401, message="Sign in to Wardbook, then start the app again."
            )
        try:
            authz = await self._request_from(form["request"], user)
        except _PageError as error:
            return self._page("error", 400, message=str(error))
        if form.get("decision") != "allow":
            return _redirect_error(
                authz.redirect_uri, "access_denied", "the user denied access", authz.state
            )
        patient = authz.patient
        if authz.need_patient:
            chosen = form.get("patient")
            if not chosen or await self._patient_label(chosen) is None:
                return await self._consent(
                    request, authz, user, patient_search="", error="Select a patient"
                )
            patient = chosen
        client = await self.auth.store.get_client(authz.client_id)
        if client is None:
            return self._page("error", 400, message="The app is no longer registered.")
        # The app acts for the signed-in user: their roles and wards travel in the token.
        # Under --no-auth there is no real user: the app is limited by its scopes alone.
        grant = Grant(
            kind="user" if user.kind == "user" else "client",
            subject=user.subject,
            client_id=client.client_id,
            scopes=authz.scopes,
            patient=patient,
            encounter=authz.encounter,
            fhir_user=user.fhir_user,
            roles=tuple(sorted(user.roles)) if user.kind == "user" else (),
            extra={"wards": sorted(user.wards)} if user.wards else {},
        )
        code = await self.grants.issue_code(
            client,
            authz.redirect_uri,
            authz.code_challenge,
            grant,
            nonce=authz.nonce,
            auth_time=now_seconds(),
        )
        query = {"code": code}
        if authz.state is not None:
            query["state"] = authz.state
        return RedirectResponse(_with_query(authz.redirect_uri, query), 303)

    async def _find_patients(self, text: str) -> list[dict[str, str]]:
        params = [("_count", "20")] + ([("name", text)] if text.strip() else [])
        try:
            page = await self.service.search(parse_search("Patient", params, strict=False))
        except WardbookError:
            return []
        out = []
        for entry in page.entries:
            if entry.body is not None:
                out.append({"id": entry.id, "label": _patient_name(jsonio.loads(entry.body))})
        return out

    async def _patient_label(self, patient_id: str) -> str | None:
        try:
            stored = await self.service.read("Patient", patient_id)
        except WardbookError:
            return None
        return None if stored.body is None else _patient_name(jsonio.loads(stored.body))

    # -- token, introspection, revocation --------------------------------------------------

    async def _form(self, request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise OAuthError("invalid_request", "send application/x-www-form-urlencoded")
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def token(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            urls = self._urls(request)
            token_url = endpoints(urls.fhir_base)["token"]
            client = await self.clients.authenticate(
                form, request.headers.get("authorization"), token_url
            )
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                body = await self.grants.exchange_code(client, form, urls)
            elif grant_type == "refresh_token":
                body = await self.grants.refresh(client, form, urls)
            elif grant_type == "client_credentials":
                body = await self.grants.client_credentials(client, form, urls)
            else:
                raise OAuthError(
                    "unsupported_grant_type", f"grant_type {grant_type} is not supported"
                )
        except OAuthError as error:
            return _oauth_error(error)
        return JSONResponse(body, headers=_NO_STORE)

    async def introspect(self, request: Request) -> Response:
        """RFC 7662: callers authenticate as a client, or with an access token of their own."""
        try:
            form = await self._form(request)
            authorization = request.headers.get("authorization") or ""
            if authorization.lower().startswith("bearer "):
                try:
                    await self.auth.principal_for(authorization[7:].strip())
                except WardbookError as error:
                    raise OAuthError(
                        "invalid_token", "the caller's token is not valid", 401
                    ) from error
            else:
                urls = self._urls(request)
                await self.clients.authenticate(
                    form, authorization, endpoints(urls.fhir_base)["token"]
                )
            token = form.get("token")
            if not token:
                raise OAuthError("invalid_request", "the token parameter is required")
            body = await self.grants.introspect(token)
        except OAuthError as error:
            return _oauth_error(error)
        return JSONResponse(body, headers=_NO_STORE)

    async def revoke(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            urls = self._urls(request)
            client = await self.clients.authenticate(
                form, request.headers.get("authorization"), endpoints(urls.fhir_base)["token"]
            )
            token = form.get("token")
            if not token:
                raise OAuthError("invalid_request", "the token parameter is required")
            await self.grants.revoke(client, token)
        except OAuthError as error:
            return _oauth_error(error)
        return Response(status_code=200, headers=_NO_STORE)


def _csrf_token(request: Request) -> str:
    """The web session's CSRF token for the consent form (set by the web session layer)."""
    web = request.scope.get("wardbook.web_session")
    try:
        token = getattr(web, "csrf_token", "") if web is not None else ""
    except AssertionError:  # no session and no pre-session cookie yet
        return ""
    return token if isinstance(token, str) else ""


def _patient_name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or []
    label = ""
    if names and isinstance(names[0], dict):
        name = names[0]
        if name.get("text"):
            label = str(name["text"])
        else:
            label = " ".join([*name.get("given", []), name.get("family", "")]).strip()
    birth = patient.get("birthDate")
    label = label or f"Patient {patient.get('id')}"
    return f"{label} (born {birth})" if birth else label


def _with_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def _redirect_error(
    redirect_uri: str, error: str, description: str, state: str | None
) -> RedirectResponse:
    """RFC 6749 4.1.2.1: errors go back to the (validated) redirect URI."""
    params = {"error": error, "error_description": description}
    if state is not None:
        params["state"] = state
    return RedirectResponse(_with_query(redirect_uri, params), 303)


def _oauth_error(error: OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="wardbook"'
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=headers,
    )


def smart_configuration_json(fhir_base: str) -> bytes:
    return json.dumps(smart_configuration(fhir_base)).encode()
