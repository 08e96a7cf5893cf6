"""Changing one's own password at /account/password, and the change an admin reset forces.

Each test runs on SQLite and PostgreSQL (the ``repository`` fixture). A user signs in with
the password and (for clinical roles) a second factor; recovery codes stand in for TOTP
codes where a test signs in more than once, since a TOTP code is accepted only once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pyotp
import pytest

from tests.audit.conftest import lifespan, writer_of
from tests.web.test_sign_in import audit_events, token_of
from wardbook.app import build_app
from wardbook.auth.cli_tokens import issue_admin_token
from wardbook.auth.clients import register_client
from wardbook.auth.users import LOCKOUT_THRESHOLD, UserStore
from wardbook.config import Settings
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "violet kettle under the stairs"
CHANGE = "/account/password"


@pytest.fixture
async def app(repository: Repository) -> AsyncIterator[Any]:
    application = build_app(Settings(env="test"), repository)
    async with lifespan(application):
        yield application


def browser(app: Any) -> httpx.AsyncClient:
    """A fresh cookie jar: one more browser of the same user."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def sign_in(
    http: httpx.AsyncClient, username: str, password: str, code: str | None = None
) -> httpx.Response:
    """Password, then (if asked for) the second factor; the last response."""
    token = token_of((await http.get("/sign-in")).text)
    response = await http.post(
        "/sign-in", data={"username": username, "password": password, "csrf_token": token}
    )
    if response.status_code == 303 and response.headers["location"].startswith("/sign-in/mfa"):
        assert code is not None
        page = await http.get(response.headers["location"])
        response = await http.post(
            response.headers["location"], data={"code": code, "csrf_token": token_of(page.text)}
        )
    return response


async def change(
    http: httpx.AsyncClient, current: str, new: str, confirm: str, *, next_path: str = ""
) -> httpx.Response:
    page = await http.get(CHANGE + (f"?next={next_path}" if next_path else ""))
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    return await http.post(
        action.group(1).replace("&amp;", "&"),
        data={
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm,
            "csrf_token": token_of(page.text),
        },
    )


async def receptionist(repository: Repository, name: str = "rita") -> UserStore:
    """A user without a second factor (receptionists need none)."""
    users = UserStore(repository)
    await users.add(name, ["receptionist"], PASSWORD)
    return users


async def test_page_is_linked_labelled_and_needs_sign_in(app: Any, repository: Repository) -> None:
    await receptionist(repository)
    async with browser(app) as http:
        anonymous = await http.get(CHANGE)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/sign-in?next=/account/password")
        home = await sign_in(http, "rita", PASSWORD)
        assert home.status_code == 303 and home.headers["location"] == "/"
        help_page = await http.get("/help")
        assert '<a class="nhsuk-header__account-link" href="/account/password">' in help_page.text
        page = await http.get(CHANGE)
        assert "<h1>Change your password</h1>" in page.text
        for field, label in (
            ("current-password", "Current password"),
            ("new-password", "New password"),
            ("confirm-password", "Confirm new password"),
        ):
            assert f'<label class="nhsuk-label" for="{field}">{label}</label>' in page.text
        assert 'autocomplete="current-password"' in page.text
        assert page.text.count('autocomplete="new-password"') == 2
        assert ">Change password</button>" in page.text
        assert "An administrator has reset your password" not in page.text
        no_token = await http.post(
            CHANGE,
            data={
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert no_token.status_code == 403  # CSRF, like every other form
    user = await UserStore(repository).require("rita")
    assert user.password_hash is not None
    assert (await UserStore(repository).authenticate("rita", PASSWORD)).username == "rita"


async def test_wrong_current_password_is_refused_and_counted(
    app: Any, repository: Repository
) -> None:
    users = await receptionist(repository)
    async with browser(app) as http:
        await sign_in(http, "rita", PASSWORD)
        wrong = await change(http, "not my password at all", NEW_PASSWORD, NEW_PASSWORD)
        assert wrong.status_code == 401
        assert "<title>Error: Change your password" in wrong.text
        assert '<a href="#current-password">Your current password is not correct</a>' in wrong.text
        assert 'id="current-password"' in wrong.text and 'aria-invalid="true"' in wrong.text
        assert "not my password at all" not in wrong.text  # passwords are never echoed
        assert NEW_PASSWORD not in wrong.text
    user = await users.require("rita")
    assert user.failed_logins == 1  # a stolen session is no free guessing oracle
    assert (await users.authenticate("rita", PASSWORD)).username == "rita"


async def test_lockout_stops_current_password_guessing(repository: Repository) -> None:
    users = await receptionist(repository)
    user = await users.require("rita")
    for _ in range(LOCKOUT_THRESHOLD):
        assert not await users.check_current_password(user, "a wrong guess at it")
    assert (await users.require("rita")).locked_until > 0
    assert not await users.check_current_password(user, PASSWORD)  # locked: even the right one


async def test_mismatch_empty_and_weak_passwords_are_explained(
    app: Any, repository: Repository
) -> None:
    users = await receptionist(repository)
    async with browser(app) as http:
        await sign_in(http, "rita", PASSWORD)
        empty = await change(http, "", "", "")
        assert empty.status_code == 400
        assert '<a href="#current-password">Enter your current password</a>' in empty.text
        assert '<a href="#new-password">Enter a new password</a>' in empty.text

        mismatch = await change(http, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "s")
        assert mismatch.status_code == 400
        assert '<a href="#confirm-password">The new passwords do not match' in mismatch.text
        assert "#current-password" not in mismatch.text

        short = await change(http, PASSWORD, "tiny pass", "tiny pass")
        assert short.status_code == 400
        assert "Password must be at least 12 characters long" in short.text
        assert "tiny pass" not in short.text

        breached = await change(http, PASSWORD, "password123456", "password123456")
        assert breached.status_code == 400
        assert (
            '<a href="#new-password">Password is too common: it appears in lists of breached'
            " passwords</a>" in breached.text
        )

        named = await change(http, PASSWORD, "rita likes long walks", "rita likes long walks")
        assert "must not contain your user name" in named.text

        same = await change(http, PASSWORD, PASSWORD, PASSWORD)
        assert same.status_code == 400
        assert "must be different from your current password" in same.text

    user = await users.require("rita")
    assert user.failed_logins == 0  # the current password was right every time
    assert (await users.authenticate("rita", PASSWORD)).username == "rita"


async def test_change_ends_other_sessions_and_the_new_password_works(
    app: Any, repository: Repository
) -> None:
    users = await receptionist(repository)
    old_hash = (await users.require("rita")).password_hash
    async with browser(app) as other, browser(app) as http:
        await sign_in(other, "rita", PASSWORD)
        assert (await other.get("/help")).status_code == 200
        await sign_in(http, "rita", PASSWORD)
        before = http.cookies.get("wardbook_session")

        done = await change(http, PASSWORD, NEW_PASSWORD, NEW_PASSWORD, next_path="/help")
        assert done.status_code == 303
        assert done.headers["location"] == "/account/password/changed?next=/help"
        assert http.cookies.get("wardbook_session") not in (None, before)  # a fresh session id
        confirmation = await http.get(done.headers["location"])
        assert '<h1 class="nhsuk-panel__title">Password changed</h1>' in confirmation.text
        assert 'href="/help">Continue</a>' in confirmation.text
        assert (await http.get("/help")).status_code == 200  # this browser stays signed in

        ended = await other.get("/help")  # every other session ended
        assert ended.status_code == 303 and ended.headers["location"].startswith("/sign-in")

    user = await users.require("rita")
    assert user.password_hash != old_hash and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    async with browser(app) as fresh:
        refused = await sign_in(fresh, "rita", PASSWORD)
        assert refused.status_code == 401
        signed = await sign_in(fresh, "rita", NEW_PASSWORD)
        assert signed.status_code == 303 and signed.headers["location"] == "/"

    await writer_of(app).flush()
    events = await audit_events(repository, [("_count", "200")])
    changes = [e for e in events if e["type"]["code"] == "110113"]
    assert [s["code"] for s in changes[0]["subtype"]] == ["110137"]
    assert [(e["outcome"], e["agent"][0]["altId"]) for e in changes] == [("0", "rita")]
    assert changes[0]["action"] == "U"
    assert NEW_PASSWORD not in orjson.dumps(events).decode()


async def test_admin_reset_forces_a_change_after_mfa(app: Any, repository: Repository) -> None:
    users = UserStore(repository)
    enrolment = await users.add("nell", ["nurse"], PASSWORD)
    await repository.execute(
        "UPDATE auth_user SET mfa_enrolled = ? WHERE username = ?", (True, "nell")
    )
    await users.set_password("nell", "temporary handed over by phone", by_admin=True)
    assert (await users.require("nell")).must_change_password
    code = pyotp.TOTP(enrolment.totp_secret).now()

    async with browser(app) as http:
        signed = await sign_in(http, "nell", "temporary handed over by phone", code)
        assert signed.status_code == 303
        assert signed.headers["location"] == "/account/password?next=/"
        # Nothing else until the password is changed: pages, forms, the SMART consent.
        for path in ("/", "/patients/p1", "/help", "/admin/users", "/oauth2/authorize"):
            held = await http.get(path)
            assert held.status_code == 303, path
            assert held.headers["location"].startswith("/account/password?next="), path
        assert (await http.get("/patients/p1")).headers["location"] == (
            "/account/password?next=/patients/p1"
        )
        page = await http.get(signed.headers["location"])
        assert "An administrator has reset your password" in page.text
        assert 'aria-label="Menu"' not in page.text  # no menu leading back here
        assert ">Sign out</button>" in page.text
        assert (await http.get("/session/keepalive")).status_code == 204

        # The FHIR API answers the session cookie 403 with an OperationOutcome.
        fhir = await http.get("/fhir/Patient")
        assert fhir.status_code == 403
        outcome = fhir.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "forbidden"
        assert "password must be changed" in outcome["issue"][0]["diagnostics"]

        done = await change(
            http, "temporary handed over by phone", NEW_PASSWORD, NEW_PASSWORD, next_path="/"
        )
        assert done.status_code == 303
        assert (await http.get("/help")).status_code == 200  # free again
        assert (await http.get("/fhir/Patient")).status_code == 401  # the usual: no token
    assert not (await users.require("nell")).must_change_password


async def test_bearer_tokens_are_not_held_by_a_forced_change(
    app: Any, repository: Repository
) -> None:
    users = await receptionist(repository)
    await users.set_password("rita", "temporary handed over by phone", by_admin=True)
    await register_client(
        OAuthStore(repository),
        client_id="ward-app",
        client_type="public",
        redirect_uris=["http://127.0.0.1/callback"],
        scope=None,
        jwks=None,
        jwks_uri=None,
    )
    token = await issue_admin_token(
        repository,
        Settings(env="test"),
        client_id="ward-app",
        scope="user/Patient.rs",
        patient=None,
        user="rita",
        expires_in=600,
    )
    async with browser(app) as http:
        signed = await sign_in(http, "rita", "temporary handed over by phone")
        assert signed.headers["location"] == "/account/password?next=/"
        assert (await http.get("/fhir/metadata")).status_code == 200  # public stays public
        held = await http.get("/fhir/Patient")
        assert held.status_code == 403
        # The same browser with a SMART app's Bearer token: judged on the token alone.
        app_read = await http.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"})
        assert app_read.status_code == 200, app_read.text
        assert app_read.json()["resourceType"] == "Bundle"
