"""Persistence of the SMART/OAuth2 authorization server: clients, keys, codes, tokens.

Tables from migration 0007 (both dialects). Codes, refresh tokens and client secrets are
stored only as SHA-256 hashes of high-entropy random strings (RFC 6819 5.1.4.1.3): a copy
of the database does not yield usable credentials. Every statement runs in a write
transaction of the repository, so single-use rules (a code, a refresh token, an assertion
``jti``) are enforced by one atomic ``UPDATE ... WHERE used_at IS NULL`` or a primary key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wardbook.storage.base import Repository, VersionConflict


def token_hash(secret: str) -> str:
    """SHA-256 hex of a random secret (codes, refresh tokens, client secrets)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered client (SMART App Launch: public, confidential or backend service)."""

    client_id: str
    client_type: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    scope: str
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    created_at: int
    name: str | None = None  # RFC 7591 client_name, shown on the consent page


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A signing key pair as JWK JSON; ``retired_at`` set once a newer key signs."""

    kid: str
    alg: str
    private_jwk: str
    public_jwk: str
    created_at: int
    retired_at: int | None
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class CodeRecord:
    client_id: str
    redirect_uri: str
    code_challenge: str
    grant: dict[str, Any]
    family_id: str
    expires_at: int
    used_at: int | None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    family_id: str
    client_id: str
    grant: dict[str, Any]
    issued_at: int
    expires_at: int
    used_at: int | None
    revoked_at: int | None


class OAuthStore:
    """The authorization server's tables, over any :class:`Repository`."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def _run(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self.repository.transaction() as tx:
            return await tx.runner.fetch_all(sql, params)

    # -- clients ---------------------------------------------------------------------------

    async def add_client(self, client: ClientRecord) -> None:
        """Register a client; VersionConflict when the id is taken."""
        await self._run(
            "INSERT INTO oauth_client (client_id, client_type, secret_hash, redirect_uris,"
            " scope, jwks, jwks_uri, created_at, client_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                client.client_id,
                client.client_type,
                client.secret_hash,
                json.dumps(list(client.redirect_uris)),
                client.scope,
                None if client.jwks is None else json.dumps(client.jwks),
                client.jwks_uri,
                client.created_at,
                client.name,
            ],
        )

    async def get_client(self, client_id: str) -> ClientRecord | None:
        rows = await self._run(
            "SELECT client_id, client_type, secret_hash, redirect_uris, scope, jwks, jwks_uri,"
            " created_at, client_name FROM oauth_client WHERE client_id = ?",
            [client_id],
        )
        return _client(rows[0]) if rows else None

    async def list_clients(self) -> list[ClientRecord]:
        rows = await self._run(
            "SELECT client_id, client_type, secret_hash, redirect_uris, scope, jwks, jwks_uri,"
            " created_at, client_name FROM oauth_client ORDER BY client_id",
            [],
        )
        return [_client(r) for r in rows]

    async def remove_client(self, client_id: str) -> bool:
        """Delete a client and every live credential it holds; False when unknown."""
        rows = await self._run(
            "DELETE FROM oauth_client WHERE client_id = ? RETURNING client_id", [client_id]
        )
        await self._run("DELETE FROM oauth_code WHERE client_id = ?", [client_id])
        await self._run("DELETE FROM oauth_refresh_token WHERE client_id = ?", [client_id])
        return bool(rows)

    # -- signing keys ----------------------------------------------------------------------

    async def add_key(self, key: KeyRecord) -> None:
        await self._run(
            "INSERT INTO oauth_signing_key (kid, alg, private_jwk, public_jwk, created_at,"
            " retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                key.kid,
                key.alg,
                key.private_jwk,
                key.public_jwk,
                key.created_at,
                key.retired_at,
                key.expires_at,
            ],
        )

    async def retire_keys(self, except_kid: str, now: int, expires_at: int) -> None:
        """Stop signing with every other key; they verify until ``expires_at``."""
        await self._run(
            "UPDATE oauth_signing_key SET retired_at = ?, expires_at = ?"
            " WHERE kid <> ? AND retired_at IS NULL",
            [now, expires_at, except_kid],
        )

    async def live_keys(self, now: int) -> list[KeyRecord]:
        """Keys still good for verification, newest first."""
        rows = await self._run(
            "SELECT kid, alg, private_jwk, public_jwk, created_at, retired_at, expires_at"
            " FROM oauth_signing_key WHERE expires_at IS NULL OR expires_at > ?"
            " ORDER BY created_at DESC, kid",
            [now],
        )
        return [KeyRecord(*r) for r in rows]

    # -- authorization codes ---------------------------------------------------------------

    async def add_code(self, code: str, record: CodeRecord) -> None:
        await self._run(
            "INSERT INTO oauth_code (code_hash, client_id, redirect_uri, code_challenge,"
            " grant_json, family_id, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                token_hash(code),
                record.client_id,
                record.redirect_uri,
                record.code_challenge,
                json.dumps(record.grant),
                record.family_id,
                record.expires_at,
            ],
        )

    async def use_code(self, code: str, now: int) -> tuple[CodeRecord | None, bool]:
        """Mark a code used, atomically. Returns (record, first_use); (None, False) if unknown."""
        digest = token_hash(code)
        async with self.repository.transaction() as tx:
            rows = await tx.runner.fetch_all(
                "SELECT client_id, redirect_uri, code_challenge, grant_json, family_id,"
                " expires_at, used_at FROM oauth_code WHERE code_hash = ?",
                [digest],
            )
            if not rows:
                return None, False
            claimed = await tx.runner.fetch_all(
                "UPDATE oauth_code SET used_at = ? WHERE code_hash = ? AND used_at IS NULL"
                " RETURNING code_hash",
                [now, digest],
            )
        r = rows[0]
        record = CodeRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], int(r[5]), r[6])
        return record, bool(claimed)

    # -- refresh tokens --------------------------------------------------------------------

    async def add_refresh(self, token: str, record: RefreshRecord) -> None:
        await self._run(
            "INSERT INTO oauth_refresh_token (token_hash, family_id, client_id, grant_json,"
            " issued_at, expires_at, used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
            [
                token_hash(token),
                record.family_id,
                record.client_id,
                json.dumps(record.grant),
                record.issued_at,
                record.expires_at,
            ],
        )

    async def get_refresh(self, token: str) -> RefreshRecord | None:
        rows = await self._run(
            "SELECT family_id, client_id, grant_json, issued_at, expires_at, used_at, revoked_at"
            " FROM oauth_refresh_token WHERE token_hash = ?",
            [token_hash(token)],
        )
        if not rows:
            return None
        r = rows[0]
        return RefreshRecord(r[0], r[1], json.loads(r[2]), int(r[3]), int(r[4]), r[5], r[6])

    async def use_refresh(self, token: str, now: int) -> bool:
        """Mark a refresh token rotated; False when it was already used or revoked."""
        rows = await self._run(
            "UPDATE oauth_refresh_token SET used_at = ? WHERE token_hash = ?"
            " AND used_at IS NULL AND revoked_at IS NULL RETURNING token_hash",
            [now, token_hash(token)],
        )
        return bool(rows)

    async def revoke_family(self, family_id: str, now: int, expires_at: int) -> None:
        """Revoke every refresh token of a family and the access tokens issued from it."""
        await self._run(
            "UPDATE oauth_refresh_token SET revoked_at = ? WHERE family_id = ?"
            " AND revoked_at IS NULL",
            [now, family_id],
        )
        await self.revoke_id(family_id, now, expires_at)

    # -- revocation list -------------------------------------------------------------------

    async def revoke_id(self, token_id: str, now: int, expires_at: int) -> None:
        """Add an access token id (jti) or a family id to the revocation list."""
        try:
            await self._run(
                "INSERT INTO oauth_revocation (token_id, revoked_at, expires_at) VALUES (?, ?, ?)",
                [token_id, now, expires_at],
            )
        except VersionConflict:
            return  # already revoked

    async def revoked_ids(self, now: int) -> set[str]:
        """Ids revoked and not yet expired (the middleware caches this set)."""
        rows = await self._run("SELECT token_id FROM oauth_revocation WHERE expires_at > ?", [now])
        return {str(r[0]) for r in rows}

    # -- client assertions -----------------------------------------------------------------

    async def claim_assertion(self, client_id: str, jti: str, expires_at: int) -> bool:
        """Record a client assertion's jti; False when it was seen before (a replay)."""
        try:
            await self._run(
                "INSERT INTO oauth_assertion (client_id, jti, expires_at) VALUES (?, ?, ?)",
                [client_id, jti, expires_at],
            )
        except VersionConflict:
            return False
        return True

    async def purge_expired(self, now: int) -> None:
        """Drop expired codes, tokens, revocations and assertion ids (housekeeping)."""
        await self._run("DELETE FROM oauth_code WHERE expires_at < ?", [now])
        await self._run("DELETE FROM oauth_refresh_token WHERE expires_at < ?", [now])
        await self._run("DELETE FROM oauth_revocation WHERE expires_at < ?", [now])
        await self._run("DELETE FROM oauth_assertion WHERE expires_at < ?", [now])


def _client(row: tuple[Any, ...]) -> ClientRecord:
    return ClientRecord(
        client_id=row[0],
        client_type=row[1],
        secret_hash=row[2],
        redirect_uris=tuple(json.loads(row[3])),
        scope=row[4],
        jwks=None if row[5] is None else json.loads(row[5]),
        jwks_uri=row[6],
        created_at=int(row[7]),
        name=row[8],
    )
