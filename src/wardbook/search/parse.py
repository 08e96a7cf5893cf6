"""Parse search parameters into a :class:`SearchQuery`, R4 3.1.1 (http://hl7.org/fhir/R4/search.html).

Handling (R4 search.html#errors, ``Prefer: handling=strict|lenient``): under strict, an
unknown parameter, an unknown or unsupported modifier, a malformed value or a feature not
implemented yet is a 400 ``BadRequest`` listing every problem; under lenient the parameter
is dropped and recorded in ``SearchQuery.ignored`` with the reason. A parameter with an
empty value is ignored in both modes (R4 search.html#errors: "servers SHOULD ignore").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import cast

from wardbook.errors import BadRequest, Issue
from wardbook.fhir import registry
from wardbook.fhir.registry import SearchParamDef
from wardbook.search import fulltext
from wardbook.search.custom import CUSTOM
from wardbook.search.extract import implicit_systems, of_type_params
from wardbook.search.limits import check_value_limits
from wardbook.search.params import (
    composite,
    concepts,
    date,
    near,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from wardbook.search.params.escape import split_escaped
from wardbook.search.params.near import NearValue
from wardbook.search.query import (
    DEFAULT_COUNT,
    ENTITY_PARAMS,
    MAX_COUNT,
    ChainCriterion,
    CompartmentCriterion,
    Criterion,
    HasCriterion,
    IncludeSpec,
    ListCriterion,
    MissingValue,
    SearchQuery,
    SortKey,
    Term,
    TotalMode,
    Value,
)

# R4 search.html#modifiers: every modifier the specification defines (``:[type]`` aside).
KNOWN_MODIFIERS = frozenset(
    (
        "missing",
        "exact",
        "contains",
        "text",
        "in",
        "not-in",
        "below",
        "above",
        "not",
        "identifier",
        "of-type",
        "iterate",
    )
)
SUPPORTED_MODIFIERS: Mapping[str, frozenset[str]] = {
    "token": frozenset(("missing", "not", "text", "of-type", *concepts.MODIFIERS)),
    "string": frozenset(("missing", "exact", "contains")),
    "date": frozenset(("missing",)),
    "number": frozenset(("missing",)),
    "quantity": frozenset(("missing",)),
    "uri": frozenset(("missing", "below", "above")),
    "reference": frozenset(("missing", "identifier")),
    "composite": frozenset(("missing",)),
}
ENTITY_SORTS = frozenset(("_lastUpdated", "_id"))
# R4 search.html#sort: any parameter whose values have an order; composite and special
# parameters do not.
SORTABLE_TYPES = frozenset(("string", "token", "date", "number", "quantity", "reference", "uri"))
SUMMARY_MODES = frozenset(("true", "text", "data", "count", "false"))
# R4 search.html#contained: what Wardbook answers, and every value the specification defines.
CONTAINED_MODES = frozenset(("true", "false", "both"))
CONTAINED_TYPES = frozenset(("container", "contained"))
# Chains longer than this are refused: each link is one more nested subquery.
MAX_CHAIN_DEPTH = 6
TOTAL_MODES = frozenset(("none", "estimate", "accurate"))
# HTTP-level parameters (R4 http.html#parameters) the API layer handles.
TRANSPORT_PARAMS = frozenset(("_format", "_pretty"))
NOT_YET = frozenset(
    (
        "_query",
        "_filter",
    )
)


class _Problem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # OperationOutcome issue type: not-supported | invalid
        self.message = message


def _not_supported(message: str) -> _Problem:
    return _Problem("not-supported", message)


def _invalid(message: str) -> _Problem:
    return _Problem("invalid", message)


@cache
def _system_params() -> Mapping[str, SearchParamDef]:
    """The parameters of a system-level search: those defined on Resource itself."""
    return {
        p.code: p
        for p in registry.all_search_parameters()
        if "Resource" in p.base and not p.experimental
    }


def _params_for(resource_type: str | None) -> Mapping[str, SearchParamDef]:
    if resource_type is None:
        return _system_params()
    return registry.search_parameters(resource_type)


def _component_types(param: SearchParamDef) -> tuple[str, ...]:
    types: list[str] = []
    for definition, _ in param.components:
        comp = registry.search_parameter_by_url(definition)
        if comp is None:
            raise _not_supported(f"composite parameter {param.code}: unknown component")
        types.append(comp.type)
    return tuple(types)


def _value_parser(
    param: SearchParamDef, modifier: str | None, component_types: tuple[str, ...]
) -> Callable[[str], Value]:
    ptype = param.type
    if modifier == "missing":

        def parse_missing(text: str) -> Value:
            if text not in ("true", "false"):
                raise ValueError(f":missing takes true or false, not {text!r}")
            return MissingValue(text == "true")

        return parse_missing
    if param.code in fulltext.PARAMS:
        return fulltext.parse
    if param.code == "_id":

        def parse_id(text: str) -> Value:
            value = token.parse(text)
            if value.any_system:
                return value
            if value.system is None and value.code is not None:
                # ``|id``: an id has no system, so the no-system form names it too.
                return token.TokenValue(None, value.code, True, "")
            raise ValueError(f"_id takes a plain id, not {text!r}")

        return parse_id
    if ptype == "token":
        if modifier in concepts.MODIFIERS:
            return lambda text: concepts.parse(text, modifier)
        return lambda text: token.parse(text, modifier)
    if ptype == "string":
        return lambda text: string.parse(text, modifier)
    if ptype == "date":
        return date.parse
    if ptype == "number":
        return number.parse
    if ptype == "quantity":
        return quantity.parse
    if ptype == "uri":
        return uri.parse
    if ptype == "reference":
        targets = param.targets
        return lambda text: reference.parse(text, modifier, targets, registry.is_resource_type)
    if ptype == "composite":
        return lambda text: composite.parse(text, component_types)
    if ptype == "special" and param.code == "near":
        return near.parse
    raise _not_supported(f"parameter {param.code} of type {ptype} is not supported yet")


def _identifier_params(resource_type: str | None) -> frozenset[str]:
    """Token parameters of the type whose values are Identifiers (``:of-type`` applies)."""
    if resource_type is None:
        return frozenset()
    custom = {p.code for p in CUSTOM.plans(resource_type) if p.identifier}
    return of_type_params(resource_type) | custom


def _check_modifier(
    param: SearchParamDef, modifier: str | None, resource_type: str | None = None
) -> None:
    if modifier is None:
        return
    entity_modifiers = ("missing", "not") if param.code == "_id" else ("missing",)
    if param.code in ENTITY_PARAMS and modifier in entity_modifiers:
        return
    if param.code in ENTITY_PARAMS or param.code in fulltext.PARAMS:
        raise _not_supported(f"modifier :{modifier} on {param.code} is not supported")
    supported = SUPPORTED_MODIFIERS.get(param.type, frozenset())
    if modifier == "of-type" and param.code not in _identifier_params(resource_type):
        # R4 search.html#token: "of-type" is defined for Identifier values only.
        raise _invalid(f":of-type applies to Identifier parameters only, not to {param.code}")
    if modifier in supported:
        return
    if param.type == "reference" and registry.is_resource_type(modifier):
        if param.targets and modifier not in param.targets:
            raise _invalid(
                f"{modifier} is not a target type of {param.code} "
                f"(targets: {', '.join(param.targets)})"
            )
        return
    if modifier in KNOWN_MODIFIERS:
        raise _not_supported(
            f"modifier :{modifier} on {param.type} parameter {param.code} is not supported"
        )
    raise _invalid(f"unknown modifier :{modifier} on parameter {param.code}")


def _has_term(name: str, text: str, resource_type: str | None, depth: int) -> HasCriterion:
    """``_has:Type:param:rest`` (R4 search.html#has); ``rest`` may itself be a ``_has``."""
    parts = name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise _invalid(f"{name}: _has takes the form _has:Type:reference-parameter:parameter")
    _, source_type, code, rest = parts
    if not registry.is_resource_type(source_type):
        raise _invalid(f"{name}: unknown resource type {source_type}")
    param = registry.search_parameters(source_type).get(code)
    if param is None or param.type != "reference":
        raise _invalid(f"{name}: {code} is not a reference parameter of {source_type}")
    if resource_type is not None and param.targets and resource_type not in param.targets:
        raise _invalid(f"{name}: {source_type}.{code} cannot refer to a {resource_type}")
    inner = _term(
        CUSTOM.with_core(source_type, _params_for(source_type)), rest, text, source_type, depth + 1
    )
    return HasCriterion(name, source_type, param, inner, inner.raw)


def _chain_term(
    params: Mapping[str, SearchParamDef], name: str, text: str, depth: int
) -> ChainCriterion:
    """``ref[:Type].rest`` (R4 search.html#chaining), one branch per possible target type."""
    head, rest = name.split(".", 1)
    code, _, qualifier = head.partition(":")
    param = params.get(code)
    if param is None or param.type != "reference":
        raise _invalid(f"{name}: {code} is not a reference parameter, so it cannot be chained")
    if qualifier:
        if not registry.is_resource_type(qualifier):
            raise _invalid(f"{name}: unknown resource type {qualifier}")
        if param.targets and qualifier not in param.targets:
            raise _invalid(f"{name}: {qualifier} is not a target type of {code}")
        candidates: Sequence[str] = (qualifier,)
    elif param.targets:
        candidates = param.targets
    else:
        raise _invalid(f"{name}: {code} may refer to any type; qualify it as {code}:Type")
    rest_code = rest.split(".", 1)[0].split(":", 1)[0]
    branches: list[tuple[str, Term]] = []
    for target in candidates:
        target_params = CUSTOM.with_core(target, _params_for(target))
        if rest_code == "_has" or rest_code in target_params:
            branches.append((target, _term(target_params, rest, text, target, depth + 1)))
    if not branches:
        raise _invalid(f"{name}: no target type of {code} has a search parameter {rest_code}")
    return ChainCriterion(name, param, tuple(branches), branches[0][1].raw)


def _term(
    params: Mapping[str, SearchParamDef],
    name: str,
    text: str,
    resource_type: str | None,
    depth: int = 0,
) -> Term:
    """One AND term: a plain criterion, a chain or a reverse chain."""
    if depth > MAX_CHAIN_DEPTH:
        raise _not_supported(f"chains deeper than {MAX_CHAIN_DEPTH} links are not supported")
    if name.startswith("_has:") or name == "_has":
        return _has_term(name, text, resource_type, depth)
    if "." in name:
        return _chain_term(params, name, text, depth)
    return _criterion(params, name, text, resource_type)


def _criterion(
    params: Mapping[str, SearchParamDef], name: str, text: str, resource_type: str | None
) -> Criterion:
    base, colon, modifier_text = name.partition(":")
    if colon and not modifier_text:
        raise _invalid(f"empty modifier in {name!r}")
    modifier = modifier_text or None
    param = params.get(base)
    if param is None:
        where = resource_type or "a system-level search"
        raise _not_supported(f"unknown search parameter {base} for {where}")
    _check_modifier(param, modifier, resource_type)
    component_types = _component_types(param) if param.type == "composite" else ()
    parse_value = _value_parser(param, modifier, component_types)
    raw = tuple(part for part in split_escaped(text, ",") if part)
    values: list[Value] = []
    for part in raw:
        try:
            values.append(parse_value(part))
        except NotImplementedError as exc:
            raise _not_supported(f"{name}={part}: {exc} is not supported yet") from None
        except ValueError as exc:
            raise _invalid(f"invalid value for {name}: {exc}") from None
    if param.type == "token" and modifier in (None, "not") and resource_type is not None:
        values = _with_implicit_systems(values, resource_type, param.code)
    return Criterion(param, modifier, tuple(values), raw, component_types)


def _with_implicit_systems(values: list[Value], resource_type: str, code: str) -> list[Value]:
    """``|active`` on a plain ``code`` element (R4 search.html#token: "the code ... has no
    system property"). The index stores such codes with the system their required binding
    implies (so ``system|active`` finds them), so the no-system form also asks for that
    system: a bare code written in the resource has no system property of its own."""
    systems = implicit_systems(resource_type, code)
    if not systems:
        return values
    out: list[Value] = []
    for value in values:
        out.append(value)
        if isinstance(value, token.TokenValue) and not value.any_system and value.system is None:
            implied = systems.get(value.code or "")
            if implied is not None:
                out.append(token.TokenValue(implied, value.code, False, ""))
    return out


def _parse_include(name: str, text: str, resource_type: str | None) -> IncludeSpec:
    """``_include[:iterate]=Source:param[:Target]`` or ``*`` (R4 search.html#include)."""
    base, _, modifier = name.partition(":")
    reverse = base == "_revinclude"
    if modifier not in ("", "iterate", "recurse"):
        raise _invalid(f"{name}: the only modifier of {base} is :iterate")
    iterate = modifier != ""
    if text == "*":
        return IncludeSpec(reverse, None, None, None, iterate, text)
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise _invalid(f"{base}={text}: expected SourceType:parameter[:TargetType] or *")
    source_type, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not registry.is_resource_type(source_type):
        raise _invalid(f"{base}={text}: unknown resource type {source_type}")
    if target is not None and not registry.is_resource_type(target):
        raise _invalid(f"{base}={text}: unknown resource type {target}")
    if code == "*":
        return IncludeSpec(reverse, source_type, None, target, iterate, text)
    param = registry.search_parameters(source_type).get(code)
    if param is None or param.type != "reference":
        raise _invalid(f"{base}={text}: {code} is not a reference parameter of {source_type}")
    if target is not None and param.targets and target not in param.targets:
        raise _invalid(f"{base}={text}: {target} is not a target type of {code}")
    if not reverse and not iterate and resource_type not in (None, source_type):
        raise _invalid(
            f"_include={text}: the source type must be the searched type {resource_type}"
            " (use _include:iterate to follow included resources)"
        )
    return IncludeSpec(reverse, source_type, code, target, iterate, text)


def _parse_list(text: str) -> ListCriterion:
    raw = tuple(part for part in text.split(",") if part)
    for part in raw:
        if part.startswith("$"):
            raise _not_supported(f"_list={part}: functional lists are not supported")
        if "/" in part:
            raise _invalid(f"_list takes List ids, not {part!r}")
    return ListCriterion(raw, raw)


def _parse_contained(name: str, text: str, defined: frozenset[str]) -> str:
    """``_contained`` / ``_containedType`` (R4 search.html#contained): a 400 for any other
    value under lenient handling too -- dropping it would answer a different question
    (containers instead of contained resources) while the client believes it applied."""
    if text in defined:
        return text
    message = f"{name} must be one of {', '.join(sorted(defined))}, not {text!r}"
    raise BadRequest(message, issues=[Issue("error", "invalid", message, (name,))])


def _check_contained(query: SearchQuery) -> None:
    """What a search of contained resources can be combined with (R4 search.html#contained).

    Contained resources are indexed on their container (``Type#param`` rows), so the
    criteria of a type-level search apply to them; what looks beyond one resource (chains,
    ``_has``, ``_list``, compartments), full text, ``near``, ``_include``/``_revinclude``
    and sorting by a parameter are refused with 400 rather than answered wrongly.
    """
    if query.contained in (None, "false"):
        if query.contained_type == "contained":
            message = "_containedType=contained needs _contained=true or _contained=both"
            raise BadRequest(
                message, issues=[Issue("error", "invalid", message, ("_containedType",))]
            )
        return
    name = f"_contained={query.contained}"
    refused: str | None = None
    if query.resource_type is None:
        refused = "a system-level search (search one resource type)"
    elif query.includes:
        refused = "_include or _revinclude"
    elif any(key.definition is not None for key in query.sort):
        refused = "_sort by a search parameter (only _id and _lastUpdated, of the container)"
    else:
        for term in query.criteria:
            if not isinstance(term, Criterion):
                refused = "chained, _has, _list or compartment criteria"
            elif term.code in fulltext.PARAMS or term.type == "special":
                refused = f"{term.code}"
            elif term.code == "_lastUpdated":
                refused = "_lastUpdated (contained resources have no meta.lastUpdated)"
            if refused is not None:
                break
    if refused is not None:
        message = f"{name} cannot be combined with {refused}"
        raise BadRequest(
            message, issues=[Issue("error", "not-supported", message, ("_contained",))]
        )


def _parse_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _invalid(f"_count must be a non-negative integer, not {text!r}")
    return min(int(text), MAX_COUNT)


def _parse_sort(text: str, known: Mapping[str, SearchParamDef]) -> list[SortKey]:
    """R4 search.html#sort: comma-separated parameter codes, ``-`` for descending."""
    keys: list[SortKey] = []
    for part in text.split(","):
        if not part:
            continue
        descending = part.startswith("-")
        name = part[1:] if descending else part
        if name in ENTITY_SORTS:
            keys.append(SortKey(name, descending))
            continue
        param = known.get(name)
        if param is None:
            raise _invalid(f"_sort: unknown search parameter {name}")
        if param.type == "special" and param.code == "near":
            keys.append(SortKey(name, descending, param))  # the point: _sort_by_distance
            continue
        if param.type not in SORTABLE_TYPES:
            raise _not_supported(f"_sort by the {param.type} parameter {name} is not supported")
        keys.append(SortKey(name, descending, param))
    return keys


def near_point(query: SearchQuery) -> NearValue | None:
    """The point of the search's ``near`` criterion, when there is one criterion of one point."""
    nears = [
        t
        for t in query.criteria
        if isinstance(t, Criterion) and t.type == "special" and t.code == "near"
    ]
    if len(nears) != 1 or len(nears[0].values) != 1:
        return None
    return cast(NearValue, nears[0].values[0])


def _sort_by_distance(
    query: SearchQuery, known: Mapping[str, SearchParamDef], sort_given: bool
) -> None:
    """``_sort=near`` (``-near``): by great-circle distance from the ``near`` point.

    R4 leaves the order of a ``near`` search to the server (Location ``near``: "servers
    may search using various techniques"); Wardbook answers nearest first when the search
    has one ``near`` point and no ``_sort``, and says so in the links (``_sort=near``).
    Several points (an OR) have no single distance, so ``_sort=near`` needs exactly one.
    """
    point = near_point(query)
    if any(k.param == "near" for k in query.sort):
        if point is None:
            query.sort = [k for k in query.sort if k.param != "near"]
            raise _invalid(
                "_sort=near needs exactly one near point (near=latitude|longitude|distance|units)"
            )
        query.sort = [replace(k, point=point) if k.param == "near" else k for k in query.sort]
    elif not sort_given and point is not None and query.contained is None:
        param = known.get("near")
        if param is not None:
            query.sort = [SortKey("near", False, param, point)]


def _parse_elements(text: str, resource_type: str | None) -> list[str]:
    """R4 search.html#elements: top-level element names of the searched type."""
    names = [e.strip() for e in text.split(",") if e.strip()]
    if resource_type is None:
        return names
    properties = registry.json_properties(resource_type)
    known = {*properties, *(el.name for el in properties.values()), "resourceType"}
    for n in names:
        if n not in known:
            raise _invalid(f"_elements: {resource_type} has no element {n}")
    return names


def _parse_types(text: str) -> list[str]:
    types = [t for t in text.split(",") if t]
    for t in types:
        if not registry.is_resource_type(t):
            raise _invalid(f"_type: unknown resource type {t}")
    return types


def compartment_term(
    compartment: str, owner_id: str, resource_type: str | None
) -> CompartmentCriterion:
    """The membership term of ``GET [base]/{compartment}/{owner_id}/{resource_type|*}``.

    R4 search.html#compartments with the core CompartmentDefinitions: a type outside the
    compartment is a 400; the owner itself belongs to its own compartment.
    """
    if compartment not in registry.compartments():
        raise BadRequest(f"{compartment} is not a compartment (R4 compartmentdefinition.html)")
    members = registry.compartment_resource_types(compartment)
    if resource_type is not None and resource_type not in members | {compartment}:
        raise BadRequest(f"{resource_type} resources are not in the {compartment} compartment")
    links: list[tuple[str, tuple[str, ...]]] = []
    for member in sorted(members | {compartment}):
        if resource_type is not None and member != resource_type:
            continue
        codes = registry.compartment_params(compartment, member)
        if member == compartment and "{def}" not in codes:
            codes = (*codes, "{def}")
        links.append((member, codes))
    return CompartmentCriterion(compartment, owner_id, tuple(links))


def parse_search(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    *,
    strict: bool,
    now: int | None = None,
    compartment: tuple[str, str] | None = None,
) -> SearchQuery:
    """Parse ``[(name, value)]`` query parameters of a type- or system-level search.

    ``compartment`` (type, id) restricts the search to that compartment; with no
    ``resource_type`` it searches every member type (``[base]/Patient/123/*``).
    Raises BadRequest: always for an unknown ``resource_type``; under ``strict`` for any
    parameter that cannot be honoured (all problems are reported at once).
    """
    if resource_type is not None and not registry.is_resource_type(resource_type):
        raise BadRequest(f"unknown resource type {resource_type}")
    known = CUSTOM.with_core(resource_type, _params_for(resource_type))
    query = SearchQuery(resource_type, now=now if now is not None else time.time_ns() // 1000)
    if compartment is not None:
        query.criteria.append(compartment_term(compartment[0], compartment[1], resource_type))
    problems: list[tuple[str, _Problem]] = []
    for name, text in params:
        if name in TRANSPORT_PARAMS:
            continue
        if text == "":
            query.ignored.append((name, "empty value"))
            continue
        try:
            if "\x00" in text or "\x00" in name:
                raise _invalid("search parameters may not contain NUL characters")
            if name == "_count":
                query.count = _parse_count(text)
            elif name == "_cursor":
                query.cursor = text
            elif name == "_sort":
                query.sort = _parse_sort(text, known)
            elif name == "_total":
                if text not in TOTAL_MODES:
                    raise _invalid(f"_total must be none, estimate or accurate, not {text!r}")
                query.total = cast(TotalMode, text)
            elif name == "_summary":
                if text not in SUMMARY_MODES:
                    raise _invalid(f"_summary must be one of {sorted(SUMMARY_MODES)}")
                query.summary = text
            elif name == "_elements":
                query.elements = _parse_elements(text, resource_type)
            elif name.split(":", 1)[0] in ("_include", "_revinclude"):
                query.includes.append(_parse_include(name, text, resource_type))
            elif name == "_list":
                query.criteria.append(_parse_list(text))
            elif name == "_contained":
                query.contained = _parse_contained(name, text, CONTAINED_MODES)
            elif name == "_containedType":
                query.contained_type = _parse_contained(name, text, CONTAINED_TYPES)
            elif name == "_type":
                if resource_type is not None:
                    raise _invalid("_type applies to system-level searches only")
                query.types = _parse_types(text)
            elif name.split(":", 1)[0] in NOT_YET:
                raise _not_supported(f"{name.split(':', 1)[0]} is not supported yet")
            else:
                criterion = _term(known, name, text, resource_type)
                if criterion.raw:
                    query.criteria.append(criterion)
                else:
                    query.ignored.append((name, "empty value"))
        except _Problem as problem:
            problems.append((name, problem))
    try:
        _sort_by_distance(query, known, any(name == "_sort" for name, _ in params))
    except _Problem as problem:
        problems.append(("_sort", problem))
    if problems:
        if strict:
            issues = [Issue("error", p.code, p.message, (n,)) for n, p in problems]
            raise BadRequest("; ".join(p.message for _, p in problems), issues=issues)
        query.ignored.extend((n, p.message) for n, p in problems)
    _check_contained(query)
    check_value_limits(query)
    return query


__all__ = ["DEFAULT_COUNT", "parse_search"]
