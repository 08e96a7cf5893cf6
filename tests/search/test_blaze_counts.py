"""The Blaze server's expected search counts on the full Synthea set (92,114 resources).

``expected-search-counts.tsv`` holds 45 searches with the totals Blaze's own integration
tests expect on exactly this data (token OR lists, date prefixes, chains, ``_has``,
``_sort``). Every one must give the same total, and a ``_sort`` search every page in the
requested order.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from urllib.parse import parse_qsl

import pytest

from wardbook.search.parse import parse_search
from wardbook.storage.base import Repository

from .data import EXPECTED_COUNTS, SYNTHEA, analyze, load, synthea_record

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def expected_searches() -> list[tuple[str, str, int]]:
    with EXPECTED_COUNTS.open() as handle:
        return [
            (row["type"], row["query"], int(row["expected_total"]))
            for row in csv.DictReader(handle, delimiter="\t")
        ]


async def _load_everything(repository: Repository) -> int:
    count = 0
    for path in sorted(SYNTHEA.glob("*.json.bz2")):
        resources = synthea_record(path)
        await load(repository, resources, statistics=False)
        count += len(resources)
    return count


async def test_blaze_expected_counts(repository: Repository) -> None:
    assert await _load_everything(repository) == 92_114
    await analyze(repository)
    checked, wrong = 0, []
    for resource_type, text, expected in expected_searches():
        q = parse_search(resource_type, parse_qsl(text), strict=True)
        checked += 1
        if not q.sort:
            total = (await repository.search(replace(q, count=0))).total
            if total != expected:
                wrong.append(f"{resource_type}?{text}: {total} != {expected}")
            continue
        q.count = 1000
        pages = [await repository.search(q)]
        # Later pages need no total (each would cost a COUNT over every match).
        later = replace(q, total="none")
        while (cursor := pages[-1].next_cursor) is not None:
            pages.append(await repository.search(replace(later, cursor=cursor)))
        ids = [e.id for p in pages for e in p.entries]
        if len(ids) != expected or pages[0].total != expected:
            wrong.append(f"{resource_type}?{text}: {len(ids)} != {expected}")
        entries = [e for p in pages for e in p.entries]
        key = q.sort[0]
        values = [e.last_updated if key.param == "_lastUpdated" else e.id for e in entries]
        if values != sorted(values, reverse=key.descending):
            wrong.append(f"{resource_type}?{text}: not in {key.text()} order")
    assert wrong == []
    assert checked == 45
