"""A full SMART standalone launch with PKCE, done by a real OAuth2 client library
(authlib's OAuth2Client) against a running ``wardbook serve``, then FHIR calls with the
token; and the same server refusing FHIR calls without one."""

from __future__ import annotations

import asyncio
import re
import subprocess
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.conftest import load_records
from tests.server.conftest import WARDBOOK, Server, database_url, free_port
from wardbook.storage.factory import open_repository

with warnings.catch_warnings():
    # authlib >= 1.7 prefers the httpx2 package and warns once when it falls back to httpx;
    # authlib.deprecate installs an "always" filter on import, so ignore after importing it.
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client

__all__ = ["database_url"]  # the fixture, shared with tests/server
REDIRECT = "http://127.0.0.1:1/callback"  # never contacted: the test reads the redirect


def prepare(database: str) -> None:
    async def load() -> None:
        repository = open_repository(database)
        await repository.open()
        try:
            await load_records(repository)
        finally:
            await repository.close()

    asyncio.run(load())
    subprocess.run(
        [
            *(WARDBOOK, "client", "add", "--database", database),
            *("--client-id", "inferno-like", "--type", "public", "--redirect-uri", REDIRECT),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def smart_server(database_url: str) -> Iterator[Server]:
    prepare(database_url)
    srv = Server(database_url, free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def secured_server(database_url: str) -> Iterator[Server]:
    prepare(database_url)
    srv = Server(database_url, free_port(), no_auth=False)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def consent(http: httpx.Client, url: str, patient: str) -> str:
    """Play the user: open the authorization URL, choose the patient, press "Allow"."""
    page = http.get(url)
    assert page.status_code == 200, page.text
    assert ">Allow<" in page.text and ">Deny<" in page.text
    form = page.text[page.text.index('<form method="post"') :]
    form = form[: form.index("</form>")]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    answer = http.post(
        urlsplit(url)._replace(query="").geturl(),
        data={**hidden, "decision": "allow", "patient": patient},
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_standalone_launch_with_authlib(smart_server: Server) -> None:
    fhir = smart_server.fhir
    config: dict[str, Any] = httpx.get(f"{fhir}/.well-known/smart-configuration").json()
    assert "S256" in config["code_challenge_methods_supported"]
    scope = "launch/patient openid fhirUser offline_access patient/*.rs"
    verifier = generate_token(64)
    with (
        OAuth2Client(
            client_id="inferno-like",
            redirect_uri=REDIRECT,
            scope=scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        ) as oauth,
        httpx.Client() as browser,
    ):
        url, state = oauth.create_authorization_url(
            config["authorization_endpoint"], code_verifier=verifier, aud=fhir
        )
        callback = consent(browser, url, "alice")
        assert parse_qs(urlsplit(callback).query)["state"] == [state]
        token = oauth.fetch_token(
            config["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        assert token["patient"] == "alice"
        assert token["token_type"] == "Bearer" and "id_token" in token
        assert oauth.get(f"{fhir}/Patient/alice").status_code == 200
        bundle = oauth.get(f"{fhir}/Observation").json()
        assert bundle["total"] == 2
        assert oauth.get(f"{fhir}/Observation/lab-bob").status_code == 403
        refreshed = oauth.refresh_token(config["token_endpoint"])
        assert refreshed["access_token"] != token["access_token"]
        assert oauth.get(f"{fhir}/Patient/alice").status_code == 200
        # Inferno's negative case: the same code again is refused.
        reused = httpx.post(
            config["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(callback).query)["code"][0],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                "client_id": "inferno-like",
            },
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_running_server_requires_a_token(secured_server: Server) -> None:
    fhir = secured_server.fhir
    unauthenticated = httpx.get(f"{fhir}/Patient/alice")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert unauthenticated.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(f"{fhir}/metadata").status_code == 200
    token = subprocess.run(
        [
            *(WARDBOOK, "token", "--database", secured_server.database),
            *("--client-id", "inferno-like", "--scope", "patient/*.rs", "--patient", "alice"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{fhir}/Patient/alice", headers=headers).status_code == 200
    assert httpx.get(f"{fhir}/Patient/bob", headers=headers).status_code == 403
