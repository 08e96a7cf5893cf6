"""Signed JWTs the server issues: access tokens (RFC 9068), ID tokens, EHR launch ids.

Access tokens carry ``typ: at+jwt`` in the header (RFC 9068 2.1) so an ID token or a
launch id, signed by the same keys, can never be presented as one. Claims: ``iss``,
``aud`` (the FHIR base), ``sub``, ``client_id``, ``scope``, ``iat``/``exp``, ``jti``, and
the SMART context (``patient``, ``encounter``, ``fhirUser``), plus ``wb_kind`` (the
principal kind) and ``wb_fam`` (the refresh-token family, so revoking a family revokes
the access tokens issued from it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from wardbook.auth.keys import ALGORITHM, KeyRing, now_seconds
from wardbook.auth.principal import Principal

ACCESS_TYP = "at+jwt"
ID_TYP = "JWT"
LAUNCH_TYP = "wardbook-launch+jwt"


class TokenInvalid(Exception):
    """The token is malformed, not ours, of the wrong kind, expired or revoked."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a user or client was granted: the content of an access token before signing."""

    kind: str  # "user" or "client"
    subject: str
    client_id: str
    scopes: tuple[str, ...]
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None
    roles: tuple[str, ...] = ()
    family_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "patient": self.patient,
            "encounter": self.encounter,
            "fhir_user": self.fhir_user,
            "roles": list(self.roles),
            "family_id": self.family_id,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grant:
        return cls(
            kind=data["kind"],
            subject=data["subject"],
            client_id=data["client_id"],
            scopes=tuple(data["scopes"]),
            patient=data.get("patient"),
            encounter=data.get("encounter"),
            fhir_user=data.get("fhir_user"),
            roles=tuple(data.get("roles", ())),
            family_id=data.get("family_id"),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


class TokenIssuer:
    """Signs and verifies Wardbook's JWTs with the :class:`KeyRing`."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def _sign(self, typ: str, claims: dict[str, Any]) -> str:
        key = await self.keys.signing_key()
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": typ}
        return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])

    async def access_token(
        self, grant: Grant, *, issuer: str, audience: str, lifetime: int
    ) -> IssuedToken:
        now = now_seconds()
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": grant.subject,
            "client_id": grant.client_id,
            "scope": " ".join(grant.scopes),
            "iat": now,
            "exp": now + lifetime,
            "jti": jti,
            "wb_kind": grant.kind,
        }
        for name, value in (
            ("patient", grant.patient),
            ("encounter", grant.encounter),
            ("fhirUser", grant.fhir_user),
            ("wb_fam", grant.family_id),
        ):
            if value is not None:
                claims[name] = value
        if grant.roles:
            claims["wb_roles"] = list(grant.roles)
        wards = grant.extra.get("wards")
        if wards:
            claims["wb_wards"] = list(wards)
        return IssuedToken(await self._sign(ACCESS_TYP, claims), jti, now + lifetime)

    async def id_token(
        self,
        grant: Grant,
        *,
        issuer: str,
        lifetime: int,
        nonce: str | None,
        auth_time: int | None,
    ) -> str:
        """OpenID Connect Core 2: the ID token; SMART puts ``fhirUser`` in it."""
        now = now_seconds()
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": grant.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + lifetime,
        }
        if grant.fhir_user is not None and "fhirUser" in grant.scopes:
            claims["fhirUser"] = grant.fhir_user
        if nonce:
            claims["nonce"] = nonce
        if auth_time is not None:
            claims["auth_time"] = auth_time
        return await self._sign(ID_TYP, claims)

    async def launch_id(self, context: dict[str, Any], lifetime: int = 300) -> str:
        """An opaque EHR-launch ``launch`` value carrying the context (patient, encounter)."""
        now = now_seconds()
        claims = {**context, "iat": now, "exp": now + lifetime}
        return await self._sign(LAUNCH_TYP, claims)

    async def verify(self, token: str, typ: str = ACCESS_TYP) -> dict[str, Any]:
        """The claims of a valid, unexpired token of kind ``typ``; TokenInvalid otherwise."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenInvalid("the token is not a JWT") from exc
        kid = header.get("kid")
        if header.get("typ") != typ or header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise TokenInvalid("the token is not a Wardbook token of this kind")
        key = self.keys.known_public_key(kid) or await self.keys.public_key(kid)
        if key is None:
            raise TokenInvalid("the token was signed by an unknown or expired key")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenInvalid("the token's signature is not valid") from exc
        claims: dict[str, Any] = dict(decoded.claims)
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= now_seconds():
            raise TokenInvalid("the token has expired")
        return claims


def principal_from_claims(claims: dict[str, Any], source_ip: str | None = None) -> Principal:
    """The Principal an access token stands for."""
    kind = claims.get("wb_kind")
    scope = claims.get("scope")
    roles = claims.get("wb_roles") or []
    wards = claims.get("wb_wards") or []
    return Principal(
        kind="user" if kind == "user" else "client",
        subject=str(claims.get("sub")),
        roles=frozenset(str(r) for r in roles),
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        client_id=claims.get("client_id"),
        fhir_user=claims.get("fhirUser"),
        patient=claims.get("patient"),
        encounter=claims.get("encounter"),
        source_ip=source_ip,
        wards=frozenset(str(w) for w in wards),
    )
