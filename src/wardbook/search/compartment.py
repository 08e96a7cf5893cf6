"""Compartment membership, R4 compartmentdefinition.html (Patient compartment).

A resource is in the compartment of ``Patient/P`` when one of the search parameters that
the CompartmentDefinition lists for its type references ``Patient/P`` (e.g. Observation:
``subject``, ``performer``); the Patient P itself is in its own compartment. Pure: the
storage compiler turns the same rule into SQL (``wardbook.storage.compartment_sql``).
"""

from __future__ import annotations

from typing import Any

from wardbook.fhir.registry import compartment_params
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows


def member_params(compartment: str, resource_type: str) -> tuple[str, ...]:
    """The parameters linking ``resource_type`` to ``compartment`` (empty: never a member)."""
    return compartment_params(compartment, resource_type)


def in_compartment(
    resource: dict[str, Any],
    compartment: str,
    owner_id: str,
    *,
    rows: IndexRows | None = None,
) -> bool:
    """Whether ``resource`` belongs to the compartment of ``compartment/owner_id``."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return False
    if resource_type == compartment and resource.get("id") == owner_id:
        return True
    params = member_params(compartment, resource_type)
    if not params:
        return False
    if rows is None:
        rows = extract_index(resource)
    return any(
        row.param in params and row.target_type == compartment and row.target_id == owner_id
        for row in rows.reference
    )
