"""The SMART authorization server through HTTP: code flow with PKCE, the negative cases
Inferno's SMART tests use, refresh rotation, introspection, revocation, EHR launch,
confidential clients and SMART Backend Services (client_credentials + private_key_jwt).

The app runs as ``serve --no-auth`` builds it, where the local developer counts as the
signed-in user of the consent page; the FHIR calls still verify every token sent."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.auth.conftest import BASE, Records, bearer
from wardbook.app import build_app
from wardbook.auth.clients import register_client
from wardbook.config import Settings
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore

pytestmark = pytest.mark.anyio
ORIGIN = "http://testserver"
REDIRECT = "http://127.0.0.1:9999/callback"
TOKEN_URL = f"{ORIGIN}/oauth2/token"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


@pytest.fixture
async def web(repository: Repository, records: Records) -> Any:
    app = build_app(Settings(env="test", no_auth=True), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as http:
        yield http


@pytest.fixture
async def public_app(repository: Repository) -> str:
    await register_client(
        OAuthStore(repository),
        client_id="growth-chart",
        client_type="public",
        redirect_uris=[REDIRECT],
        scope=None,
        jwks=None,
        jwks_uri=None,
    )
    return "growth-chart"


def consent_form(html: str) -> dict[str, str]:
    """The hidden fields of the consent page's Allow/Deny form (request token, CSRF token)."""
    form = html[html.index('<form method="post"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


async def authorize(
    web: httpx.AsyncClient,
    client_id: str,
    scope: str,
    challenge: str,
    *,
    patient: str | None = "alice",
    extra: dict[str, str] | None = None,
    decision: str = "allow",
) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
        "aud": BASE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    page = await web.get("/oauth2/authorize", params=params)
    if page.status_code != 200:
        return page
    assert "Allow" in page.text and "Deny" in page.text
    form = consent_form(page.text) | {"decision": decision}
    if patient is not None:
        form["patient"] = patient
    return await web.post("/oauth2/authorize", data=form)


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(web: httpx.AsyncClient, client_id: str, scope: str) -> tuple[str, str]:
    verifier, challenge = pkce()
    query = redirected(await authorize(web, client_id, scope, challenge))
    assert query["state"] == "xyz"
    return query["code"], verifier


async def exchange(
    web: httpx.AsyncClient, client_id: str, code: str, verifier: str, redirect: str = REDIRECT
) -> httpx.Response:
    return await web.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": client_id,
        },
    )


async def test_standalone_launch_with_patient_picker(
    web: httpx.AsyncClient, public_app: str
) -> None:
    scope = "launch/patient openid fhirUser offline_access patient/*.rs"
    verifier, challenge = pkce()
    page = await web.get(
        "/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": public_app,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "s1",
            "aud": BASE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    assert "Choose the patient" in page.text and "Find a patient" in page.text
    assert "Alice Alvarez" in page.text and "Bob Brown" in page.text
    searched = await web.get(
        "/oauth2/authorize", params={**consent_form(page.text), "patient_search": "alvarez"}
    )
    assert "Alice Alvarez" in searched.text and "Bob Brown" not in searched.text
    # Allow without choosing a patient: the page asks again.
    again = await web.post(
        "/oauth2/authorize", data={**consent_form(page.text), "decision": "allow"}
    )
    assert again.status_code == 200 and "Select a patient" in again.text
    query = redirected(
        await web.post(
            "/oauth2/authorize",
            data={**consent_form(page.text), "decision": "allow", "patient": "alice"},
        )
    )
    token = await exchange(web, public_app, query["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert token.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["patient"] == "alice"
    assert set(body["scope"].split()) == set(scope.split())
    assert body["refresh_token"] and body["id_token"]
    id_claims = jwt.decode(body["id_token"], await jwks_of(web)).claims
    assert id_claims["aud"] == public_app and id_claims["iss"] == ORIGIN
    h = bearer(body["access_token"])
    assert (await web.get("/fhir/Patient/alice", headers=h)).status_code == 200
    assert (await web.get("/fhir/Patient/bob", headers=h)).status_code == 403


async def jwks_of(web: httpx.AsyncClient) -> Any:
    from joserfc.jwk import KeySet

    config = (await web.get("/.well-known/smart-configuration")).json()
    return KeySet.import_key_set((await web.get(config["jwks_uri"])).json())


async def test_deny_returns_access_denied(web: httpx.AsyncClient, public_app: str) -> None:
    _, challenge = pkce()
    response = await authorize(web, public_app, "patient/*.rs", challenge, decision="deny")
    assert redirected(response)["error"] == "access_denied"


async def test_bad_pkce_verifier_is_rejected(web: httpx.AsyncClient, public_app: str) -> None:
    code, _ = await get_code(web, public_app, "launch/patient patient/*.rs")
    response = await exchange(web, public_app, code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_pkce_is_required_and_only_s256(web: httpx.AsyncClient, public_app: str) -> None:
    verifier, _ = pkce()
    plain = await authorize(
        web, public_app, "patient/*.rs", verifier, extra={"code_challenge_method": "plain"}
    )
    assert redirected(plain)["error"] == "invalid_request"
    missing = await web.get(
        "/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": public_app,
            "redirect_uri": REDIRECT,
            "scope": "patient/*.rs",
            "aud": BASE,
        },
    )
    assert redirected(missing)["error"] == "invalid_request"


async def test_wrong_redirect_uri_is_rejected(web: httpx.AsyncClient, public_app: str) -> None:
    _, challenge = pkce()
    page = await authorize(
        web,
        public_app,
        "patient/*.rs",
        challenge,
        extra={"redirect_uri": "https://evil.example/cb"},
    )
    assert page.status_code == 400  # an error page: never a redirect to an unregistered URI
    assert "location" not in page.headers
    code, verifier = await get_code(web, public_app, "launch/patient patient/*.rs")
    response = await exchange(
        web, public_app, code, verifier, redirect="http://127.0.0.1:9999/other"
    )
    assert response.json()["error"] == "invalid_grant"


async def test_reused_code_is_rejected_and_revokes_its_tokens(
    web: httpx.AsyncClient, public_app: str
) -> None:
    code, verifier = await get_code(web, public_app, "launch/patient offline_access patient/*.rs")
    first = await exchange(web, public_app, code, verifier)
    assert first.status_code == 200
    second = await exchange(web, public_app, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    h = bearer(first.json()["access_token"])
    assert (await web.get("/fhir/Patient/alice", headers=h)).status_code == 401
    refreshed = await web.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": public_app,
        },
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_wrong_aud_is_rejected(web: httpx.AsyncClient, public_app: str) -> None:
    _, challenge = pkce()
    response = await authorize(
        web, public_app, "patient/*.rs", challenge, extra={"aud": "https://other.example/fhir"}
    )
    assert redirected(response)["error"] == "invalid_request"


async def test_refresh_rotates_and_reuse_revokes_the_family(
    web: httpx.AsyncClient, public_app: str
) -> None:
    code, verifier = await get_code(
        web, public_app, "launch/patient offline_access patient/Observation.rs patient/Patient.rs"
    )
    first = (await exchange(web, public_app, code, verifier)).json()

    async def refresh(token: str, scope: str | None = None) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": public_app}
        if scope is not None:
            data["scope"] = scope
        return await web.post("/oauth2/token", data=data)

    escalated = await refresh(first["refresh_token"], "patient/*.cruds offline_access")
    assert escalated.status_code == 400 and escalated.json()["error"] == "invalid_scope"
    narrowed = await refresh(first["refresh_token"], "patient/Observation.rs offline_access")
    assert narrowed.status_code == 200, narrowed.text
    second = narrowed.json()
    assert second["scope"] == "patient/Observation.rs offline_access"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["patient"] == "alice"
    h = bearer(second["access_token"])
    assert (await web.get("/fhir/Observation/lab-alice", headers=h)).status_code == 200
    assert (await web.get("/fhir/Patient/alice", headers=h)).status_code == 403
    # The rotated token presented again: the whole family is revoked.
    reused = await refresh(first["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    assert (await refresh(second["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await web.get("/fhir/Observation/lab-alice", headers=h)).status_code == 401


async def test_introspection_and_revocation(web: httpx.AsyncClient, public_app: str) -> None:
    code, verifier = await get_code(web, public_app, "launch/patient offline_access patient/*.rs")
    tokens = (await exchange(web, public_app, code, verifier)).json()
    access = tokens["access_token"]

    async def introspect(token: str) -> dict[str, Any]:
        response = await web.post(
            "/oauth2/introspect", data={"token": token}, headers=bearer(access)
        )
        assert response.status_code == 200
        return dict(response.json())

    info = await introspect(access)
    assert info["active"] is True and info["patient"] == "alice"
    assert info["client_id"] == public_app and info["scope"] == tokens["scope"]
    assert (await introspect(tokens["refresh_token"]))["active"] is True
    assert (await introspect("garbage"))["active"] is False
    unauthenticated = await web.post("/oauth2/introspect", data={"token": access})
    assert unauthenticated.status_code == 401
    revoked = await web.post("/oauth2/revoke", data={"token": access, "client_id": public_app})
    assert revoked.status_code == 200
    assert (await web.get("/fhir/Patient/alice", headers=bearer(access))).status_code == 401
    other = await web.post(
        "/oauth2/introspect",
        data={"token": access},
        headers={"Authorization": "Basic " + base64.b64encode(b"nobody:x").decode()},
    )
    assert other.status_code == 401
    await web.post(
        "/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": public_app}
    )
    refreshed = await web.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_app,
        },
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_ehr_launch_carries_patient_and_encounter(
    web: httpx.AsyncClient, repository: Repository, public_app: str
) -> None:
    from wardbook.auth.smart import SmartAuth

    auth = SmartAuth(repository, Settings(env="test", no_auth=True))
    launch = await auth.tokens.launch_id(
        {"patient": "bob", "encounter": "enc-bob", "user": "local"}
    )
    verifier, challenge = pkce()
    response = await authorize(
        web,
        public_app,
        "launch openid fhirUser patient/*.rs launch/encounter",
        challenge,
        patient=None,
        extra={"launch": launch},
    )
    query = redirected(response)
    body = (await exchange(web, public_app, query["code"], verifier)).json()
    assert body["patient"] == "bob" and body["encounter"] == "enc-bob"
    forged = await authorize(
        web, public_app, "launch patient/*.rs", challenge, extra={"launch": "forged"}
    )
    assert redirected(forged)["error"] == "invalid_request"


async def test_confidential_client_uses_basic_authentication(
    web: httpx.AsyncClient, repository: Repository
) -> None:
    new = await register_client(
        OAuthStore(repository),
        client_id="server-app",
        client_type="confidential",
        redirect_uris=[REDIRECT],
        scope="user/*.rs openid fhirUser",
        jwks=None,
        jwks_uri=None,
    )
    assert new.secret is not None
    code, verifier = await get_code(web, "server-app", "user/*.rs user/*.cruds")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    wrong = await web.post("/oauth2/token", data=data, auth=("server-app", "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    public_style = await web.post("/oauth2/token", data={**data, "client_id": "server-app"})
    assert public_style.json()["error"] == "invalid_client"
    code, verifier = await get_code(web, "server-app", "user/*.rs user/*.cruds")
    ok = await web.post(
        "/oauth2/token",
        data={**data, "code": code, "code_verifier": verifier},
        auth=("server-app", new.secret),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "user/*.rs"  # user/*.cruds is beyond the registration
    h = bearer(ok.json()["access_token"])
    assert (await web.get("/fhir/Patient/bob", headers=h)).status_code == 200
    write = await web.put(
        "/fhir/Patient/bob", json={"resourceType": "Patient", "id": "bob"}, headers=h
    )
    assert write.status_code == 403


def assertion(
    key: Any,
    alg: str,
    client_id: str,
    *,
    aud: str = TOKEN_URL,
    jti: str | None = None,
    exp: int | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": exp if exp is not None else now + 240,
        "jti": jti or secrets.token_urlsafe(12),
    }
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


@pytest.mark.parametrize("kind", ["ES384", "RS384"])
async def test_backend_services_client_credentials(
    web: httpx.AsyncClient, repository: Repository, kind: str
) -> None:
    if kind == "ES384":
        key: Any = ECKey.generate_key("P-384", private=True)
    else:
        key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    public = key.as_dict(private=False) | {"kid": key.kid}
    await register_client(
        OAuthStore(repository),
        client_id="bulk-loader",
        client_type="backend",
        redirect_uris=[],
        scope="system/*.rs",
        jwks={"keys": [public]},
        jwks_uri=None,
    )

    async def token(client_assertion: str, scope: str = "system/Observation.rs") -> httpx.Response:
        return await web.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion,
            },
        )

    signed = assertion(key, kind, "bulk-loader")
    ok = await token(signed)
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "system/Observation.rs"
    h = bearer(ok.json()["access_token"])
    bundle = (await web.get("/fhir/Observation", headers=h)).json()
    assert bundle["total"] == 4
    assert (await web.get("/fhir/Patient/alice", headers=h)).status_code == 403
    replay = await token(signed)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    other_key = ECKey.generate_key("P-384", private=True)
    other_key.ensure_kid()
    assert (await token(assertion(other_key, "ES384", "bulk-loader"))).status_code == 401
    wrong_aud = assertion(key, kind, "bulk-loader", aud="https://elsewhere.example/token")
    assert (await token(wrong_aud)).status_code == 401
    expired = assertion(key, kind, "bulk-loader", exp=int(time.time()) - 10)
    assert (await token(expired)).status_code == 401
    too_long = assertion(key, kind, "bulk-loader", exp=int(time.time()) + 3600)
    assert (await token(too_long)).status_code == 401
    escalation = await token(assertion(key, kind, "bulk-loader"), "system/*.cruds")
    assert escalation.json()["error"] == "invalid_scope"
    user_scope = await token(assertion(key, kind, "bulk-loader"), "user/*.rs")
    assert user_scope.json()["error"] == "invalid_scope"


async def test_the_consent_page_names_the_app_by_its_registered_name(
    web: httpx.AsyncClient, repository: Repository
) -> None:
    await register_client(
        OAuthStore(repository),
        client_id="gc-2",
        client_type="public",
        redirect_uris=[REDIRECT],
        scope=None,
        jwks=None,
        jwks_uri=None,
        name="Growth <chart>",
    )
    _, challenge = pkce()
    page = await web.get(
        "/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "gc-2",
            "redirect_uri": REDIRECT,
            "scope": "openid launch/patient patient/Observation.rs",
            "state": "xyz",
            "aud": BASE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    # Escaped like any user-supplied text, and the id still shown for the technically minded.
    assert "<h1>Allow Growth &lt;chart&gt; to use your Wardbook account?</h1>" in page.text
    assert "<code>gc-2</code>" in page.text


async def test_a_client_name_must_be_printable(repository: Repository) -> None:
    from wardbook.errors import BadRequest

    with pytest.raises(BadRequest, match="client name"):
        await register_client(
            OAuthStore(repository),
            client_id="gc-3",
            client_type="public",
            redirect_uris=[REDIRECT],
            scope=None,
            jwks=None,
            jwks_uri=None,
            name="bad\nname",
        )
