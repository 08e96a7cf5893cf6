"""The compartment restriction of an authorized search as SQL (R4 compartmentdefinition.html).

``SearchQuery.compartment = ("Patient", "123")`` keeps only resources in that patient's
compartment: the Patient itself, and resources whose compartment parameters (from the
CompartmentDefinition, e.g. Observation ``subject``/``performer``) reference it. This
constrains the query itself, so totals and paging stay exact (a patient-scoped SMART
token never sees a count that includes other patients' resources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wardbook.fhir.registry import compartment_params, compartment_resource_types

if TYPE_CHECKING:
    from wardbook.storage.search_sql import Sql


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def compartment_sql(
    compartment: tuple[str, str], resource_type: str | None, types: list[str]
) -> Sql:
    """Predicate on ``resource_entity e``: the resource is in ``compartment``."""
    from wardbook.storage.search_sql import Sql

    owner_type, owner_id = compartment
    candidates = (
        [resource_type]
        if resource_type is not None
        else (list(dict.fromkeys(types)) or sorted(compartment_resource_types(owner_type)))
    )
    alternatives: list[str] = []
    params: list[Any] = []
    linked: list[tuple[str, tuple[str, ...]]] = []
    for rtype in candidates:
        if rtype == owner_type:
            alternatives.append("(e.res_type = ? AND e.res_id = ?)")
            params += [owner_type, owner_id]
        links = compartment_params(owner_type, rtype)
        if links:
            linked.append((rtype, links))
    if linked:
        pairs: list[str] = []
        pair_params: list[Any] = []
        for rtype, links in linked:
            pairs.append(f"(i.res_type = ? AND i.param IN ({_placeholders(list(links))}))")
            pair_params += [rtype, *links]
        alternatives.append(
            # internal identifiers, values bound:
            "e.pid IN (SELECT i.pid FROM idx_reference i WHERE i.target_type = ?"  # nosec B608
            f" AND i.target_id = ? AND ({' OR '.join(pairs)}))"
        )
        params += [owner_type, owner_id, *pair_params]
    if not alternatives:
        return Sql("1 = 0")
    return Sql("(" + " OR ".join(alternatives) + ")", params)
