"""The authorization server's signing keys: ES256 (P-256), stored in the database, rotated.

RFC 7517 (JWK), RFC 7638 (the thumbprint is the ``kid``). The newest unretired key signs;
when it is older than the rotation period a new key is made and the old ones are retired,
kept for verification (and in ``/oauth2/jwks``) until every token they signed has expired.
Each worker process holds the keys in memory and reloads them from the database when a
token names a ``kid`` it does not know (another worker rotated) or after ``reload_every``.

Private keys are stored sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
``WARDBOOK_SECRET_KEY``: a copy of the database alone cannot sign tokens. A key that can
no longer be unsealed (the secret changed) is simply replaced by a new one; its public
half keeps verifying what it signed.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet

from wardbook.storage.oauth_store import KeyRecord, OAuthStore

ALGORITHM = "ES256"
_SEALED = "sealed:v1:"


def _sealing_key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"wardbook oauth signing keys"
    ).derive(secret.encode())


def seal(private_jwk: str, secret: str) -> str:
    """AES-256-GCM of the private JWK under a key derived from the server secret."""
    nonce = os.urandom(12)
    sealed = AESGCM(_sealing_key(secret)).encrypt(nonce, private_jwk.encode(), b"jwk")
    return _SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(stored: str, secret: str) -> str | None:
    """The private JWK, or None when it was sealed under another secret."""
    if not stored.startswith(_SEALED):
        return stored
    raw = base64.urlsafe_b64decode(stored[len(_SEALED) :])
    try:
        return AESGCM(_sealing_key(secret)).decrypt(raw[:12], raw[12:], b"jwk").decode()
    except InvalidTag:
        return None


def now_seconds() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: ECKey


def generate_key_record(now: int, secret: str | None = None) -> KeyRecord:
    """A fresh P-256 key pair as a KeyRecord (kid = RFC 7638 thumbprint)."""
    key = ECKey.generate_key("P-256", parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    public["kid"] = kid
    private = key.as_dict(private=True)
    private["kid"] = kid
    return KeyRecord(
        kid=kid,
        alg=ALGORITHM,
        private_jwk=json.dumps(private) if secret is None else seal(json.dumps(private), secret),
        public_jwk=json.dumps(public),
        created_at=now,
        retired_at=None,
        expires_at=None,
    )


class KeyRing:
    """Signing and verification keys of this process, backed by :class:`OAuthStore`."""

    def __init__(
        self,
        store: OAuthStore,
        *,
        rotate_after: int = 30 * 86400,
        max_token_lifetime: int = 86400,
        reload_every: int = 60,
        secret: str | None = None,
    ) -> None:
        self.store = store
        self.secret = secret
        self.rotate_after = rotate_after
        self.max_token_lifetime = max_token_lifetime
        self.reload_every = reload_every
        self._records: list[KeyRecord] = []
        self._public: dict[str, ECKey] = {}
        self._loaded_at = -1.0

    async def load(self, now: int | None = None) -> None:
        """(Re)read the live keys; make the first key, or a new one when due for rotation."""
        now = now_seconds() if now is None else now
        records = await self.store.live_keys(now)
        signing = [r for r in records if r.retired_at is None]
        if (
            not signing
            or now - signing[0].created_at >= self.rotate_after
            or self._private(signing[0]) is None
        ):
            await self.rotate(now)
            return
        self._set(records)

    async def rotate(self, now: int | None = None) -> str:
        """Make a new signing key and retire the others (verifiable until their tokens expire)."""
        now = now_seconds() if now is None else now
        record = generate_key_record(now, self.secret)
        await self.store.add_key(record)
        await self.store.retire_keys(record.kid, now, now + self.max_token_lifetime)
        self._set(await self.store.live_keys(now))
        return record.kid

    def _set(self, records: list[KeyRecord]) -> None:
        self._records = records
        self._public = {r.kid: ECKey.import_key(json.loads(r.public_jwk)) for r in records}
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at >= self.reload_every:
            await self.load()

    async def signing_key(self) -> SigningKey:
        """The key to sign with now (loading or rotating first when needed)."""
        await self.refresh_if_stale()
        current = next((r for r in self._records if r.retired_at is None), None)
        if current is None:
            await self.load()
            current = next(r for r in self._records if r.retired_at is None)
        private = self._private(current)
        if private is None:  # sealed under another secret: replace it
            await self.rotate()
            current = next(r for r in self._records if r.retired_at is None)
            private = self._private(current)
            if private is None:
                raise RuntimeError(
                    "internal error: a freshly rotated signing key cannot be unsealed"
                )
        return SigningKey(current.kid, ECKey.import_key(json.loads(private)))

    def _private(self, record: KeyRecord) -> str | None:
        return unseal(record.private_jwk, self.secret or "")

    async def public_key(self, kid: str) -> ECKey | None:
        """The verification key ``kid``; reloads once for a kid this process has not seen."""
        key = self._public.get(kid)
        if key is None and time.monotonic() - self._loaded_at >= 1.0:
            await self.load()
            key = self._public.get(kid)
        return key

    def known_public_key(self, kid: str) -> ECKey | None:
        """The verification key ``kid`` if loaded (no I/O)."""
        return self._public.get(kid)

    async def jwks(self) -> dict[str, Any]:
        """The public JWK Set (RFC 7517 5) of every live key."""
        await self.refresh_if_stale()
        return {"keys": [json.loads(r.public_jwk) for r in self._records]}

    def key_set(self) -> KeySet:
        return KeySet(list(self._public.values()))
