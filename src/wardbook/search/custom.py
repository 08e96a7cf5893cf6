"""Custom SearchParameters: definitions from SearchParameter resources, R4 searchparameter.html.

A SearchParameter resource (``url``, ``code``, ``base``, ``type``, ``expression``, ``target``)
stored in the server adds a parameter to the types named in ``base`` once a ``$reindex``
job has indexed every existing resource of that type (see :mod:`wardbook.service.reindex`).
Until then it is *indexing*: new writes already extract its rows, but searches do not
accept it (the results would silently miss older resources). Afterwards it is *active*:
parsed like a core parameter and listed in the CapabilityStatement.

The installed definitions are process-wide, like the R4 registry they extend: the service
installs what the database says (at start-up, after a job, and periodically so several
worker processes agree). Pure: this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wardbook.fhir import registry
from wardbook.fhir.registry import SearchParamDef

if TYPE_CHECKING:
    from wardbook.search.extract import ParamPlan

# Types whose rows the extractor knows how to make (composite and special are not offered).
SUPPORTED_TYPES = frozenset(("number", "date", "string", "token", "reference", "quantity", "uri"))


class InvalidDefinition(ValueError):
    """The SearchParameter cannot become a custom parameter; the message says why."""


@dataclass(frozen=True, slots=True)
class CustomParam:
    """One custom parameter on one resource type, and whether searches may use it."""

    resource_type: str
    definition: SearchParamDef
    active: bool


def definition_from_resource(resource: Mapping[str, Any]) -> SearchParamDef:
    """The SearchParamDef of a SearchParameter resource; InvalidDefinition when unusable."""
    url, code, ptype = resource.get("url"), resource.get("code"), resource.get("type")
    expression = resource.get("expression")
    bases = resource.get("base")
    if not isinstance(url, str) or not url:
        raise InvalidDefinition("a SearchParameter needs a url")
    if not isinstance(code, str) or not code or code.startswith("_") or ":" in code:
        raise InvalidDefinition(f"code {code!r} cannot name a custom parameter")
    if ptype not in SUPPORTED_TYPES:
        raise InvalidDefinition(f"type {ptype!r} is not supported for custom parameters")
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidDefinition("a custom parameter needs a FHIRPath expression")
    if not isinstance(bases, list) or not bases:
        raise InvalidDefinition("a SearchParameter needs at least one base type")
    for base in bases:
        if not isinstance(base, str) or not registry.is_resource_type(base):
            raise InvalidDefinition(f"base {base!r} is not a resource type")
    targets = resource.get("target")
    description = resource.get("description")
    return SearchParamDef(
        code=code,
        url=url,
        type=str(ptype),
        base=tuple(bases),
        expression=expression,
        targets=tuple(t for t in targets if isinstance(t, str))
        if isinstance(targets, list)
        else (),
        name=str(resource.get("name") or code),
        description=description if isinstance(description, str) else None,
    )


def clashes_with_core(definition: SearchParamDef, resource_type: str) -> bool:
    """Whether the code already names a core parameter of the type (core wins)."""
    return definition.code in registry.search_parameters(resource_type)


@dataclass(slots=True)
class CustomParameters:
    """The installed custom parameters, by resource type; ``generation`` counts changes."""

    generation: int = 0
    _by_type: dict[str, dict[str, CustomParam]] = field(default_factory=dict)
    _plans: dict[str, list[ParamPlan]] = field(default_factory=dict)

    def install(self, params: list[CustomParam]) -> None:
        """Replace every installed parameter by ``params``."""
        by_type: dict[str, dict[str, CustomParam]] = {}
        for param in params:
            by_type.setdefault(param.resource_type, {})[param.definition.code] = param
        if by_type == self._by_type:
            return
        self._by_type = by_type
        self._plans = {}
        self.generation += 1

    def clear(self) -> None:
        self.install([])

    def everything(self) -> list[CustomParam]:
        """Every installed parameter (to install the same in another process)."""
        return [param for params in self._by_type.values() for param in params.values()]

    def installed(self, resource_type: str) -> list[CustomParam]:
        return list(self._by_type.get(resource_type, {}).values())

    def active(self, resource_type: str) -> dict[str, SearchParamDef]:
        """The custom parameters searches of ``resource_type`` may use."""
        return {
            code: p.definition
            for code, p in self._by_type.get(resource_type, {}).items()
            if p.active
        }

    def with_core(
        self, resource_type: str | None, core: Mapping[str, SearchParamDef]
    ) -> Mapping[str, SearchParamDef]:
        """``core`` plus the active custom parameters of the type (core wins on a clash)."""
        if resource_type is None or resource_type not in self._by_type:
            return core
        extra = self.active(resource_type)
        if not extra:
            return core
        return {**extra, **core}

    def plans(self, resource_type: str) -> list[ParamPlan]:
        """Extraction plans of every installed parameter (indexing or active) of the type."""
        if resource_type not in self._by_type:
            return []
        found = self._plans.get(resource_type)
        if found is None:
            from wardbook.search.extract import TypePlan, _param_plan

            plan = TypePlan(resource_type)
            for param in self._by_type[resource_type].values():
                _param_plan(param.definition, resource_type, plan)
            found = self._plans[resource_type] = plan.params
        return found


# The process-wide set (one database per process, like the R4 registry it extends).
CUSTOM = CustomParameters()
