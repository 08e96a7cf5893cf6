"""Subsetted resources: ``_summary`` and ``_elements``, R4 search.html#summary and #elements.

Pure functions on a resource's JSON. Every subset is marked with the ``SUBSETTED`` tag
(R4 resource.html#tag, v3-ObservationValue) so a client never mistakes it for the whole
resource (and never updates with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wardbook.fhir import registry

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_ALWAYS = frozenset(("resourceType", "id", "meta"))


def _mandatory(resource_type: str) -> frozenset[str]:
    """Top-level JSON names of the elements with min >= 1 (kept by text and _elements)."""
    if not registry.is_resource_type(resource_type):
        return frozenset()
    return frozenset(
        name for name, el in registry.json_properties(resource_type).items() if el.min > 0
    )


def _keep(resource: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The resource with only ``names`` (and their ``_name`` primitive extensions)."""
    wanted = set(names) | _ALWAYS
    return {k: v for k, v in resource.items() if k in wanted or (k[:1] == "_" and k[1:] in wanted)}


def _mark(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    out = dict(resource)
    out["meta"] = meta
    return out


def _element_names(resource_type: str, elements: Iterable[str]) -> set[str]:
    """JSON names for requested element names (``value`` selects every ``value[x]``)."""
    names = set(elements)
    if registry.is_resource_type(resource_type):
        for json_name, el in registry.json_properties(resource_type).items():
            if el.name in names:
                names.add(json_name)
    return names


def summarize(resource: dict[str, Any], mode: str | None) -> dict[str, Any] | None:
    """The resource under ``_summary=mode``; None when it is to be returned whole.

    ``true``: the elements the definitions mark isSummary; ``text``: text, id, meta and the
    mandatory elements; ``data``: everything but text.
    """
    rtype = str(resource.get("resourceType", ""))
    if mode == "true":
        if not registry.is_resource_type(rtype):
            return None
        return _mark(_keep(resource, registry.summary_elements(rtype)))
    if mode == "text":
        return _mark(_keep(resource, {"text", *_mandatory(rtype)}))
    if mode == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"})
    return None


def select_elements(resource: dict[str, Any], elements: Iterable[str]) -> dict[str, Any]:
    """Only the requested top-level elements plus the mandatory ones, marked SUBSETTED."""
    rtype = str(resource.get("resourceType", ""))
    names = _element_names(rtype, elements) | _mandatory(rtype)
    return _mark(_keep(resource, names))


def project(
    resource: dict[str, Any], summary: str | None, elements: list[str] | None
) -> dict[str, Any] | None:
    """Apply ``_elements`` (precedence) or ``_summary``; None means unchanged."""
    if elements is not None:
        return select_elements(resource, elements)
    return summarize(resource, summary)
