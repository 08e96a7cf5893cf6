"""Searches with thousands of comma-separated values, over HTTP on both backends.

R4 search.html#combining: a parameter's values OR. A client POSTed ``_search`` with 4,769
ids and got 503 ("Expression tree is too large" from SQLite): one OR term per value. Now
equality values share an IN list (wardbook.storage.value_lists) and a search with more
values than wardbook.search.limits allows is refused with 400 too-costly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from wardbook.search.limits import MAX_RANGE_VALUES, MAX_VALUES
from wardbook.storage.base import Repository

from ..search.data import load

pytestmark = pytest.mark.anyio

PATIENTS = 100
OBSERVATIONS = 200
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def observation(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{n}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": f"code-{n % 7}"}]},
        "subject": {"reference": f"Patient/pat-{n % PATIENTS}"},
    }


@pytest.fixture
async def seeded(repository: Repository, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """100 patients, 200 observations (obs-n refers to pat-(n % 100))."""
    patients = [{"resourceType": "Patient", "id": f"pat-{n}"} for n in range(PATIENTS)]
    await load(repository, patients + [observation(n) for n in range(OBSERVATIONS)])
    return client


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path.removeprefix('/fhir')}?{parts.query}"


def next_url(bundle: dict[str, Any]) -> str | None:
    found = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    return found[0] if found else None


# Longer links are refused by common proxies (nginx's default 8 KB request line) and by
# httpx itself past 64 KB: docs/search.md#limits tells clients to POST them back instead.
LONG_LINK = 8 * 1024


async def follow(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET a paging link, or POST its query to ``_search`` when it is too long to GET."""
    if len(url) <= LONG_LINK:
        return await client.get(relative(url))
    parts = urlsplit(url)
    path = parts.path.removeprefix("/fhir")
    body = parse_qsl(parts.query, keep_blank_values=True)
    return await client.post(f"{path}/_search", data=dict(body), headers=FORM)


async def post_all_pages(
    client: httpx.AsyncClient, form: dict[str, str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """POST the search, then follow every ``next`` link; ids in page order and the pages."""
    response = await client.post("/Observation/_search", data=form, headers=FORM)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while (url := next_url(pages[-1])) is not None:
        assert len(pages) < 50, "paging does not end"
        response = await follow(client, url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return [e["resource"]["id"] for p in pages for e in p.get("entry", [])], pages


async def test_five_thousand_ids_find_exactly_the_stored_ones(seeded: httpx.AsyncClient) -> None:
    stored = [f"obs-{n}" for n in range(150)]
    missing = [f"missing-{n}" for n in range(5000 - len(stored))]
    ids, pages = await post_all_pages(seeded, {"_id": ",".join(missing + stored), "_count": "50"})
    assert sorted(ids) == sorted(stored)
    assert len(ids) == len(set(ids))
    assert all(p["total"] == len(stored) for p in pages)
    # The next link repeats every value: correct, if long (docs/search.md#limits).
    assert len(next_url(pages[0]) or "") > 5000 * 8


async def test_five_thousand_subject_references(seeded: httpx.AsyncClient) -> None:
    wanted = [f"Patient/pat-{n}" for n in range(50)]
    others = [f"Patient/nobody-{n}" for n in range(5000 - len(wanted))]
    ids, pages = await post_all_pages(seeded, {"subject": ",".join(others + wanted)})
    expected = sorted(f"obs-{n}" for n in range(OBSERVATIONS) if n % PATIENTS < 50)
    assert sorted(ids) == expected
    assert pages[0]["total"] == len(expected)


async def test_ids_and_references_together(seeded: httpx.AsyncClient) -> None:
    """5,000 ids AND 5,000 references (10,000 values, the limit) in one GET-free search."""
    id_list = [f"obs-{n}" for n in range(0, OBSERVATIONS, 2)] + [f"x{n}" for n in range(4900)]
    refs = [f"Patient/pat-{n}" for n in range(20)] + [f"Patient/y{n}" for n in range(4980)]
    form = {"_id": ",".join(id_list), "subject": ",".join(refs), "_count": "7"}
    ids, pages = await post_all_pages(seeded, form)
    expected = sorted(f"obs-{n}" for n in range(0, OBSERVATIONS, 2) if n % PATIENTS < 20)
    assert sorted(ids) == expected
    assert pages[-1]["total"] == len(expected)


async def test_long_lists_in_chains_has_and_negations(seeded: httpx.AsyncClient) -> None:
    fillers = [f"none-{n}" for n in range(3000)]
    chained = ",".join([*fillers, "pat-3", "pat-4"])
    ids, _ = await post_all_pages(seeded, {"subject:Patient._id": chained})
    assert sorted(ids) == ["obs-103", "obs-104", "obs-3", "obs-4"]
    codes = ",".join([f"http://loinc.org|nope-{n}" for n in range(3000)] + ["code-1"])
    response = await seeded.post(
        "/Patient/_search", data={"_has:Observation:subject:code": codes}, headers=FORM
    )
    assert response.status_code == 200, response.text
    has = {e["resource"]["id"] for e in response.json().get("entry", [])}
    assert has == {f"pat-{n % PATIENTS}" for n in range(OBSERVATIONS) if n % 7 == 1}
    negated = ",".join([f"http://loinc.org|code-{n}" for n in range(6)] + fillers)
    ids, _ = await post_all_pages(seeded, {"code:not": negated})
    assert sorted(ids) == sorted(f"obs-{n}" for n in range(OBSERVATIONS) if n % 7 == 6)


async def test_next_link_can_be_posted_back(seeded: httpx.AsyncClient) -> None:
    """A next link too long for a proxy can be POSTed as the form body instead."""
    ids = ",".join([f"obs-{n}" for n in range(OBSERVATIONS)] + [f"z{n}" for n in range(3000)])
    first = await seeded.post("/Observation/_search", data={"_id": ids}, headers=FORM)
    link = next_url(first.json())
    assert link is not None
    body = dict(parse_qsl(urlsplit(link).query))
    second = await seeded.post("/Observation/_search", data=body, headers=FORM)
    assert second.status_code == 200, second.text
    seen = [e["resource"]["id"] for b in (first.json(), second.json()) for e in b["entry"]]
    assert len(set(seen)) == 100
    assert second.json()["total"] == OBSERVATIONS


@pytest.mark.parametrize(
    ("param", "values"),
    [
        ("_id", [f"i{n}" for n in range(MAX_VALUES + 1)]),
        ("subject", [f"Patient/p{n}" for n in range(MAX_VALUES + 1)]),
        ("date", [f"ge2020-01-{1 + n % 28:02d}" for n in range(MAX_RANGE_VALUES + 1)]),
    ],
)
async def test_too_many_values_is_400_too_costly(
    seeded: httpx.AsyncClient, param: str, values: list[str]
) -> None:
    response = await seeded.post(
        "/Observation/_search", data={param: ",".join(values)}, headers=FORM
    )
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert "at most" in issue["diagnostics"]


async def test_the_limits_themselves_are_answered(seeded: httpx.AsyncClient) -> None:
    dates = ",".join(f"ge2020-01-{1 + n % 28:02d}" for n in range(MAX_RANGE_VALUES))
    response = await seeded.post("/Observation/_search", data={"date": dates}, headers=FORM)
    assert response.status_code == 200, response.text
    codes = ",".join(f"http://loinc.org|c{n}" for n in range(MAX_VALUES - 1)) + ",code-2"
    response = await seeded.post("/Observation/_search", data={"code": codes}, headers=FORM)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == len([n for n in range(OBSERVATIONS) if n % 7 == 2])
