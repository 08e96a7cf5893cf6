"""The CapabilityStatement, generated from the route table and the registry.

R4 capabilitystatement.html and http.html#capabilities: ``GET [base]/metadata``. Nothing
here is hand-listed: interactions come from :data:`wardbook.api.routes.INTERACTIONS`,
resource types and search parameters from the generated R4 registry, filtered by what the
search engine executes (:func:`wardbook.search.parse.supports_parameter`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from wardbook import FHIR_VERSION, __version__
from wardbook.api.routes import INTERACTIONS
from wardbook.fhir.registry import SearchParamDef, resource_types, search_parameters

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


# Parameter types the search engine executes today (composite and special come later).
EXECUTED_TYPES = frozenset({"token", "string", "date", "number", "quantity", "uri", "reference"})
RESULT_PARAMETERS = (
    ("_count", "number", "Page size (0 returns only the total)"),
    ("_sort", "string", "_id, _lastUpdated, optionally descending with -"),
)


def supports_parameter(param: SearchParamDef) -> bool:
    return param.type in EXECUTED_TYPES and (
        param.expression is not None or param.code in ("_id", "_lastUpdated")
    )


def _codes(level: str) -> set[str]:
    return {i.code for i in INTERACTIONS if i.level == level}


def _operations(level: str) -> list[str]:
    return sorted({i.code[1:] for i in INTERACTIONS if i.code.startswith("$") and i.level == level})


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    out = []
    for code, param in sorted(search_parameters(resource_type).items()):
        if not supports_parameter(param):
            continue
        entry: dict[str, Any] = {"name": code, "type": param.type}
        if param.url:
            entry["definition"] = param.url
        out.append(entry)
    return out


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
        "conditionalRead": "not-match",
        "conditionalUpdate": "conditional-update" in codes,
        "conditionalDelete": "multiple" if "conditional-delete" in codes else "not-supported",
        "searchParam": _search_params(resource_type),
    }
    operations = sorted(set(_operations("type")) | set(_operations("instance")))
    if operations:
        entry["operation"] = [
            {
                "name": name,
                "definition": f"http://hl7.org/fhir/OperationDefinition/Resource-{name}",
            }
            for name in operations
        ]
    return entry


@lru_cache(maxsize=4)
def capability_statement(base: str, software_date: str = "2026-11-25") -> dict[str, Any]:
    """The server's CapabilityStatement for the given base URL."""
    type_codes, instance_codes = _codes("type"), _codes("instance")
    system_codes = _codes("system")
    resources = [
        _resource_entry(name, type_codes, instance_codes) for name in sorted(resource_types())
    ]
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "Wardbook FHIR R4 API. JSON only (application/fhir+json).",
        "resource": resources,
        "interaction": [{"code": code} for code in _SYSTEM_CODES if code in system_codes],
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
        "software": {"name": "Wardbook", "version": __version__},
        "implementation": {"description": "Wardbook FHIR R4 server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [rest],
    }
