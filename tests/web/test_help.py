"""In-app help: every page's Help link into the user manual, /manual/ itself, help search."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from tests.web.test_pages import BASE, SAME_SITE, signed_in_as
from tests.web.test_pages import patient as patient
from wardbook.app import build_app
from wardbook.auth.discovery import AUTHORIZE_PATH
from wardbook.auth.endpoints import _templates as oauth_templates
from wardbook.config import Settings
from wardbook.storage.base import Repository
from wardbook.web.auth_routes import auth_routes
from wardbook.web.help import FAQ, search_help
from wardbook.web.manual import (
    MANUAL_CSP,
    MANUAL_PAGES,
    PAGE_MANUAL,
    manual_page_for,
    manual_url,
)
from wardbook.web.routes import web_routes

ROOT = Path(__file__).resolve().parents[2]
# GET routes that are not pages of their own, and why.
NOT_PAGES = {
    "/patients/search": "an htmx fragment inside Find a patient",
    "/session/keepalive": "204 No Content",
    "/static/{path:path}": "static files",
    "/admin/feedback.csv": "a CSV download",
    "/manual": "a redirect to /manual/",
}
HELP_LINK = re.compile(r'<p class="wb-manual-link"><a href="(/manual/manual/[a-z-]+/)">Help: ')


def routed_pages() -> list[Route]:
    """The web app's routes (handlers are built, nothing runs, so no database is needed)."""
    service: Any = SimpleNamespace(repository=None)
    routes = [*web_routes(service), *auth_routes(), Route(AUTHORIZE_PATH, lambda r: None)]
    return [r for r in routes if isinstance(r, Route)]


def test_every_routed_page_maps_to_a_manual_page() -> None:
    unmapped = [
        r.path for r in routed_pages() if r.path not in PAGE_MANUAL and r.path not in NOT_PAGES
    ]
    assert unmapped == []
    assert set(PAGE_MANUAL.values()) <= set(MANUAL_PAGES)
    stale = set(PAGE_MANUAL) - {r.path for r in routed_pages()}
    assert stale == set()


def test_every_manual_page_the_app_links_to_is_written() -> None:
    missing = [n for n in MANUAL_PAGES if not (ROOT / "docs" / "manual" / f"{n}.md").is_file()]
    assert missing == []


def test_paths_find_their_manual_page() -> None:
    assert manual_page_for("/") == "find-a-patient"
    assert manual_page_for("/patients/abc") == "read-the-chart"
    assert manual_page_for("/patients/abc/vitals/new") == "record-vital-signs"
    assert manual_page_for("/patients/abc/notes/n1") == "write-a-note"
    assert manual_page_for("/patients/abc/medications/m1/stop") == "medications"
    assert manual_page_for("/sign-in/mfa") == "sign-in"
    assert manual_page_for("/no/such/page") == "help-and-feedback"


@pytest.fixture
async def app_client(repository: Repository, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", no_auth=True, manual_dir=str(tmp_path / "site"))
    app = build_app(settings, repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


@pytest.mark.anyio
async def test_every_html_page_has_a_help_link_to_its_manual_page(
    app_client: httpx.AsyncClient, patient: dict[str, Any]
) -> None:
    service_ids = {
        "patient_id": patient["id"],
        "note_id": "no-such-note",
        "medication_id": "no-such-medicine",
        "condition_id": "no-such-problem",
        "path": "manual/sign-in/",
    }
    checked = 0
    for route in routed_pages():
        if "GET" not in (route.methods or ()) or route.path in (*NOT_PAGES, AUTHORIZE_PATH):
            continue
        path = route.path
        for name, value in service_ids.items():
            path = path.replace(f"{{{name}}}", value).replace(f"{{{name}:path}}", value)
        response = await app_client.get(path, follow_redirects=True)
        assert response.headers["content-type"].startswith("text/html"), path
        expected = (
            PAGE_MANUAL[route.path]
            if response.url.path == path
            else manual_page_for(response.url.path)
        )
        links = HELP_LINK.findall(response.text)
        assert links == [manual_url(expected)], (path, response.status_code, links)
        checked += 1
    assert checked >= 20


@pytest.mark.anyio
async def test_the_manual_is_served_from_the_built_site(
    repository: Repository, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "manual" / "sign-in").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Wardbook manual</h1>", encoding="utf-8")
    (site / "manual" / "sign-in" / "index.html").write_text("<h1>Sign in</h1>", encoding="utf-8")
    (site / "search.json").write_text('{"docs": []}', encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside the site", encoding="utf-8")
    settings = Settings(env="test", no_auth=True, manual_dir=str(site))
    app = build_app(settings, repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        home = await http.get("/manual/")
        assert home.status_code == 200
        assert home.text == "<h1>Wardbook manual</h1>"
        assert home.headers["content-type"] == "text/html; charset=utf-8"
        assert home.headers["content-security-policy"] == MANUAL_CSP
        page = await http.get("/manual/manual/sign-in/")
        assert page.text == "<h1>Sign in</h1>"
        assert (await http.get("/manual/search.json")).json() == {"docs": []}
        bare = await http.get("/manual")
        assert bare.status_code == 308 and bare.headers["location"] == "/manual/"
        missing = await http.get("/manual/manual/no-such-page/")
        assert missing.status_code == 404
        assert "This part of the user manual was not found" in missing.text
        for sneaky in (
            "/manual/../secret.txt",
            "/manual/%2e%2e/secret.txt",
            "/manual/..%2fsecret.txt",
        ):
            outside = await http.get(sneaky)
            assert "outside the site" not in outside.text, sneaky
            assert outside.status_code in (404, 400), sneaky


@pytest.mark.anyio
async def test_an_unbuilt_manual_says_how_to_build_it(
    app_client: httpx.AsyncClient,
) -> None:
    for path in ("/manual/", "/manual/manual/record-vital-signs/"):
        page = await app_client.get(path)
        assert page.status_code == 404
        assert "<h1>The user manual is not available yet</h1>" in page.text
        assert "<code>make docs</code>" in page.text
        assert '<a href="/help">help centre</a>' in page.text


@pytest.mark.anyio
async def test_the_manual_is_public_but_the_help_centre_needs_sign_in(
    repository: Repository,
) -> None:
    app = build_app(Settings(env="test", no_auth=False, manual_dir="/nonexistent"), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        manual = await http.get("/manual/")
        assert manual.status_code == 404
        assert "The user manual is not available yet" in manual.text
        sign_in = await http.get("/sign-in")
        assert '<a href="/manual/manual/sign-in/">Help: Sign in in the user manual</a>' in (
            sign_in.text
        )
        assert (await http.get("/help")).status_code == 303


def test_help_search_matches_every_word_as_a_word_start() -> None:
    questions = [e.question for e in search_help("escal")]
    assert questions == ["What do I do when Wardbook says to escalate?"]
    assert [e.question for e in search_help("BOOK follow-up")] == [
        "How do I book a follow-up appointment?"
    ]
    assert len(search_help("")) == len(FAQ)
    assert search_help("zebra") == []
    assert search_help("cat") == []  # "cat" is not the start of "escalate"


@pytest.mark.anyio
async def test_the_help_centre_search_works_without_javascript(
    app_client: httpx.AsyncClient,
) -> None:
    everything = await app_client.get("/help")
    assert everything.text.count('<details class="nhsuk-details">') == len(FAQ)
    assert '<form class="wb-help-search" role="search" aria-label="Help"' in everything.text
    assert '<label class="nhsuk-label" for="help-q">Search help</label>' in everything.text
    for name in MANUAL_PAGES:
        assert f'href="{manual_url(name)}"' in everything.text
    found = await app_client.get("/help", params={"q": "NEWS2 escalate"})
    assert "1 answer found for “NEWS2 escalate”" in found.text
    assert "What do I do when Wardbook says to escalate?" in found.text
    assert "How do I find a patient?" not in found.text
    assert 'value="NEWS2 escalate"' in found.text
    none = await app_client.get("/help", params={"q": "<script>zebra</script>"})
    assert none.status_code == 200
    assert "0 answers found for “&lt;script&gt;zebra&lt;/script&gt;”" in none.text
    assert '<a href="/help">see every answer</a>' in none.text
    long = await app_client.get("/help", params={"q": "x" * 5000})
    assert long.status_code == 200


@pytest.mark.anyio
async def test_break_the_glass_warning_links_the_break_the_glass_manual_page(
    repository: Repository, patient: dict[str, Any]
) -> None:
    async with signed_in_as(repository, "nurse.jones", ["nurse"]) as as_nurse:
        warned = await as_nurse.get(f"/patients/{patient['id']}/vitals/new")
        assert warned.status_code == 403
        assert HELP_LINK.findall(warned.text) == [manual_url("break-the-glass")]


def test_the_smart_consent_pages_link_the_sign_in_manual_page() -> None:
    html = oauth_templates().get_template("oauth/error.html").render(message="Unknown client")
    assert HELP_LINK.findall(html) == [manual_url(PAGE_MANUAL[AUTHORIZE_PATH])]


@pytest.mark.anyio
async def test_feedback_remembers_its_page_and_exports_as_parseable_csv(
    repository: Repository, app_client: httpx.AsyncClient
) -> None:
    form = await app_client.get("/help/feedback", params={"page": "/patients/p1/vitals/new"})
    assert '<input type="hidden" name="page" value="/patients/p1/vitals/new">' in form.text
    texts = [
        ("problem", "/patients/p1/vitals/new", 'The "Save" button, then a comma, here'),
        ("other", "/help", "Two lines:\nfirst\nsecond"),
    ]
    for kind, page, text in texts:
        sent = await app_client.post(
            "/help/feedback",
            data={"kind": kind, "page": page, "feedback": text},
            headers=SAME_SITE,
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/help/feedback/sent"
    thanks = await app_client.get("/help/feedback/sent")
    assert "<h1>Thank you for your feedback</h1>" in thanks.text
    exported = await app_client.get("/admin/feedback.csv")
    assert exported.headers["content-disposition"] == (
        'attachment; filename="wardbook-feedback.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    # Quotes, commas and line breaks survive the round trip through a CSV reader.
    assert sorted((r["kind"], r["page"], r["feedback"]) for r in rows) == [
        ("Something else", "/help", "Two lines:\nfirst\nsecond"),
        ("Something is not working", "/patients/p1/vitals/new", texts[0][2]),
    ]
    assert rows[0]["sent"] >= rows[1]["sent"]  # newest first
    listed = await app_client.get("/admin/feedback")
    assert "The &#34;Save&#34; button, then a comma, here" in listed.text
