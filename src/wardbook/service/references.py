"""Resolving conditional references, R4 http.html#trules ("Conditional References").

A reference such as ``Patient?identifier=http://example.org/mrn|123`` names the one
resource the search finds: one match becomes ``Patient/<id>``; no match is 404 and several
are 412 (the transaction "fails and an error is returned"). The bulk loader reuses
:func:`resolve_conditional_reference` with the repository (outside a transaction) or a
WriteTx (inside one): both can search.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from wardbook.errors import BadRequest, NotFound, PreconditionFailed
from wardbook.fhir.bundle_refs import is_conditional_reference
from wardbook.fhir.registry import is_resource_type
from wardbook.search.query import SearchQuery
from wardbook.service.resources import parse_criteria
from wardbook.storage.base import Page


class Searcher(Protocol):
    """Anything that runs a search: a Repository or a WriteTx (sees its own writes)."""

    async def search(self, query: SearchQuery) -> Page: ...


def conditional_query(reference: str) -> SearchQuery:
    """The search of a conditional reference, parsed strictly (400 when it is malformed)."""
    if not is_conditional_reference(reference):
        raise BadRequest(f"'{reference}' is not a conditional reference (Type?search)")
    resource_type, _, criteria = reference.partition("?")
    if not is_resource_type(resource_type):
        raise BadRequest(f"The conditional reference '{reference}' names no resource type")
    return parse_criteria(resource_type, criteria)


async def resolve_conditional_reference(searcher: Searcher, reference: str) -> str:
    """``Type?search`` -> ``Type/id`` of its single match; 404 for none, 412 for several."""
    query = conditional_query(reference)
    page = await searcher.search(replace(query, count=2, cursor=None, total="none"))
    if not page.entries:
        raise NotFound(f"The conditional reference '{reference}' matches no resource")
    if len(page.entries) > 1:
        raise PreconditionFailed(
            f"The conditional reference '{reference}' matches more than one resource"
        )
    found = page.entries[0]
    return f"{found.resource_type}/{found.id}"
