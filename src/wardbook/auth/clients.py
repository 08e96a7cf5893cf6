"""SMART clients: registration and client authentication at the token endpoint.

Client types (SMART App Launch 2.0, client-authentication):
- ``public``: a browser or native app; no secret, PKCE protects the code.
- ``confidential``: a server-side app with a secret, ``client_secret_basic`` (RFC 6749
  2.3.1); the secret is shown once and stored only as a SHA-256 hash.
- ``backend``: SMART Backend Services, ``client_credentials`` with ``private_key_jwt``
  (RFC 7523 2.2): a JWT signed with the client's private key, whose public keys are
  registered as a JWK Set or a ``jwks_uri``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import secrets
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from wardbook.auth.keys import now_seconds
from wardbook.auth.scopes import NON_RESOURCE_SCOPES, ScopeError, parse_resource_scope, split_scope
from wardbook.errors import BadRequest, Conflict
from wardbook.storage.base import VersionConflict
from wardbook.storage.oauth_store import ClientRecord, OAuthStore, token_hash

CLIENT_TYPES = ("public", "confidential", "backend")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# SMART requires RS384 and ES384 for client assertions; the 256-bit ones are accepted too.
ASSERTION_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")
MAX_ASSERTION_LIFETIME = 300  # SMART Backend Services: exp no more than 5 minutes ahead
DEFAULT_SCOPES = {
    "public": "openid fhirUser profile launch launch/patient launch/encounter "
    "offline_access online_access patient/*.cruds user/*.cruds",
    "confidential": "openid fhirUser profile launch launch/patient launch/encounter "
    "offline_access online_access patient/*.cruds user/*.cruds",
    "backend": "system/*.cruds",
}


class OAuthError(Exception):
    """An OAuth2 error response (RFC 6749 5.2): ``error`` code, description, status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client just registered, with its secret (shown once) for a confidential one."""

    record: ClientRecord
    secret: str | None


def validate_scope_list(scope: str) -> str:
    """A registration's scope list, each scope well-formed; BadRequest otherwise."""
    for text in split_scope(scope):
        if text in NON_RESOURCE_SCOPES:
            continue
        try:
            parse_resource_scope(text)
        except ScopeError as error:
            raise BadRequest(str(error)) from error
    return " ".join(split_scope(scope))


def validate_jwks(jwks: Any) -> dict[str, Any]:
    """A public JWK Set (RFC 7517 5) usable for signature checks; no private keys."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise BadRequest("The JWKS must be a JSON object with a non-empty 'keys' list")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise BadRequest("Each JWK must be an RSA or EC public key")
        if "d" in key:
            raise BadRequest("The JWKS holds a private key; register only the public keys")
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as error:
        raise BadRequest(f"The JWKS cannot be read: {error}") from error
    return jwks


async def register_client(
    store: OAuthStore,
    *,
    client_id: str,
    client_type: str,
    redirect_uris: list[str],
    scope: str | None,
    jwks: dict[str, Any] | None,
    jwks_uri: str | None,
    name: str | None = None,
) -> NewClient:
    """Register a client; BadRequest for an inconsistent registration, Conflict if taken."""
    name = name.strip() if name else None
    if name is not None and (len(name) > 200 or not name.isprintable()):
        raise BadRequest("The client name must be at most 200 printable characters")
    if not client_id or len(client_id) > 200 or not client_id.isprintable() or " " in client_id:
        raise BadRequest("The client id must be 1-200 printable characters without spaces")
    if client_type not in CLIENT_TYPES:
        raise BadRequest(f"The client type must be one of {', '.join(CLIENT_TYPES)}")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise BadRequest(f"'{uri}' is not an absolute http(s) redirect URI without fragment")
    if client_type == "backend":
        if redirect_uris:
            raise BadRequest("A backend client uses client_credentials: no redirect URIs")
        if (jwks is None) == (jwks_uri is None):
            raise BadRequest("A backend client needs exactly one of --jwks or --jwks-uri")
    elif not redirect_uris:
        raise BadRequest("A public or confidential client needs at least one --redirect-uri")
    if jwks is not None:
        jwks = validate_jwks(jwks)
    if jwks_uri is not None and urlsplit(jwks_uri).scheme not in ("https", "http"):
        raise BadRequest("--jwks-uri must be an http(s) URL")
    scope_text = validate_scope_list(scope if scope else DEFAULT_SCOPES[client_type])
    secret = secrets.token_urlsafe(32) if client_type == "confidential" else None
    record = ClientRecord(
        client_id=client_id,
        client_type=client_type,
        secret_hash=None if secret is None else token_hash(secret),
        redirect_uris=tuple(redirect_uris),
        scope=scope_text,
        jwks=jwks,
        jwks_uri=jwks_uri,
        created_at=now_seconds(),
        name=name or None,
    )
    try:
        await store.add_client(record)
    except VersionConflict as error:
        raise Conflict(f"A client with id '{client_id}' is already registered") from error
    return NewClient(record, secret)


async def revoke_client(store: OAuthStore, client_id: str) -> bool:
    """Remove a client with its codes and refresh tokens (no new tokens, no refresh);
    False when no such client is registered. Access tokens already issued expire on
    their own (at most ``WARDBOOK_TOKEN_LIFETIME``)."""
    return await store.remove_client(client_id)


class JwksCache:
    """Client key sets fetched from ``jwks_uri`` (SMART Backend Services), kept 5 minutes."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, uri: str, *, refresh: bool = False) -> dict[str, Any]:
        hit = self._cache.get(uri)
        if hit is not None and not refresh and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        data = await asyncio.to_thread(_fetch_json, uri)
        self._cache[uri] = (time.monotonic(), data)
        return data


def _fetch_json(uri: str) -> dict[str, Any]:
    if urlsplit(uri).scheme not in ("https", "http"):
        raise OAuthError("invalid_client", "the client's jwks_uri is not http(s)", 401)
    try:
        # The scheme is checked above: only http(s) URLs registered by an admin are fetched.
        with urllib.request.urlopen(uri, timeout=5) as response:  # noqa: S310  # nosec B310
            body = response.read(1_000_000)
        data = json.loads(body)
    except (OSError, ValueError) as error:
        raise OAuthError("invalid_client", f"the client's jwks_uri failed: {error}", 401) from error
    if not isinstance(data, dict):
        raise OAuthError("invalid_client", "the client's jwks_uri is not a JWK Set", 401)
    return data


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``client_secret_basic`` (RFC 6749 2.3.1): form-urlencoded id and secret in Basic."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from error
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    return unquote(client_id), unquote(secret)


class ClientAuthenticator:
    """Identifies and authenticates the client of a token-endpoint request."""

    def __init__(self, store: OAuthStore, jwks_cache: JwksCache | None = None) -> None:
        self.store = store
        self.jwks_cache = jwks_cache or JwksCache()

    async def authenticate(
        self, form: dict[str, str], authorization: str | None, token_url: str
    ) -> ClientRecord:
        """The client, authenticated as its registration demands; OAuthError otherwise."""
        basic = basic_credentials(authorization)
        assertion = form.get("client_assertion")
        if basic is not None:
            client_id, secret = basic
            client = await self._client(client_id)
            if client.client_type != "confidential" or client.secret_hash is None:
                raise OAuthError("invalid_client", "this client does not use a secret", 401)
            if not hmac.compare_digest(client.secret_hash, token_hash(secret)):
                raise OAuthError("invalid_client", "client authentication failed", 401)
            return client
        if assertion is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise OAuthError(
                    "invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}"
                )
            return await self._assertion(assertion, form.get("client_id"), token_url)
        public_id = form.get("client_id")
        if not public_id:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        client = await self._client(public_id)
        if client.client_type != "public":
            raise OAuthError("invalid_client", "this client must authenticate", 401)
        return client

    async def _client(self, client_id: str) -> ClientRecord:
        client = await self.store.get_client(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        return client

    async def _assertion(
        self, assertion: str, form_client_id: str | None, token_url: str
    ) -> ClientRecord:
        """RFC 7523 3 and SMART Backend Services: verify the client's signed JWT."""
        try:
            header = jws.extract_compact(assertion.encode()).protected
            unverified = json.loads(
                base64.urlsafe_b64decode(assertion.split(".")[1] + "==").decode()
            )
        except (JoseError, ValueError, IndexError, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client", "the client assertion is not a JWT", 401) from error
        client_id = unverified.get("iss") if isinstance(unverified, dict) else None
        if not isinstance(client_id, str) or (form_client_id and form_client_id != client_id):
            raise OAuthError("invalid_client", "the assertion's iss is not the client", 401)
        client = await self._client(client_id)
        if client.jwks is None and client.jwks_uri is None:
            raise OAuthError("invalid_client", "this client has no registered keys", 401)
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise OAuthError("invalid_client", f"assertion algorithm {alg} is not accepted", 401)
        claims = await self._verified_claims(client, assertion, str(alg))
        now = now_seconds()
        exp = claims.get("exp")
        if claims.get("sub") != client_id:
            raise OAuthError("invalid_client", "the assertion's sub must equal its iss", 401)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if token_url not in audiences:
            raise OAuthError("invalid_client", "the assertion's aud is not this token URL", 401)
        if not isinstance(exp, int) or exp <= now:
            raise OAuthError("invalid_client", "the client assertion has expired", 401)
        if exp > now + MAX_ASSERTION_LIFETIME + 30:
            raise OAuthError("invalid_client", "the assertion's exp is too far ahead", 401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise OAuthError("invalid_client", "the client assertion needs a jti", 401)
        if not await self.store.claim_assertion(client_id, jti, exp):
            raise OAuthError("invalid_client", "the client assertion was already used", 401)
        return client

    async def _verified_claims(
        self, client: ClientRecord, assertion: str, alg: str
    ) -> dict[str, Any]:
        for refresh in (False, True):
            if client.jwks is not None:
                if refresh:
                    break
                jwks = client.jwks
            else:
                if client.jwks_uri is None:
                    raise RuntimeError("internal error: client.jwks_uri is missing")
                jwks = await self.jwks_cache.get(client.jwks_uri, refresh=refresh)
            try:
                keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
                return dict(jwt.decode(assertion, keys, algorithms=[alg]).claims)
            except (JoseError, ValueError, TypeError):
                continue  # maybe the client rotated its keys: fetch the jwks_uri again
        raise OAuthError("invalid_client", "the client assertion's signature is not valid", 401)
