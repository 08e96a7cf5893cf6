"""The SMART authorization server's shared state: store, keys, token issuer, revocations.

One :class:`SmartAuth` per process, built in ``app.py`` (and by the CLI for ``client``
and ``token``). It turns a bearer token into a :class:`Principal` for the FHIR API.
"""

from __future__ import annotations

import time

from wardbook.auth.keys import KeyRing, now_seconds
from wardbook.auth.principal import Principal
from wardbook.auth.tokens import TokenInvalid, TokenIssuer, principal_from_claims
from wardbook.config import Settings
from wardbook.errors import Unauthorized
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore


class RevocationList:
    """Revoked token ids and families, cached per process and re-read every few seconds.

    A revocation made in this process applies at once; one made by another worker within
    ``refresh_every`` seconds (default 5).
    """

    def __init__(self, store: OAuthStore, refresh_every: float = 5.0) -> None:
        self.store = store
        self.refresh_every = refresh_every
        self._ids: set[str] = set()
        self._loaded_at = -1e9

    async def contains(self, *token_ids: str | None) -> bool:
        if time.monotonic() - self._loaded_at >= self.refresh_every:
            self._ids = await self.store.revoked_ids(now_seconds())
            self._loaded_at = time.monotonic()
        return any(t is not None and t in self._ids for t in token_ids)

    def note(self, token_id: str) -> None:
        """Apply a revocation already stored (by the caller) in this process at once."""
        self._ids.add(token_id)

    async def add(self, token_id: str, expires_at: int) -> None:
        await self.store.revoke_id(token_id, now_seconds(), expires_at)
        self._ids.add(token_id)


class SmartAuth:
    """Everything the SMART endpoints and the bearer-token check share."""

    def __init__(self, repository: Repository, settings: Settings) -> None:
        self.settings = settings
        self.store = OAuthStore(repository)
        self.keys = KeyRing(
            self.store,
            rotate_after=settings.key_rotation_seconds,
            max_token_lifetime=max(settings.token_lifetime, 3600),
            secret=settings.secret_key,
        )
        self.tokens = TokenIssuer(self.keys)
        self.revocations = RevocationList(self.store)

    async def principal_for(self, token: str, source_ip: str | None = None) -> Principal:
        """The principal of a valid access token; Unauthorized (401) for anything else."""
        try:
            claims = await self.tokens.verify(token)
        except TokenInvalid as error:
            raise _invalid_token(str(error)) from error
        if await self.revocations.contains(claims.get("jti"), claims.get("wb_fam")):
            raise _invalid_token("the token has been revoked")
        return principal_from_claims(claims, source_ip)


def _invalid_token(description: str) -> Unauthorized:
    """RFC 6750 3.1: 401 with ``error="invalid_token"`` in WWW-Authenticate."""
    error = Unauthorized(f"Invalid access token: {description}")
    error.headers["WWW-Authenticate"] = (
        f'Bearer realm="wardbook", error="invalid_token", error_description="{description}"'
    )
    return error
