"""``Observation/$lastn`` (R4 observation-operation-lastn.html).

"The most recent N observations for each code": ``max`` (default 1) per code, among the
observations matching the search parameters given with it (``patient``/``subject``,
``category``, ``code``, ``date``...). The clinician app's vitals panel asks for
``patient=...&category=vital-signs&max=3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from wardbook.auth.principal import current_principal
from wardbook.errors import BadRequest
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.service.authorization import care_limits, restrict_search
from wardbook.service.resources import ResourceService, reject_nul
from wardbook.storage.base import Page

MAX_PER_CODE = 100
# One Bundle, not paged: enough for every vital sign and lab of a record at max=100 each.
MAX_RESULTS = 5000


def parse_lastn(params: Sequence[tuple[str, str]], *, strict: bool) -> tuple[SearchQuery, int]:
    """The Observation search and ``max`` of a $lastn request."""
    reject_nul(list(params))
    maxima = [value for name, value in params if name == "max"]
    if len(maxima) > 1:
        raise BadRequest("$lastn takes one 'max'")
    max_per_code = 1
    if maxima:
        if not maxima[0].isdigit() or not 1 <= int(maxima[0]) <= MAX_PER_CODE:
            raise BadRequest(f"max='{maxima[0]}' must be a whole number from 1 to {MAX_PER_CODE}")
        max_per_code = int(maxima[0])
    search = [(name, value) for name, value in params if name != "max"]
    query = parse_search("Observation", search, strict=strict)
    return query, max_per_code


async def lastn(resources: ResourceService, query: SearchQuery, max_per_code: int) -> Page:
    """The latest ``max_per_code`` matching observations of each code.

    Authorized like a search: the query is constrained to what the principal may search
    (a patient-scoped token: its patient's compartment), then each result is checked.
    """
    principal = current_principal()
    plan = restrict_search(principal, query)
    limited = await care_limits(principal, plan.query, resources)
    page = await resources.repository.lastn(limited, max_per_code, MAX_RESULTS)
    return replace(page, entries=await resources.authorized_entries(page.entries))
