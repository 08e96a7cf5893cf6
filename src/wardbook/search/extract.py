"""Index extraction: every search parameter value of a resource as index rows.

Pure and fast: it runs on every write and on bulk ingest. For each resource type the
SearchParameter expressions (R4 searchparameter.html) whose base includes the type are
compiled once (:mod:`wardbook.search.paths`), the few outside the compiled subset run through
fhirpathpy. Each value found is turned into rows by its parameter type's module
(:mod:`wardbook.search.params`), following R4 search.html#ptypes. ``_id`` and
``_lastUpdated`` are not extracted: they are matched on the entity table.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from wardbook.fhir import registry
from wardbook.search.custom import CUSTOM
from wardbook.search.fulltext import extract_text_rows
from wardbook.search.index import (
    CompositeDateRow,
    CompositeNumberRow,
    CompositeQuantityRow,
    CompositeRow,
    DateRow,
    IndexRows,
    NumberRow,
    QuantityRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)
from wardbook.search.params import composite
from wardbook.search.params.composite import AnyRow, OrderedRow, composite_rows, row_keys
from wardbook.search.params.date import extract_date_rows
from wardbook.search.params.near import extract_near_rows
from wardbook.search.params.number import extract_number_rows
from wardbook.search.params.quantity import extract_quantity_rows
from wardbook.search.params.reference import extract_reference_rows
from wardbook.search.params.string import extract_string_rows
from wardbook.search.params.token import extract_of_type_rows, extract_token_rows
from wardbook.search.params.uri import extract_uri_rows
from wardbook.search.paths import Node, Unsupported, compile_expression, type_for_suffix

ENTITY_PARAMS = frozenset(("_id", "_lastUpdated"))

Row = AnyRow | CompositeRow | OrderedRow
RowExtractor = Callable[[Any, str | None], Iterable[Row]]
NodeEvaluator = Callable[[dict[str, Any]], list[Node]]
# (component signature, id of the value, its context) -> (the value, its component keys,
# or its rows for the ordered last component of a composite).
ComponentMemo = dict[tuple[Any, int, str], tuple[Any, list[Any]]]

_EXTRACTORS: dict[str, Callable[[str, Any, str | None], Iterable[Row]]] = {
    "string": extract_string_rows,
    "token": extract_token_rows,
    "date": extract_date_rows,
    "number": extract_number_rows,
    "quantity": extract_quantity_rows,
    "uri": extract_uri_rows,
    "reference": extract_reference_rows,
}


@dataclass(frozen=True, slots=True)
class ParamPlan:
    """How to extract one parameter's rows from resources of one type."""

    code: str
    type: str
    evaluate: NodeEvaluator
    extract: Callable[[Any, str | None], Iterable[Row]]
    compiled: bool
    # Top-level elements the expression starts from; None: unknown, always evaluate.
    roots: frozenset[str] | None = None
    # A token parameter that may yield Identifiers: it also writes ``:of-type`` rows.
    identifier: bool = False
    # Composites: ``extract`` with the memo of component keys of one extraction call.
    extract_shared: Callable[[Any, str | None, ComponentMemo], Iterable[Row]] | None = None
    # Token parameters over ``code`` elements: the system each code's binding implies.
    implicit_systems: Mapping[str, str] | None = None


@dataclass(slots=True)
class TypePlan:
    """Every parameter plan of a resource type, and what could not be compiled."""

    resource_type: str
    params: list[ParamPlan] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # composites with unsupported parts


# --- values to rows --------------------------------------------------------------------------


def _unwrap_extension(value: Any) -> tuple[Any, str | None] | None:
    if not isinstance(value, dict):
        return None
    suffixes = type_for_suffix()
    for key, inner in value.items():
        if key.startswith("value") and len(key) > 5:
            return inner, suffixes.get(key[5:])
    return None


def _implicit_systems(bindings: Iterable[str]) -> Mapping[str, str] | None:
    systems: dict[str, str] = {}
    ambiguous: set[str] = set()
    for url in bindings:
        for system, code in registry.value_set_codes(url) or ():
            if code in systems and systems[code] != system:
                ambiguous.add(code)
            systems[code] = system
    for code in ambiguous:
        del systems[code]
    return systems or None


def _row_extractor(param_type: str, code: str, bindings: Iterable[str]) -> RowExtractor:
    base = _EXTRACTORS[param_type]
    if param_type == "token":
        systems = _implicit_systems(bindings)
        if systems:
            return partial(extract_token_rows, code, implicit_systems=systems)
    return partial(base, code)


def _with_of_type(extract: RowExtractor, code: str) -> RowExtractor:
    """Token rows plus the ``:of-type`` rows of Identifier values (R4 search.html#token)."""

    def run(value: Any, datatype: str | None) -> Iterable[Row]:
        yield from extract(value, datatype)
        yield from extract_of_type_rows(code, value, datatype)

    return run


def _typed_extract(extract: RowExtractor) -> RowExtractor:
    """Extension values are unwrapped to their ``value[x]`` before extraction."""

    def run(value: Any, datatype: str | None) -> Iterable[Row]:
        if datatype == "Extension" or (
            not datatype
            and isinstance(value, dict)
            and "url" in value
            and "resourceType" not in value
        ):
            inner = _unwrap_extension(value)
            if inner is None:
                return ()
            return extract(inner[0], inner[1])
        return extract(value, datatype or None)

    return run


# --- fallback --------------------------------------------------------------------------------


def _fhirpath_evaluator(expression: str) -> NodeEvaluator:
    import fhirpathpy
    from fhirpathpy.models import models

    compiled = fhirpathpy.compile(expression, models["r4"])

    def evaluate(resource: dict[str, Any]) -> list[Node]:
        try:
            # fhirpathpy annotates its input: keep the caller's resource untouched.
            found = compiled(copy.deepcopy(resource), None)
        except Exception:
            return []
        return [
            (v if isinstance(v, dict | list | str | bool | int | float) else str(v), "")
            for v in found
            if v is not None
        ]

    return evaluate


# R4 Patient.deceased: "Patient.deceased.exists() and Patient.deceased != false".
_EXISTS_NOT_FALSE = re.compile(
    r"^(?P<path>[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+)\.exists\(\) and (?P=path) != false$"
)


def _exists_not_false(expression: str, resource_type: str) -> NodeEvaluator | None:
    m = _EXISTS_NOT_FALSE.match(expression.strip())
    if m is None:
        return None
    inner = compile_expression(m.group("path"), resource_type).evaluate

    def evaluate(resource: dict[str, Any]) -> list[Node]:
        found = inner([(resource, resource_type)])
        return [(any(v is not False for v, _ in found), "boolean")]

    return evaluate


# --- plans -----------------------------------------------------------------------------------


def _root_evaluator(evaluate: Callable[[list[Node]], list[Node]], rtype: str) -> NodeEvaluator:
    def run(resource: dict[str, Any]) -> list[Node]:
        return evaluate([(resource, rtype)])

    return run


def _composite_plan(
    param: registry.SearchParamDef, expression: str, rtype: str
) -> ParamPlan | None:
    """R4 search.html#composite: one row per combination of the components' keys.

    A composite whose last component is ordered (:func:`composite.ordered_type`) pairs
    the leading components' keys with each value row of the last one instead.
    """
    try:
        base = compile_expression(expression, rtype)
        components: list[tuple[Callable[[list[Node]], list[Node]], RowExtractor, Any]] = []
        types: list[str] = []
        for definition, comp_expr in param.components:
            comp_def = registry.search_parameter_by_url(definition)
            if comp_def is None or comp_def.type not in _EXTRACTORS:
                return None
            comp = compile_expression(comp_expr, rtype, base.contexts)
            extractor = _typed_extract(_row_extractor(comp_def.type, param.code, comp.bindings))
            # What a component's keys depend on (never the composite's own code), so that
            # composites sharing a component (code-value-quantity, combo-code-value-quantity)
            # read each value once per resource.
            signature = (comp_expr, base.contexts, comp_def.type, comp.bindings)
            components.append((comp.evaluate, extractor, signature))
            types.append(comp_def.type)
    except Unsupported:
        return None
    ordered = composite.ordered_type(types) is not None

    # A combination needs a key from every component, so the components are read last
    # first -- the value component is the one most often absent (code-value-quantity on an
    # Observation with a valueCodeableConcept) -- and reading stops at the first one
    # without keys. The rows are the same as reading them in order. The ordered last
    # component of an ordered composite is memoized as its rows, not keys (``ordered`` is
    # part of its signature, so the two never share a memo entry).
    backwards = [
        (evaluate, extractor, (*signature, ordered and i == len(components) - 1))
        for i, (evaluate, extractor, signature) in reversed(list(enumerate(components)))
    ]

    def component_values(
        evaluate: Callable[[list[Node]], list[Node]],
        extractor: RowExtractor,
        node: list[Node],
        as_rows: bool,
    ) -> list[Any]:
        found: list[Any] = []
        for v, ctx in evaluate(node):
            for row in extractor(v, ctx):
                if isinstance(row, CompositeRow | OrderedRow):
                    continue  # never made by a component's own extractor
                if as_rows:
                    found.append(row)
                else:
                    found.extend(row_keys(row))
        return found

    def extract_shared(value: Any, datatype: str | None, memo: ComponentMemo) -> Iterable[Row]:
        node = [(value, datatype or "")]
        keys: list[list[Any]] = []
        for evaluate, extractor, signature in backwards:
            memo_key = (signature, id(value), node[0][1])
            known = memo.get(memo_key)
            if known is None or known[0] is not value:
                found = component_values(evaluate, extractor, node, signature[-1])
                known = memo[memo_key] = (value, found)
            if not known[1]:
                return ()
            keys.append(known[1])
        keys.reverse()
        if ordered:
            return composite.ordered_rows(param.code, keys[:-1], keys[-1])
        return composite_rows(param.code, keys)

    def extract(value: Any, datatype: str | None) -> Iterable[Row]:
        return extract_shared(value, datatype, {})

    return ParamPlan(
        param.code,
        "composite",
        _root_evaluator(base.evaluate, rtype),
        extract,
        True,
        expression_roots(expression, rtype),
        extract_shared=extract_shared,
    )


def _near_plan(expression: str, rtype: str) -> ParamPlan:
    """``Location.near`` (special): latitude/longitude number rows of ``position``."""
    compiled = compile_expression(expression, rtype)

    def extract(value: Any, datatype: str | None) -> Iterable[Row]:
        return extract_near_rows(value)

    roots = expression_roots(expression, rtype)
    return ParamPlan(
        "near", "special", _root_evaluator(compiled.evaluate, rtype), extract, True, roots
    )


def _param_plan(param: registry.SearchParamDef, rtype: str, plan: TypePlan) -> None:
    expression = param.expression_for(rtype)
    if not expression or param.code in ENTITY_PARAMS:
        return
    if param.type == "composite":
        composite = _composite_plan(param, expression, rtype)
        if composite is None:
            plan.skipped.append(param.code)
        else:
            plan.params.append(composite)
        return
    if param.type == "special" and param.code == "near":
        plan.params.append(_near_plan(expression, rtype))
        return
    if param.type not in _EXTRACTORS:
        return
    try:
        compiled = compile_expression(expression, rtype)
    except Unsupported:
        special = _exists_not_false(expression, rtype)
        if special is not None:
            extractor = _row_extractor(param.type, param.code, ())
            plan.params.append(ParamPlan(param.code, param.type, special, extractor, True))
            return
        evaluator = _fhirpath_evaluator(expression)
        extractor = _row_extractor(param.type, param.code, ())
        identifier = param.type == "token"  # result types unknown: any may be an Identifier
        if identifier:
            extractor = _with_of_type(extractor, param.code)
        plan.params.append(
            ParamPlan(
                param.code,
                param.type,
                evaluator,
                _typed_extract(extractor),
                False,
                identifier=identifier,
            )
        )
        plan.fallback.append(param.code)
        return
    extractor = _row_extractor(param.type, param.code, compiled.bindings)
    systems = _implicit_systems(compiled.bindings) if param.type == "token" else None
    identifier = param.type == "token" and "Identifier" in compiled.contexts
    if identifier:
        extractor = _with_of_type(extractor, param.code)
    if "Extension" in compiled.contexts:
        extractor = _typed_extract(extractor)
    plan.params.append(
        ParamPlan(
            param.code,
            param.type,
            _root_evaluator(compiled.evaluate, rtype),
            extractor,
            True,
            expression_roots(expression, rtype),
            identifier,
            implicit_systems=systems,
        )
    )


_ROOTED_TERM = re.compile(r"^\(*\s*([A-Z][A-Za-z]*)\.([a-z][A-Za-z0-9]*)")


def expression_roots(expression: str, rtype: str) -> frozenset[str] | None:
    """The top-level element names every union term of ``expression`` starts from.

    ``Patient.name | Patient.address`` -> {name, address}; ``(Observation.value as
    Quantity)`` -> {value}. None when a term does not start with ``<type>.<element>``.
    """
    roots: set[str] = set()
    for term in registry.split_union(expression):
        match = _ROOTED_TERM.match(term.strip())
        if match is None or match.group(1) not in (rtype, "Resource", "DomainResource"):
            return None
        roots.add(match.group(2))
    return frozenset(roots) if roots else None


def present_roots(resource: dict[str, Any]) -> set[str]:
    """Element names present at the top of ``resource``, as expression roots name them.

    ``valueQuantity`` also counts as ``value`` (a choice), ``_birthDate`` as ``birthDate``
    (a primitive's extensions). Extra names only cost an evaluation, never a missed row.
    """
    present: set[str] = set()
    names = _ROOT_NAMES
    for key in resource:
        found = names.get(key)
        if found is None:
            found = _root_names(key)
            if len(names) < _ROOT_NAMES_MAX:
                names[key] = found
        present.update(found)
    return present


# JSON key -> the root names it stands for; bounded, as keys come from untrusted input.
_ROOT_NAMES: dict[str, tuple[str, ...]] = {}
_ROOT_NAMES_MAX = 10_000


def _root_names(key: str) -> tuple[str, ...]:
    name = key[1:] if key.startswith("_") else key
    for position, char in enumerate(name):
        if char.isupper():
            return (name, name[:position])
    return (name,)


@cache
def type_plan(resource_type: str) -> TypePlan:
    """The compiled extraction plan of a resource type (built once per process)."""
    plan = TypePlan(resource_type)
    if not registry.is_resource_type(resource_type):
        return plan
    for param in registry.search_parameters(resource_type).values():
        _param_plan(param, resource_type, plan)
    return plan


# --- the extractor ---------------------------------------------------------------------------


def extract_index(resource: dict[str, Any]) -> IndexRows:
    """Every index row of ``resource`` (R4 search.html#ptypes); never raises on bad data."""
    rows = IndexRows()
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return rows
    buckets: dict[type, list[Any]] = {
        StringRow: rows.string,
        TokenRow: rows.token,
        DateRow: rows.date,
        NumberRow: rows.number,
        QuantityRow: rows.quantity,
        UriRow: rows.uri,
        ReferenceRow: rows.reference,
        CompositeRow: rows.composite,
        CompositeQuantityRow: rows.composite_quantity,
        CompositeNumberRow: rows.composite_number,
        CompositeDateRow: rows.composite_date,
    }
    present = present_roots(resource)
    plans = type_plan(rtype).params
    custom = CUSTOM.plans(rtype)  # custom SearchParameters (indexing or active)
    memo: ComponentMemo = {}
    contained = resource.get("contained")
    # (parameter, local id) of each reference to a contained resource (``#id``)
    links: list[tuple[str, str]] | None = [] if contained else None
    for param in [*plans, *custom] if custom else plans:
        if param.roots is not None and param.roots.isdisjoint(present):
            continue  # none of the elements it reads is there: no rows
        nodes = param.evaluate(resource)
        if not nodes:
            continue
        if links is not None and param.type == "reference":
            links.extend(_local_links(param.code, nodes))
        shared = param.extract_shared
        if shared is not None:
            for value, datatype in nodes:
                for row in shared(value, datatype, memo):
                    buckets[type(row)].append(row)
            continue
        extract = param.extract
        for value, datatype in nodes:
            for row in extract(value, datatype):
                buckets[type(row)].append(row)
    if registry.is_resource_type(rtype):
        rows.text = extract_text_rows(resource)
    if contained and isinstance(contained, list):
        local = _contained_rows(contained, rows)
        if local and links:
            _local_link_rows(links, local, rows)
    for name in _ROW_LISTS:
        found = getattr(rows, name)
        if len(found) > 1:
            setattr(rows, name, list(dict.fromkeys(found)))
    return rows


CONTAINED_SEPARATOR = "#"
CONTAINED_ID = "_id"  # the marker row of each contained resource: its local id


def contained_param(resource_type: str, code: str) -> str:
    """The ``param`` of a contained ``resource_type``'s index row for parameter ``code``.

    R4 search.html#contained: the rows of ``Medication`` ``med1`` contained in a
    MedicationRequest are stored on the container (its ``pid``) as ``Medication#code``,
    ``Medication#_id`` ... -- names no SearchParameter can have (a code is a token without
    ``#``), so no ordinary search, sort, ``_include`` by name or compartment link ever
    reads them, and ``_contained=true`` finds the containers through them.
    """
    return f"{resource_type}{CONTAINED_SEPARATOR}{code}"


# The IndexRows lists a parameter's rows go to (full text aside).
_ROW_LISTS = (
    "string",
    "token",
    "date",
    "number",
    "quantity",
    "uri",
    "reference",
    "composite",
    "composite_quantity",
    "composite_number",
    "composite_date",
)


def local_link_scope(param: str, target_type: str) -> str:
    """The row-name prefix of a contained ``target_type`` reached through ``param``.

    R4 search.html#contained: "a chained condition will be evaluated inside contained
    resources". ``MedicationRequest?medication.code=X`` must find a MedicationRequest
    whose ``medicationReference`` is ``#med``, a contained Medication with code X. The
    rows of every contained resource a reference parameter points to are therefore also
    stored under ``contained_param(local_link_scope("medication", "Medication"), code)``
    (``medication>Medication#code``, plus its ``#_id`` marker): a chain's contained
    branch reads exactly the resources that parameter references, not any contained
    resource of the type.
    """
    return f"{param}{LOCAL_LINK}{target_type}"


LOCAL_LINK = ">"

_Contained = dict[str, tuple[str, IndexRows]]


def _contained_rows(contained: list[Any], rows: IndexRows) -> _Contained:
    """Add the index rows of every contained resource, renamed by :func:`contained_param`.

    Contained resources are indexed like standalone ones of their type (the same plans),
    minus full text (the container's ``_content`` already covers their words). A
    contained resource holds no ``contained`` of its own (dom-2), so this never recurses.
    Returns each contained resource's (type, rows) by local id.
    """
    local: _Contained = {}
    for item in contained:
        if not isinstance(item, dict):
            continue
        ctype = item.get("resourceType")
        cid = item.get("id")
        if not isinstance(ctype, str) or not registry.is_resource_type(ctype):
            continue
        if "contained" in item:
            item = {k: v for k, v in item.items() if k != "contained"}
        inner = extract_index(item)
        for name in _ROW_LISTS:
            getattr(rows, name).extend(
                dataclasses.replace(row, param=contained_param(ctype, row.param))
                for row in getattr(inner, name)
            )
        if isinstance(cid, str):
            rows.token.append(TokenRow(contained_param(ctype, CONTAINED_ID), None, cid))
            local[cid] = (ctype, inner)
    return local


def _local_links(code: str, nodes: Any) -> Iterator[tuple[str, str]]:
    for value, _ in nodes:
        literal = value.get("reference") if isinstance(value, dict) else None
        if isinstance(literal, str) and literal.startswith("#") and len(literal) > 1:
            yield code, literal[1:]


def _local_link_rows(links: list[tuple[str, str]], local: _Contained, rows: IndexRows) -> None:
    """Rows of the contained resources each reference parameter points to (``#id``),
    named by :func:`local_link_scope` (see there)."""
    for code, local_id in links:
        found = local.get(local_id)
        if found is None:
            continue
        ctype, inner = found
        scope = local_link_scope(code, ctype)
        for name in _ROW_LISTS:
            getattr(rows, name).extend(
                dataclasses.replace(row, param=contained_param(scope, row.param))
                for row in getattr(inner, name)
            )
        rows.token.append(TokenRow(contained_param(scope, CONTAINED_ID), None, local_id))


@cache
def implicit_systems(resource_type: str, code: str) -> Mapping[str, str] | None:
    """The systems token parameter ``code`` of the type gives its bare codes, by code."""
    for plan in type_plan(resource_type).params:
        if plan.code == code:
            return plan.implicit_systems
    return None


@cache
def of_type_params(resource_type: str) -> frozenset[str]:
    """Codes of the token parameters of a type that index Identifiers (``:of-type``)."""
    return frozenset(p.code for p in type_plan(resource_type).params if p.identifier)


@dataclass(frozen=True, slots=True)
class CompileStats:
    """How many (type, parameter) pairs compiled, fell back to fhirpathpy or were skipped."""

    compiled: int
    fallback: int
    skipped: int
    fallback_params: tuple[str, ...]
    skipped_params: tuple[str, ...]


def compile_stats() -> CompileStats:
    """Compile every resource type's plan and count the outcome per parameter."""
    compiled = fallback = skipped = 0
    fallback_params: list[str] = []
    skipped_params: list[str] = []
    for rtype in sorted(registry.resource_types()):
        plan = type_plan(rtype)
        compiled += sum(1 for p in plan.params if p.compiled)
        fallback += len(plan.fallback)
        skipped += len(plan.skipped)
        fallback_params.extend(f"{rtype}.{c}" for c in plan.fallback)
        skipped_params.extend(f"{rtype}.{c}" for c in plan.skipped)
    return CompileStats(compiled, fallback, skipped, tuple(fallback_params), tuple(skipped_params))
