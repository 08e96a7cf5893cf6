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
from functools import cache
from typing import cast

from wardbook.errors import BadRequest, Issue
from wardbook.fhir import registry
from wardbook.fhir.registry import SearchParamDef
from wardbook.search import fulltext
from wardbook.search.custom import CUSTOM
from wardbook.search.params import (
    composite,
    concepts,
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from wardbook.search.params.escape import split_escaped
from wardbook.search.query import (
    DEFAULT_COUNT,
    ENTITY_PARAMS,
    MAX_COUNT,
    Criterion,
    MissingValue,
    SearchQuery,
    SortKey,
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
    "token": frozenset(("missing", "not", "text", *concepts.MODIFIERS)),
    "string": frozenset(("missing", "exact", "contains")),
    "date": frozenset(("missing",)),
    "number": frozenset(("missing",)),
    "quantity": frozenset(("missing",)),
    "uri": frozenset(("missing", "below", "above")),
    "reference": frozenset(("missing", "identifier")),
    "composite": frozenset(("missing",)),
}
SORTABLE = frozenset(("_lastUpdated", "_id"))
SUMMARY_MODES = frozenset(("true", "text", "data", "count", "false"))
# What the search layer itself honours: count (only the total) and false (the default).
# ``true``/``text``/``data`` and ``_elements`` shape the returned resources, which the API
# does not do yet: they are refused under strict handling rather than silently ignored.
SUMMARY_APPLIED = frozenset(("count", "false"))
ELEMENTS_APPLIED = False
TOTAL_MODES = frozenset(("none", "estimate", "accurate"))
# HTTP-level parameters (R4 http.html#parameters) the API layer handles.
TRANSPORT_PARAMS = frozenset(("_format", "_pretty"))
NOT_YET = frozenset(
    (
        "_include",
        "_revinclude",
        "_contained",
        "_containedType",
        "_list",
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
            if not value.any_system:
                raise ValueError(f"_id takes a plain id, not {text!r}")
            return value

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
    raise _not_supported(f"parameter {param.code} of type {ptype} is not supported yet")


def _check_modifier(param: SearchParamDef, modifier: str | None) -> None:
    if modifier is None:
        return
    if param.code in ENTITY_PARAMS or param.code in fulltext.PARAMS:
        raise _not_supported(f"modifier :{modifier} on {param.code} is not supported")
    supported = SUPPORTED_MODIFIERS.get(param.type, frozenset())
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


def _criterion(
    params: Mapping[str, SearchParamDef], name: str, text: str, resource_type: str | None
) -> Criterion:
    base, colon, modifier_text = name.partition(":")
    if colon and not modifier_text:
        raise _invalid(f"empty modifier in {name!r}")
    modifier = modifier_text or None
    if base.startswith("_has"):
        raise _not_supported("_has (reverse chaining) is not supported yet")
    if "." in base or (modifier and "." in modifier):
        head = base.split(".", 1)[0]
        if head in params and params[head].type == "reference":
            raise _not_supported(f"chained parameter {name} is not supported yet")
        raise _invalid(f"unknown search parameter {name}")
    param = params.get(base)
    if param is None:
        where = resource_type or "a system-level search"
        raise _not_supported(f"unknown search parameter {base} for {where}")
    _check_modifier(param, modifier)
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
    return Criterion(param, modifier, tuple(values), raw, component_types)


def _parse_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _invalid(f"_count must be a non-negative integer, not {text!r}")
    return min(int(text), MAX_COUNT)


def _parse_sort(text: str) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in text.split(","):
        if not part:
            continue
        descending = part.startswith("-")
        name = part[1:] if descending else part
        if name not in SORTABLE:
            raise _not_supported(
                f"_sort by {name} is not supported yet (supported: _lastUpdated, _id)"
            )
        keys.append(SortKey(name, descending))
    return keys


def _parse_types(text: str) -> list[str]:
    types = [t for t in text.split(",") if t]
    for t in types:
        if not registry.is_resource_type(t):
            raise _invalid(f"_type: unknown resource type {t}")
    return types


def parse_search(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    *,
    strict: bool,
    now: int | None = None,
) -> SearchQuery:
    """Parse ``[(name, value)]`` query parameters of a type- or system-level search.

    Raises BadRequest: always for an unknown ``resource_type``; under ``strict`` for any
    parameter that cannot be honoured (all problems are reported at once).
    """
    if resource_type is not None and not registry.is_resource_type(resource_type):
        raise BadRequest(f"unknown resource type {resource_type}")
    known = CUSTOM.with_core(resource_type, _params_for(resource_type))
    query = SearchQuery(resource_type, now=now if now is not None else time.time_ns() // 1000)
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
                query.sort = _parse_sort(text)
            elif name == "_total":
                if text not in TOTAL_MODES:
                    raise _invalid(f"_total must be none, estimate or accurate, not {text!r}")
                query.total = cast(TotalMode, text)
            elif name == "_summary":
                if text not in SUMMARY_MODES:
                    raise _invalid(f"_summary must be one of {sorted(SUMMARY_MODES)}")
                if text not in SUMMARY_APPLIED:
                    raise _not_supported(f"_summary={text} is not supported yet")
                query.summary = text
            elif name == "_elements":
                if not ELEMENTS_APPLIED:
                    raise _not_supported("_elements is not supported yet")
                query.elements = [e.strip() for e in text.split(",") if e.strip()]
            elif name == "_type":
                if resource_type is not None:
                    raise _invalid("_type applies to system-level searches only")
                query.types = _parse_types(text)
            elif name.split(":", 1)[0] in NOT_YET:
                raise _not_supported(f"{name.split(':', 1)[0]} is not supported yet")
            else:
                criterion = _criterion(known, name, text, resource_type)
                if criterion.values:
                    query.criteria.append(criterion)
                else:
                    query.ignored.append((name, "empty value"))
        except _Problem as problem:
            problems.append((name, problem))
    if problems:
        if strict:
            issues = [Issue("error", p.code, p.message, (n,)) for n, p in problems]
            raise BadRequest("; ".join(p.message for _, p in problems), issues=issues)
        query.ignored.extend((n, p.message) for n, p in problems)
    return query


__all__ = ["DEFAULT_COUNT", "parse_search"]
