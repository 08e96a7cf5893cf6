"""The CapabilityStatement, generated from the route table and the registry.

R4 capabilitystatement.html and http.html#capabilities: ``GET [base]/metadata``. Nothing
here is hand-listed: interactions come from :data:`wardbook.api.routes.INTERACTIONS`,
resource types and search parameters from the generated R4 registry, filtered by what the
search engine executes (:func:`searchable`: the extractor's compiled plans).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from wardbook import FHIR_VERSION, __version__
from wardbook.api.routes import INTERACTIONS
from wardbook.auth.discovery import capability_security
from wardbook.fhir.registry import (
    SearchParamDef,
    resource_types,
    search_parameter_by_url,
    search_parameters,
)
from wardbook.search.custom import CUSTOM
from wardbook.search.extract import ENTITY_PARAMS, type_plan
from wardbook.search.fulltext import PARAMS as FULLTEXT_PARAMS
from wardbook.search.params import composite

_TYPE_CODES = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_SYSTEM_CODES = ("history-system", "search-system", "transaction", "batch")


RESULT_PARAMETERS = (
    ("_count", "number", "Page size, at most 1000 (0 returns only the total)"),
    (
        "_sort",
        "string",
        "Any string, token, date, number, quantity, reference or uri parameter, _id or"
        " _lastUpdated; several keys, descending with a leading -; missing values last",
    ),
    ("_total", "token", "none | estimate (answered accurately) | accurate"),
    ("_summary", "token", "true | text | data | count | false (subsets are tagged SUBSETTED)"),
    ("_elements", "string", "Top-level elements to return (plus mandatory ones)"),
    ("_include", "special", "Source:param[:Target] or *, with :iterate"),
    ("_revinclude", "special", "Source:param[:Target] or *, with :iterate"),
    ("_has", "special", "_has:Type:param:criterion, nestable"),
    ("_list", "reference", "Members of List/{id}"),
    (
        "_contained",
        "token",
        "false | true | both: also search the resources contained in others (type-level"
        " search; criteria, _id and _sort by _id/_lastUpdated of the container)",
    ),
    ("_containedType", "token", "container | contained: what a _contained search returns"),
)
SEARCH_DOCUMENTATION = (
    "Reference parameters may be chained (subject:Patient.name=x, several levels, with or"
    " without a type qualifier) and reverse-chained (_has). Compartment search:"
    " GET [base]/{Compartment}/{id}/{type} and /{Compartment}/{id}/*."
)


def searchable(resource_type: str) -> dict[str, SearchParamDef]:
    """The parameters the search engine really executes for a type.

    A parameter is executable when the index extractor compiled a plan for it (so its
    rows exist) or it lives on the entity table (``_id``, ``_lastUpdated``).
    """
    planned = {plan.code for plan in type_plan(resource_type).params}
    core = {
        code: param
        for code, param in search_parameters(resource_type).items()
        if (code in planned and _components_searchable(param))
        or code in ENTITY_PARAMS
        or code in FULLTEXT_PARAMS
    }
    # Custom SearchParameters once a $reindex job made them active (core codes win).
    return {**CUSTOM.active(resource_type), **core}


def _components_searchable(param: SearchParamDef) -> bool:
    """Composites are executed when every component is of an exact-match type, or all
    but an ordered last one (``code-value-quantity``; see wardbook.search.params.composite)."""
    types: list[str] = []
    for definition, _ in param.components:
        component = search_parameter_by_url(definition)
        if component is None:
            return False
        types.append(component.type)
    return composite.searchable(types)


def supports_parameter(param: SearchParamDef, resource_type: str | None = None) -> bool:
    """Whether ``param`` is executed for ``resource_type`` (its first base by default)."""
    target = resource_type or next((b for b in param.base if b in resource_types()), None)
    return target is not None and param.code in searchable(target)


def _codes(level: str) -> set[str]:
    return {i.code for i in INTERACTIONS if i.level == level}


def _operations(level: str, resource_type: str | None = None) -> list[tuple[str, str]]:
    """(name, definition URL) of the operations at ``level`` (for ``resource_type``).

    An operation routed under ``/{type}/...`` applies to every type (``Resource-*``); one
    routed under a literal type (``/Patient/{id}/$everything``) only to that type. An
    interaction may name its own definition (the Bulk Data IG's $export ones).
    """
    found = set()
    for i in INTERACTIONS:
        if not i.code.startswith("$") or i.level != level:
            continue
        name, owner = i.code[1:], i.path.split("/")[1]
        if owner == "{type}" or owner.startswith("$"):
            found.add((name, i.definition or _operation_definition(name)))
        elif owner == resource_type:
            found.add((name, i.definition or f"{_OPERATION_BASE}{owner}-{name}"))
    return sorted(found)


_OPERATION_BASE = "http://hl7.org/fhir/OperationDefinition/"


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    out = []
    for code, param in sorted(searchable(resource_type).items()):
        entry: dict[str, Any] = {"name": code, "type": param.type}
        if param.url:
            entry["definition"] = param.url
        out.append(entry)
    return out


def _reference_params(resource_type: str) -> dict[str, SearchParamDef]:
    return {c: p for c, p in searchable(resource_type).items() if p.type == "reference"}


def search_includes(resource_type: str) -> list[str]:
    """``_include`` values for a type (R4 search.html#include): ``*`` and each reference."""
    return ["*", *(f"{resource_type}:{code}" for code in sorted(_reference_params(resource_type)))]


@lru_cache(maxsize=1)
def _revinclude_index() -> dict[str, list[str]]:
    """Target type -> ``Source:param`` for every reference parameter that names it.

    Parameters typed Reference(Any) are left out of the list (it would repeat them under
    all 146 types); they are still followed, and ``*`` covers them.
    """
    index: dict[str, list[str]] = {}
    for source in sorted(resource_types()):
        for code, param in sorted(_reference_params(source).items()):
            for target in param.targets:
                index.setdefault(target, []).append(f"{source}:{code}")
    return index


def search_revincludes(resource_type: str) -> list[str]:
    """``_revinclude`` values for a type (R4 search.html#revinclude)."""
    return ["*", *_revinclude_index().get(resource_type, [])]


def _resource_entry(resource_type: str, type_codes: set[str], instance_codes: set[str]) -> Any:
    codes = type_codes | instance_codes
    interactions = [{"code": code} for code in _TYPE_CODES if code in codes]
    entry: dict[str, Any] = {
        "type": resource_type,
        "interaction": interactions,
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": "create" in codes,
        "conditionalRead": "full-support",  # If-None-Match and If-Modified-Since
        "conditionalUpdate": "conditional-update" in codes,
        "conditionalDelete": "multiple" if "conditional-delete" in codes else "not-supported",
        "searchInclude": search_includes(resource_type),
        "searchRevInclude": search_revincludes(resource_type),
        "searchParam": _search_params(resource_type),
    }
    operations = sorted(
        set(_operations("type", resource_type)) | set(_operations("instance", resource_type))
    )
    if operations:
        entry["operation"] = [
            {"name": name, "definition": definition} for name, definition in operations
        ]
    return entry


# Operations the core specification defines; the others are Wardbook's (no R4 definition).
_CORE_OPERATIONS = frozenset(("validate", "everything", "export", "meta"))


def _operation_definition(name: str) -> str:
    if name in _CORE_OPERATIONS:
        return f"{_OPERATION_BASE}Resource-{name}"
    return f"urn:wardbook:OperationDefinition:{name}"


@lru_cache(maxsize=4)
def capability_statement(
    base: str, software_date: str = "2026-11-25", custom_generation: int = 0
) -> dict[str, Any]:
    """The server's CapabilityStatement for the given base URL.

    ``custom_generation`` (:data:`wardbook.search.custom.CUSTOM`'s) keys the cache, so a
    custom SearchParameter appears as soon as a $reindex job makes it active.
    """
    type_codes, instance_codes = _codes("type"), _codes("instance")
    system_codes = _codes("system")
    resources = [
        _resource_entry(name, type_codes, instance_codes) for name in sorted(resource_types())
    ]
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "Wardbook FHIR R4 API. JSON only (application/fhir+json). "
        + SEARCH_DOCUMENTATION,
        "security": capability_security(base),
        "resource": resources,
        "interaction": [{"code": code} for code in _SYSTEM_CODES if code in system_codes],
        "operation": [
            {"name": name, "definition": definition} for name, definition in _operations("system")
        ],
        "searchParam": [
            {"name": name, "type": kind, "documentation": doc}
            for name, kind, doc in RESULT_PARAMETERS
        ],
    }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "Wardbook",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "Wardbook", "version": __version__},
        "implementation": {"description": "Wardbook FHIR R4 server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [rest],
    }
