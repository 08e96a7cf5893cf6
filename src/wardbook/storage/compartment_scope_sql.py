"""The compartment restriction of an authorized search as SQL (R4 compartmentdefinition.html).

``SearchQuery.compartment = ("Patient", "123")`` keeps only resources in that patient's
compartment: the Patient itself, and resources whose compartment parameters (from the
CompartmentDefinition, e.g. Observation ``subject``/``performer``) reference it. This
constrains the query itself, so totals and paging stay exact (a patient-scoped SMART
token never sees a count that includes other patients' resources). ``SearchQuery.reach``
generalizes it: several owners (the patients in a clinician's care), limiting only some
types (the clinical ones); it also bounds what chains and ``_has`` look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wardbook.fhir.registry import compartment_params, compartment_resource_types
from wardbook.search.query import Reach

if TYPE_CHECKING:
    from wardbook.storage.search_sql import Sql


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def compartment_sql(
    compartment: tuple[str, str], resource_type: str | None, types: list[str]
) -> Sql:
    """Predicate on ``resource_entity e``: the resource is in ``compartment``."""
    return reach_sql(Reach(compartment[0], (compartment[1],)), resource_type, types)


def reach_sql(reach: Reach, resource_type: str | None, types: list[str]) -> Sql:
    """Predicate on ``resource_entity e``: the resource is within ``reach`` -- of a type it
    does not limit, or in the compartment of one of its owners."""
    from wardbook.storage.search_sql import Sql

    owner_type = reach.compartment
    owners = list(dict.fromkeys(reach.owners))
    alternatives: list[str] = []
    params: list[Any] = []
    if resource_type is not None or types:
        candidates = [resource_type] if resource_type is not None else list(dict.fromkeys(types))
        free = [t for t in candidates if not reach.limits(t)]
        limited = [t for t in candidates if reach.limits(t)]
        if free:
            alternatives.append(f"e.res_type IN ({_placeholders(free)})")
            params += free
    elif reach.limited is None:
        limited = sorted(compartment_resource_types(owner_type))
    else:
        limited = sorted(reach.limited)
        alternatives.append(f"e.res_type NOT IN ({_placeholders(limited)})")
        params += limited
    linked: list[tuple[str, tuple[str, ...]]] = []
    for rtype in limited if owners else []:
        if rtype == owner_type:
            alternatives.append(f"(e.res_type = ? AND e.res_id IN ({_placeholders(owners)}))")
            params += [owner_type, *owners]
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
            f" AND i.target_id IN ({_placeholders(owners)}) AND ({' OR '.join(pairs)}))"
        )
        params += [owner_type, *owners, *pair_params]
    if not alternatives:
        return Sql("1 = 0")
    return Sql("(" + " OR ".join(alternatives) + ")", params)
