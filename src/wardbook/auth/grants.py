"""The OAuth2 grants of the SMART authorization server, independent of HTTP.

- Authorization code with PKCE (RFC 6749 4.1, RFC 7636; SMART App Launch 2.0
  app-launch.html): S256 only; the code is single-use, lives 60 seconds, is bound to the
  client, the redirect URI and the code challenge. A second use of a code revokes what the
  first use issued (RFC 6749 4.1.2).
- Refresh tokens (RFC 6749 6) with rotation: each use returns a new refresh token and
  retires the old one; presenting a retired one again revokes the whole family (the
  sign of a stolen token, OAuth 2.0 Security BCP 4.14.2). A refresh may narrow the scopes,
  never widen them.
- Client credentials for SMART Backend Services (backend-services.html): ``system/``
  scopes only, the client authenticated by ``private_key_jwt``.
- Token introspection (RFC 7662) and revocation (RFC 7009).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from wardbook.auth.clients import OAuthError
from wardbook.auth.keys import now_seconds
from wardbook.auth.scopes import ScopeError, escalates, narrow, split_scope
from wardbook.auth.smart import SmartAuth
from wardbook.auth.tokens import Grant, TokenInvalid
from wardbook.storage.oauth_store import ClientRecord, CodeRecord, RefreshRecord

CODE_LIFETIME = 60
# RFC 6750 / RFC 7662 token type names, not secrets.
BEARER = "Bearer"  # nosec B105
REFRESH_TOKEN_TYPE = "refresh_token"  # noqa: S105  # nosec B105
_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def valid_verifier(verifier: str) -> bool:
    """RFC 7636 4.1: 43-128 characters of the unreserved set."""
    return 43 <= len(verifier) <= 128 and set(verifier) <= _VERIFIER_CHARS


@dataclass(frozen=True, slots=True)
class Urls:
    """Where this request's server lives: the OAuth issuer and the FHIR base (``aud``)."""

    issuer: str
    fhir_base: str


class Grants:
    """Issues codes and tokens; every method raises OAuthError with the RFC error code."""

    def __init__(self, auth: SmartAuth) -> None:
        self.auth = auth
        self.store = auth.store
        self.settings = auth.settings

    # -- authorization code ----------------------------------------------------------------

    async def issue_code(
        self,
        client: ClientRecord,
        redirect_uri: str,
        code_challenge: str,
        grant: Grant,
        *,
        nonce: str | None,
        auth_time: int,
    ) -> str:
        code = secrets.token_urlsafe(32)
        now = now_seconds()
        family = secrets.token_urlsafe(16)
        data = grant.to_json()
        data["family_id"] = family
        data["extra"] = {**grant.extra, "nonce": nonce, "auth_time": auth_time}
        await self.store.add_code(
            code,
            CodeRecord(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                grant=data,
                family_id=family,
                expires_at=now + CODE_LIFETIME,
                used_at=None,
            ),
        )
        return code

    async def exchange_code(
        self, client: ClientRecord, form: dict[str, str], urls: Urls
    ) -> dict[str, Any]:
        """grant_type=authorization_code."""
        code = form.get("code")
        verifier = form.get("code_verifier")
        if not code:
            raise OAuthError("invalid_request", "the code parameter is required")
        if not verifier:
            raise OAuthError("invalid_request", "PKCE: code_verifier is required")
        now = now_seconds()
        record, first_use = await self.store.use_code(code, now)
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the authorization code is not valid")
        if not first_use:
            # RFC 6749 4.1.2: a code used twice revokes the tokens issued from it.
            await self.store.revoke_family(
                record.family_id, now, now + self.settings.refresh_token_lifetime
            )
            self.auth.revocations.note(record.family_id)
            raise OAuthError("invalid_grant", "the authorization code was already used")
        if record.expires_at <= now:
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if not valid_verifier(verifier) or not hmac.compare_digest(
            s256(verifier), record.code_challenge
        ):
            raise OAuthError("invalid_grant", "PKCE verification failed")
        grant = Grant.from_json(record.grant)
        return await self._token_response(client, grant, urls, first=True)

    # -- refresh ---------------------------------------------------------------------------

    async def refresh(
        self, client: ClientRecord, form: dict[str, str], urls: Urls
    ) -> dict[str, Any]:
        """grant_type=refresh_token, with rotation and reuse detection."""
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "the refresh_token parameter is required")
        now = now_seconds()
        record = await self.store.get_refresh(token)
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token is not valid")
        if record.revoked_at is not None:
            raise OAuthError("invalid_grant", "the refresh token has been revoked")
        if record.expires_at <= now:
            raise OAuthError("invalid_grant", "the refresh token has expired")
        grant = Grant.from_json(record.grant)
        if "scope" in form:
            requested = split_scope(form["scope"])
            extra = escalates(requested, grant.scopes)
            if extra:
                raise OAuthError("invalid_scope", f"a refresh cannot add scopes: {' '.join(extra)}")
            grant = _with_scopes(grant, requested)
        if not await self.store.use_refresh(token, now):
            # Reuse of a rotated token: whoever holds the family may be an attacker.
            await self.revoke_family(record.family_id)
            raise OAuthError("invalid_grant", "the refresh token was already used")
        return await self._token_response(client, grant, urls, first=False)

    async def revoke_family(self, family_id: str) -> None:
        now = now_seconds()
        await self.store.revoke_family(
            family_id, now, now + max(self.settings.refresh_token_lifetime, 3600)
        )
        self.auth.revocations.note(family_id)

    # -- client credentials ----------------------------------------------------------------

    async def client_credentials(
        self, client: ClientRecord, form: dict[str, str], urls: Urls
    ) -> dict[str, Any]:
        """grant_type=client_credentials (SMART Backend Services)."""
        if client.client_type != "backend":
            raise OAuthError("unauthorized_client", "only backend clients use client_credentials")
        requested = split_scope(form.get("scope"))
        if not requested:
            raise OAuthError("invalid_scope", "a scope is required")
        try:
            if any(not s.startswith("system/") for s in requested):
                raise OAuthError("invalid_scope", "backend services may ask only system/ scopes")
            granted = narrow(requested, split_scope(client.scope))
        except ScopeError as error:
            raise OAuthError("invalid_scope", str(error)) from error
        if not granted:
            raise OAuthError("invalid_scope", "none of the requested scopes is allowed")
        grant = Grant(
            kind="client",
            subject=client.client_id,
            client_id=client.client_id,
            scopes=tuple(granted),
        )
        issued = await self.auth.tokens.access_token(
            grant,
            issuer=urls.issuer,
            audience=urls.fhir_base,
            lifetime=min(self.settings.token_lifetime, 300),
        )
        return {
            "access_token": issued.token,
            "token_type": BEARER,
            "expires_in": issued.expires_at - now_seconds(),
            "scope": " ".join(granted),
        }

    # -- shared ----------------------------------------------------------------------------

    async def _token_response(
        self, client: ClientRecord, grant: Grant, urls: Urls, *, first: bool
    ) -> dict[str, Any]:
        lifetime = self.settings.token_lifetime
        issued = await self.auth.tokens.access_token(
            grant, issuer=urls.issuer, audience=urls.fhir_base, lifetime=lifetime
        )
        body: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": BEARER,
            "expires_in": lifetime,
            "scope": " ".join(grant.scopes),
        }
        if grant.patient is not None:
            body["patient"] = grant.patient
            body["need_patient_banner"] = True
        if grant.encounter is not None:
            body["encounter"] = grant.encounter
        if "openid" in grant.scopes and first:
            body["id_token"] = await self.auth.tokens.id_token(
                grant,
                issuer=urls.issuer,
                lifetime=lifetime,
                nonce=grant.extra.get("nonce"),
                auth_time=grant.extra.get("auth_time"),
            )
        if ("offline_access" in grant.scopes or "online_access" in grant.scopes) and (
            grant.family_id is not None
        ):
            refresh = secrets.token_urlsafe(32)
            now = now_seconds()
            await self.store.add_refresh(
                refresh,
                RefreshRecord(
                    family_id=grant.family_id,
                    client_id=client.client_id,
                    grant=grant.to_json(),
                    issued_at=now,
                    expires_at=now + self.settings.refresh_token_lifetime,
                    used_at=None,
                    revoked_at=None,
                ),
            )
            body["refresh_token"] = refresh
        return body

    # -- introspection and revocation ------------------------------------------------------

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 2.2: ``{"active": false}`` for anything not currently valid."""
        try:
            claims = await self.auth.tokens.verify(token)
        except TokenInvalid:
            claims = None
        if claims is not None:
            if await self.auth.revocations.contains(claims.get("jti"), claims.get("wb_fam")):
                return {"active": False}
            out: dict[str, Any] = {
                "active": True,
                "token_type": BEARER,
                **{
                    k: claims[k]
                    for k in (
                        "scope",
                        "client_id",
                        "sub",
                        "exp",
                        "iat",
                        "iss",
                        "aud",
                        "jti",
                        "patient",
                        "encounter",
                        "fhirUser",
                    )
                    if k in claims
                },
            }
            if claims.get("wb_kind") == "user":
                out["username"] = claims.get("sub")
            return out
        record = await self.store.get_refresh(token)
        now = now_seconds()
        if (
            record is None
            or record.revoked_at is not None
            or record.used_at is not None
            or record.expires_at <= now
        ):
            return {"active": False}
        grant = Grant.from_json(record.grant)
        return {
            "active": True,
            "token_type": REFRESH_TOKEN_TYPE,
            "scope": " ".join(grant.scopes),
            "client_id": record.client_id,
            "sub": grant.subject,
            "exp": record.expires_at,
            "iat": record.issued_at,
        }

    async def revoke(self, client: ClientRecord, token: str) -> None:
        """RFC 7009 2.1: revoke a refresh token (its whole family) or an access token."""
        record = await self.store.get_refresh(token)
        if record is not None:
            if record.client_id != client.client_id:
                raise OAuthError("unauthorized_client", "the token was issued to another client")
            await self.revoke_family(record.family_id)
            return
        try:
            claims = await self.auth.tokens.verify(token)
        except TokenInvalid:
            return  # RFC 7009 2.2: an invalid token is not an error
        if claims.get("client_id") != client.client_id:
            raise OAuthError("unauthorized_client", "the token was issued to another client")
        await self.auth.revocations.add(str(claims["jti"]), int(claims["exp"]))


def _with_scopes(grant: Grant, scopes: list[str]) -> Grant:
    return Grant(
        kind=grant.kind,
        subject=grant.subject,
        client_id=grant.client_id,
        scopes=tuple(scopes),
        patient=grant.patient,
        encounter=grant.encounter,
        fhir_user=grant.fhir_user,
        roles=grant.roles,
        family_id=grant.family_id,
        extra=grant.extra,
    )
