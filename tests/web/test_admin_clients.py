"""The SMART clients admin page over HTTP (both backends): list, register, revoke.

Forms are posted the way a browser without Fetch Metadata would: with the session's CSRF
token from the page, so the synchronizer-token check is what lets them through.
"""

from __future__ import annotations

import re

import pytest

from tests.web.test_pages import signed_in_as
from wardbook.auth.clients import register_client
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore

pytestmark = pytest.mark.anyio


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the form carries no CSRF token"
    return found.group(1)


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


async def test_admin_lists_registers_and_revokes_clients(repository: Repository) -> None:
    store = OAuthStore(repository)
    await register_client(
        store,
        client_id="growth-chart",
        client_type="public",
        redirect_uris=["https://growth.example/cb"],
        scope="launch/patient patient/Observation.rs",
        jwks=None,
        jwks_uri=None,
        name="Growth chart",
    )
    async with signed_in_as(repository, "ada.admin", ["admin"]) as admin:
        listed = await admin.get("/admin/clients")
        assert listed.status_code == 200
        assert listed_ids(listed.text) == ["growth-chart"]
        row = listed.text.split('<th scope="row">growth-chart</th>')[1].split("</tr>")[0]
        assert "<td>Public</td>" in row
        assert "<code>patient/Observation.rs</code>" in row
        assert "https://growth.example/cb" in row
        assert "<td>Growth chart</td>" in row

        # Register a confidential client through the form: the secret is shown once.
        form = await admin.get("/admin/clients/new")
        token = csrf_of(form.text)
        created = await admin.post(
            "/admin/clients/new",
            data={
                "csrf_token": token,
                "client_id": "billing",
                "client_type": "confidential",
                "redirect_uris": "https://billing.example/cb\nhttps://billing.example/cb2",
                "scope": "user/Patient.rs",
                "name": "  Billing service  ",
            },
        )
        assert created.status_code == 201, created.text
        assert "Billing service" in created.text
        secret = re.search(r'id="client-secret" type="text" readonly value="([^"]+)"', created.text)
        assert secret is not None
        stored = await store.get_client("billing")
        assert stored is not None
        assert stored.client_type == "confidential"
        assert stored.redirect_uris == ("https://billing.example/cb", "https://billing.example/cb2")
        assert stored.scope == "user/Patient.rs"
        assert stored.name == "Billing service"
        assert stored.secret_hash is not None and secret.group(1) not in stored.secret_hash
        assert listed_ids((await admin.get("/admin/clients")).text) == ["billing", "growth-chart"]

        # The same rules as `wardbook client add`: errors next to the fields, values kept.
        for data, field, message in (
            ({"client_type": "public"}, "client-id", "Enter a client ID"),
            ({"client_id": "x"}, "client-type", "Select the type of client"),
            (
                {"client_id": "x", "client_type": "public"},
                "redirect-uris",
                "A public or confidential client needs at least one --redirect-uri",
            ),
            (
                {"client_id": "billing", "client_type": "public", "redirect_uris": "https://a/b"},
                "client-id",
                "A client with id &#39;billing&#39; is already registered",
            ),
            ({"client_id": "svc", "client_type": "backend", "jwks": "{nope"}, "jwks", "JSON"),
        ):
            refused = await admin.post("/admin/clients/new", data={"csrf_token": token, **data})
            assert refused.status_code == 422, (data, refused.text)
            summary = refused.text.split('class="nhsuk-error-summary"')[1].split("</ul>")[0]
            assert f'href="#{field}"' in summary, (data, summary)
            assert message in summary, (data, summary)
            assert 'aria-invalid="true"' in refused.text
            assert f'value="{data.get("client_id", "")}"' in refused.text

        # Without the CSRF token (and no Fetch Metadata) nothing is registered.
        forged = await admin.post(
            "/admin/clients/new",
            data={"client_id": "evil", "client_type": "public", "redirect_uris": "https://e/cb"},
        )
        assert forged.status_code == 403
        assert await store.get_client("evil") is None

        # Revoke: a confirmation page, then the POST removes the client and its tokens.
        confirm = await admin.get("/admin/clients/growth-chart/revoke")
        assert confirm.status_code == 200
        assert "<h1>Revoke client growth-chart?</h1>" in confirm.text
        assert (await admin.post("/admin/clients/growth-chart/revoke")).status_code == 403
        assert await store.get_client("growth-chart") is not None
        revoked = await admin.post(
            "/admin/clients/growth-chart/revoke", data={"csrf_token": csrf_of(confirm.text)}
        )
        assert revoked.status_code == 303
        assert await store.get_client("growth-chart") is None
        after = await admin.get(revoked.headers["location"])
        assert "Client growth-chart was revoked" in after.text
        assert listed_ids(after.text) == ["billing"]
        missing = await admin.get("/admin/clients/growth-chart/revoke")
        assert missing.status_code == 404


async def test_client_pages_are_for_administrators_only(repository: Repository) -> None:
    async with signed_in_as(repository, "sister.okafor", ["nurse"]) as nurse:
        for path in ("/admin/clients", "/admin/clients/new", "/admin/clients/x/revoke"):
            assert (await nurse.get(path)).status_code == 403, path
        page = await nurse.get("/admin/clients/new")
        posted = await nurse.post(
            "/admin/clients/new",
            data={
                "csrf_token": csrf_of((await nurse.get("/")).text),
                "client_id": "sneaky",
                "client_type": "public",
                "redirect_uris": "https://s/cb",
            },
        )
        assert page.status_code == 403 and posted.status_code == 403
    assert await OAuthStore(repository).get_client("sneaky") is None


async def test_admin_index_links_to_clients(repository: Repository) -> None:
    async with signed_in_as(repository, "ada.admin", ["admin"]) as admin:
        index = await admin.get("/admin")
    assert '<a href="/admin/clients">SMART clients</a>' in index.text
