"""``Patient/[id]/$everything`` and ``Encounter/[id]/$everything``.

R4 patient-operation-everything.html (and, for Encounter, the Encounter compartment of R4
compartmentdefinition-encounter.html, as R5's Encounter/$everything does): the focus, every
resource of its compartment and every resource those reference, paged by ``_count`` with
a keyset cursor, filtered by ``start``/``end`` (care dates), ``_since`` (last update) and
``_type``. Each page is one bounded query: nothing is held in memory between pages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wardbook.auth.principal import current_principal
from wardbook.errors import BadRequest, NotFound
from wardbook.service.resources import ResourceService, check_type
from wardbook.storage.base import Page
from wardbook.storage.compartment_sql import CompartmentQuery

EVERYTHING_COMPARTMENTS = ("Patient", "Encounter")


@dataclass(frozen=True, slots=True)
class EverythingRequest:
    """The parameters of one page (times are epoch µs, ``cursor`` is a next link's)."""

    compartment: str
    focus_id: str
    count: int
    cursor: str | None = None
    types: tuple[str, ...] | None = None
    since: int | None = None
    start: int | None = None
    end: int | None = None


async def everything(resources: ResourceService, request: EverythingRequest) -> Page:
    """One page of the focus's record; 404/410 when the focus does not exist."""
    if request.compartment not in EVERYTHING_COMPARTMENTS:
        raise NotFound(f"$everything is not defined on {request.compartment}")
    await resources.read(request.compartment, request.focus_id)
    if request.types is not None and not request.types:
        raise BadRequest("_type needs at least one resource type")
    for resource_type in request.types or ():
        check_type(resource_type)
    after = 0
    if request.cursor is not None:
        if not request.cursor.isdigit() or len(request.cursor) > 18:
            raise BadRequest(f"_cursor '{request.cursor}' is not a cursor of this operation")
        after = int(request.cursor)
    if request.start is not None and request.end is not None and request.start >= request.end:
        raise BadRequest("$everything: start must be before end")
    query = CompartmentQuery(
        compartment=request.compartment,
        focus_id=request.focus_id,
        count=request.count,
        after=after,
        types=request.types,
        since=request.since,
        start=request.start,
        end=request.end,
    )
    page = await resources.repository.everything(query)
    # The compartment's members and what they reference: each is checked like a search
    # result (a patient-scoped token never sees another record's resources through it).
    entries = await resources.authorized_entries(page.entries)
    if current_principal().unrestricted:
        return replace(page, entries=entries)
    # The compartment's total counts what the caller may not see (another patient's record
    # referenced from this one): a restricted reader gets no total rather than a leaky one.
    return replace(page, entries=entries, total=None)
