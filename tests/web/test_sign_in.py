"""Sign-in with password and TOTP enrolment, CSRF, cookies, sign-out, headers, audit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pyotp
import pytest

from tests.audit.conftest import lifespan, writer_of
from wardbook.app import build_app
from wardbook.auth.users import UserStore
from wardbook.config import Settings
from wardbook.search.parse import parse_search
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def web(repository: Repository) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = build_app(Settings(env="test"), repository)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, app


async def audit_events(repository: Repository, params: list[tuple[str, str]]) -> list[Any]:
    """AuditEvents straight from the store (the FHIR API would need a SMART token here)."""
    page = await repository.search(parse_search("AuditEvent", params, strict=True))
    return [orjson.loads(entry.body or b"{}") for entry in page.entries]


def token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def test_sign_in_enrol_and_sign_out(
    web: tuple[httpx.AsyncClient, Any], repository: Repository
) -> None:
    client, app = web
    enrolment = await UserStore(repository).add("drew", ["physician"], PASSWORD)

    home = await client.get("/patients/p1")
    assert home.status_code == 303
    assert home.headers["location"] == "/sign-in?next=/patients/p1"

    page = await client.get("/sign-in")
    assert page.status_code == 200
    assert 'for="username">Username</label>' in page.text
    assert 'for="password">Password</label>' in page.text
    assert ">Sign in</button>" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts and all(" src=" in tag for tag in scripts)  # no inline script
    token = token_of(page.text)

    no_token = await client.post("/sign-in", data={"username": "drew", "password": PASSWORD})
    assert no_token.status_code == 403
    cross_site = await client.post(
        "/sign-in",
        data={"username": "drew", "password": PASSWORD, "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403

    wrong = await client.post(
        "/sign-in", data={"username": "drew", "password": "not my password!", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "Enter a correct username and password" in wrong.text

    signed = await client.post(
        "/sign-in", data={"username": "drew", "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 303
    assert signed.headers["location"].startswith("/sign-in/enrol")
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

    enrol = await client.get("/sign-in/enrol")
    assert "<svg" in enrol.text and 'for="code">Authentication code</label>' in enrol.text
    assert ">Continue</button>" in enrol.text
    code = pyotp.TOTP(enrolment.totp_secret).now()
    done = await client.post(
        "/sign-in/enrol", data={"code": code, "csrf_token": token_of(enrol.text)}
    )
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>", done.text)) == 10  # recovery codes, once
    assert ">Sign out</button>" in done.text

    out = await client.post("/sign-out", data={"csrf_token": token_of(done.text)})
    assert out.status_code == 200 and "You have signed out" in out.text

    await writer_of(app).flush()
    events = await audit_events(repository, [("_count", "200")])
    kinds = [(e["type"]["code"], [s["code"] for s in e.get("subtype", [])]) for e in events]
    assert ("110114", ["110122"]) in kinds  # login (and the failed one)
    assert ("110114", ["110123"]) in kinds  # logout
    failed = [e for e in events if e["type"]["code"] == "110114" and e["outcome"] == "4"]
    assert failed and failed[0]["agent"][0]["altId"] == "drew"


async def test_mfa_code_is_required_after_enrolment(
    web: tuple[httpx.AsyncClient, Any], repository: Repository
) -> None:
    client, _ = web
    users = UserStore(repository)
    enrolment = await users.add("nell", ["nurse"], PASSWORD)
    totp = pyotp.TOTP(enrolment.totp_secret)
    user = await users.require("nell")
    await repository.execute(
        "UPDATE auth_user SET mfa_enrolled = ? WHERE username = ?", (True, "nell")
    )
    token = token_of((await client.get("/sign-in")).text)
    signed = await client.post(
        "/sign-in", data={"username": "nell", "password": PASSWORD, "csrf_token": token}
    )
    assert signed.headers["location"].startswith("/sign-in/mfa")
    mfa_page = await client.get("/sign-in/mfa")
    assert 'for="code">Authentication code</label>' in mfa_page.text
    bad = await client.post(
        "/sign-in/mfa", data={"code": "000000", "csrf_token": token_of(mfa_page.text)}
    )
    assert bad.status_code == 401 and "Enter a correct authentication code" in bad.text
    good = await client.post(
        "/sign-in/mfa", data={"code": totp.now(), "csrf_token": token_of(bad.text)}
    )
    assert good.status_code == 303 and good.headers["location"] == "/"
    assert user.username == "nell"


async def test_rate_limit_answers_429_with_retry_after(repository: Repository) -> None:
    app = build_app(Settings(env="test", rate_limit_per_minute=5), repository)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await _hammer(client)


async def _hammer(client: httpx.AsyncClient) -> None:
    statuses = [(await client.get("/fhir/metadata")).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5
    assert statuses[-1] == 429
    limited = await client.get("/fhir/metadata")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["issue"][0]["code"] == "throttled"


async def signed_in_client(
    client: httpx.AsyncClient, repository: Repository, username: str, roles: list[str]
) -> None:
    users = UserStore(repository)
    enrolment = await users.add(username, roles, PASSWORD, fhir_user="Practitioner/dr1")
    token = token_of((await client.get("/sign-in")).text)
    await client.post(
        "/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    enrol = await client.get("/sign-in/enrol")
    code = pyotp.TOTP(enrolment.totp_secret).now()
    done = await client.post(
        "/sign-in/enrol", data={"code": code, "csrf_token": token_of(enrol.text)}
    )
    assert done.status_code == 200


async def test_break_the_glass_from_the_web(
    web: tuple[httpx.AsyncClient, Any], repository: Repository
) -> None:
    """The patient page's break-the-glass form (web/break_glass.py) with a signed-in user."""
    from wardbook.auth import break_glass
    from wardbook.service.resources import ResourceService

    client, app = web
    await ResourceService(repository).update(
        "Patient", "p42", {"resourceType": "Patient", "id": "p42"}
    )
    await signed_in_client(client, repository, "gwen", ["physician"])
    same_site = {"Sec-Fetch-Site": "same-origin"}
    short = await client.post(
        "/patients/p42/break-glass", data={"reason": "why"}, headers=same_site
    )
    assert short.status_code == 403 and "at least 10 characters" in short.text
    assert not await break_glass.active_grants(repository, "gwen")
    opened = await client.post(
        "/patients/p42/break-glass",
        data={"reason": "Cardiac arrest on the ward, notes needed"},
        headers=same_site,
    )
    assert opened.status_code == 303 and opened.headers["location"] == "/patients/p42"
    assert await break_glass.active_grants(repository, "gwen") == {"p42"}
    # Written before access was given (no flush needed), flagged for review.
    rows = await repository.execute("SELECT count(*) FROM audit_chain", ())
    assert rows[0][0] >= 1
    await writer_of(app).flush()
    events = await audit_events(
        repository, [("_tag", "urn:wardbook:audit|review"), ("patient", "p42")]
    )
    assert len(events) == 1
    assert events[0]["purposeOfEvent"][0]["text"] == "Cardiac arrest on the ward, notes needed"
    assert events[0]["agent"][0]["altId"] == "gwen"


async def test_unauthenticated_fhir_call_is_audited_as_anonymous(
    web: tuple[httpx.AsyncClient, Any], repository: Repository
) -> None:
    client, app = web
    denied = await client.get("/fhir/Patient/p1")
    assert denied.status_code == 401
    await writer_of(app).flush()
    events = await audit_events(repository, [("outcome", "4")])
    assert len(events) == 1
    agent = events[0]["agent"][0]
    assert agent["altId"] == "anonymous"
    assert agent["network"]["address"] == "198.51.100.4"
    assert events[0]["outcomeDesc"] == "not authenticated"
