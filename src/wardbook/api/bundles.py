"""Bundles built from stored versions without re-parsing them (R4 bundle.html).

Stored bodies are already JSON bytes; ``orjson.Fragment`` splices them into the Bundle
as they are, so a page of 50 resources costs one serialization, not 50 parse+dump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from wardbook.errors import Issue, operation_outcome
from wardbook.fhir.meta import etag, format_instant, http_date
from wardbook.search.params.near import NearValue, position_distance_km
from wardbook.storage.base import Page, StoredResource


def _status_of(stored: StoredResource) -> str:
    if stored.method == "DELETE":
        return "204 No Content"
    return "201 Created" if stored.version == 1 else "200 OK"


def history_bundle(page: Page, base: str, self_link: str, next_link: str | None) -> dict[str, Any]:
    """A ``history`` Bundle: newest first, each entry with request and response."""
    entries: list[dict[str, Any]] = []
    for stored in page.entries:
        url = f"{stored.resource_type}/{stored.id}"
        entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
        if stored.body is not None:
            entry["resource"] = orjson.Fragment(stored.body)
        method = "PUT" if stored.method == "PATCH" else stored.method
        entry["request"] = {
            "method": method,
            "url": stored.resource_type if method == "POST" else url,
        }
        entry["response"] = {
            "status": _status_of(stored),
            "etag": etag(stored.version),
            "lastModified": format_instant(stored.last_updated),
        }
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = _links(self_link, next_link)
    bundle["entry"] = entries
    return bundle


Projection = Callable[[dict[str, Any]], dict[str, Any] | None]
MatchSearch = Callable[[StoredResource], dict[str, Any]]

LOCATION_DISTANCE = "http://hl7.org/fhir/StructureDefinition/location-distance"


def distance_search(point: NearValue) -> MatchSearch:
    """``entry.search`` of a ``near`` match: mode and the ``location-distance`` extension
    (the distance from the searched point in km; Bundle.entry.search is its context)."""

    def search(stored: StoredResource) -> dict[str, Any]:
        distance = position_distance_km(orjson.loads(stored.body or b"{}"), point)
        if distance is None:
            return {"mode": "match"}
        value = {
            "value": round(distance, 3),
            "unit": "km",
            "system": "http://unitsofmeasure.org",
            "code": "km",
        }
        return {"extension": [{"url": LOCATION_DISTANCE, "valueDistance": value}], "mode": "match"}

    return search


def _resource(stored: StoredResource, project: Projection | None) -> Any:
    """The stored bytes as they are, or parsed and subsetted when a projection applies."""
    body = stored.body or b"{}"
    if project is None:
        return orjson.Fragment(body)
    subset = project(orjson.loads(body))
    return orjson.Fragment(body) if subset is None else subset


def searchset_bundle(
    page: Page,
    base: str,
    self_link: str,
    next_link: str | None,
    warnings: list[Issue] | None = None,
    prev_link: str | None = None,
    *,
    project_match: Projection | None = None,
    project_include: Projection | None = None,
    match_search: MatchSearch | None = None,
) -> dict[str, Any]:
    """A ``searchset`` Bundle (R4 search.html#bundle), with an outcome entry for warnings.

    Matches are ``search.mode=match``, what ``_include``/``_revinclude`` added ``include``
    (search.html#include); the projections implement ``_summary``/``_elements``;
    ``match_search`` gives a match's ``entry.search`` (e.g. with its distance).
    """
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": _full_url(base, stored),
            "resource": _resource(stored, project_match),
            "search": match_search(stored) if match_search is not None else {"mode": "match"},
        }
        for stored in page.entries
    ]
    entries.extend(
        {
            "fullUrl": f"{base}/{stored.resource_type}/{stored.id}",
            "resource": _resource(stored, project_include),
            "search": {"mode": "include"},
        }
        for stored in page.included
    )
    if warnings:
        entries.append({"resource": operation_outcome(warnings), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = _links(self_link, next_link, prev_link)
    if entries:
        bundle["entry"] = entries
    return bundle


def _full_url(base: str, stored: StoredResource) -> str:
    """``[base]/Type/id``; a contained resource is ``[base]/ContainerType/id#local-id``
    (the container's URL and the fragment a reference inside it would use, R4
    references.html#contained)."""
    if stored.container is not None:
        return f"{base}/{stored.container}#{stored.id}"
    return f"{base}/{stored.resource_type}/{stored.id}"


def _links(self_link: str, next_link: str | None, prev_link: str | None = None) -> list[Any]:
    links = [{"relation": "self", "url": self_link}]
    if next_link:
        links.append({"relation": "next", "url": next_link})
    if prev_link:
        links.append({"relation": "previous", "url": prev_link})
    return links


def version_headers(stored: StoredResource) -> dict[str, str]:
    """ETag and Last-Modified of a version (R4 http.html#versioning)."""
    return {"ETag": etag(stored.version), "Last-Modified": http_date(stored.last_updated)}
