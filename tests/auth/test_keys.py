"""Signing keys: made on first use, rotated, old keys kept for verification until expiry."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from wardbook.auth.keys import KeyRing
from wardbook.auth.tokens import Grant, TokenInvalid, TokenIssuer
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore

pytestmark = pytest.mark.anyio
GRANT = Grant(kind="client", subject="ops", client_id="ops", scopes=("system/*.rs",))


async def issue(issuer: TokenIssuer) -> str:
    issued = await issuer.access_token(GRANT, issuer="urn:t", audience="urn:t", lifetime=600)
    return issued.token


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    repository: Repository,
) -> None:
    store = OAuthStore(repository)
    ring = KeyRing(store, max_token_lifetime=3600)
    issuer = TokenIssuer(ring)
    before = await issue(issuer)
    first_kid = jwt.decode(before, ring.key_set()).header["kid"]
    new_kid = await ring.rotate()
    assert new_kid != first_kid
    after = await issue(issuer)
    assert jwt.decode(after, ring.key_set()).header["kid"] == new_kid
    # Another process (a second ring on the same database) verifies both tokens.
    other = TokenIssuer(KeyRing(OAuthStore(repository)))
    assert (await other.verify(before))["sub"] == "ops"
    assert (await other.verify(after))["sub"] == "ops"
    published = {k["kid"] for k in (await other.keys.jwks())["keys"]}
    assert published == {first_kid, new_kid}
    assert all("d" not in k for k in (await other.keys.jwks())["keys"])
    KeySet.import_key_set(await other.keys.jwks())


async def test_a_retired_key_stops_verifying_once_its_tokens_expired(
    repository: Repository,
) -> None:
    store = OAuthStore(repository)
    ring = KeyRing(store, max_token_lifetime=60)
    issuer = TokenIssuer(ring)
    old = await issue(issuer)
    old_kid = jwt.decode(old, ring.key_set()).header["kid"]
    await ring.rotate(now=1)  # retired long ago: expired at 61
    later = KeyRing(OAuthStore(repository))
    await later.load()
    assert old_kid not in {k["kid"] for k in (await later.jwks())["keys"]}
    with pytest.raises(TokenInvalid):
        await TokenIssuer(later).verify(old)


async def test_a_key_older_than_the_rotation_period_is_replaced(repository: Repository) -> None:
    store = OAuthStore(repository)
    ring = KeyRing(store, rotate_after=3600)
    await ring.load(now=1000)
    first = (await ring.signing_key()).kid
    await ring.load(now=1000 + 3600)
    assert (await ring.signing_key()).kid != first


async def test_private_keys_are_sealed_with_the_server_secret(repository: Repository) -> None:
    store = OAuthStore(repository)
    ring = KeyRing(store, secret="s" * 40)
    token = await issue(TokenIssuer(ring))
    records = await store.live_keys(0)
    assert records and all(r.private_jwk.startswith("sealed:v1:") for r in records)
    assert all('"d"' not in r.private_jwk for r in records)
    # A process with another secret cannot sign with that key: it makes a new one, and
    # the old key's public half still verifies what it signed.
    other = KeyRing(OAuthStore(repository), secret="t" * 40)
    assert (await other.signing_key()).kid != records[0].kid
    assert (await TokenIssuer(other).verify(token))["sub"] == "ops"
