"""Terminology from the R4 core package: ValueSet expansions and is-a hierarchies.

What token ``:in``/``:not-in`` and ``:above``/``:below`` need (R4 search.html#token,
terminologies.html, codesystem.html#hierarchy): read lazily from ``r4/terminology.json``,
which ``scripts/generate_registry.py`` computes from the package alone. ValueSets stored in
the server are expanded by :func:`expand_value_set_resource` from their ``expansion`` or
``compose`` (valueset.html#compose), using the package's CodeSystems. Pure: no I/O beyond
reading the generated file once.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from wardbook.fhir.registry import REGISTRY_DIR

Concept = tuple[str, str]  # (system, code)


class UnknownValueSet(Exception):
    """The ValueSet cannot be expanded: unknown, or needs content Wardbook does not hold."""


@dataclass(frozen=True, slots=True)
class _Terminology:
    expansions: Mapping[str, Mapping[str, tuple[str, ...]]]
    unexpandable: Mapping[str, str]
    code_systems: Mapping[str, tuple[str, ...]]
    parents: Mapping[str, Mapping[str, tuple[str, ...]]]


@cache
def _load() -> _Terminology:
    plain = REGISTRY_DIR / "terminology.json"
    raw = (
        json.loads(plain.read_bytes())
        if plain.exists()
        else json.loads(gzip.decompress((REGISTRY_DIR / "terminology.json.gz").read_bytes()))
    )
    value_sets = raw["valueSets"]
    return _Terminology(
        expansions={
            url: {system: tuple(codes) for system, codes in systems.items()}
            for url, systems in value_sets["expansions"].items()
        },
        unexpandable=value_sets["unexpandable"],
        code_systems={url: tuple(codes) for url, codes in raw["codeSystems"].items()},
        parents={
            system: {code: tuple(ps) for code, ps in codes.items()}
            for system, codes in raw["hierarchies"].items()
        },
    )


def canonical_url(url: str) -> str:
    """A canonical without its ``|version`` (R4 references.html#canonical)."""
    return url.split("|", 1)[0]


def is_core_value_set(url: str) -> bool:
    """Whether the ValueSet is defined by the core package (expandable or not)."""
    terms = _load()
    url = canonical_url(url)
    return url in terms.expansions or url in terms.unexpandable


@cache
def core_value_set(url: str) -> frozenset[Concept]:
    """Every (system, code) of a core ValueSet; UnknownValueSet when it cannot be expanded."""
    terms = _load()
    url = canonical_url(url)
    systems = terms.expansions.get(url)
    if systems is None:
        reason = terms.unexpandable.get(url)
        if reason is not None:
            raise UnknownValueSet(f"ValueSet {url} cannot be expanded here: {reason}")
        raise UnknownValueSet(f"ValueSet {url} is not known")
    return frozenset((system, code) for system, codes in systems.items() for code in codes)


def has_hierarchy(system: str) -> bool:
    """Whether the core package gives ``system`` an is-a hierarchy (for :above/:below)."""
    return system in _load().parents


@cache
def _children(system: str) -> Mapping[str, tuple[str, ...]]:
    children: dict[str, list[str]] = {}
    for child, parents in _load().parents.get(system, {}).items():
        for parent in parents:
            children.setdefault(parent, []).append(child)
    return {parent: tuple(sorted(kids)) for parent, kids in children.items()}


def _closure(start: str, step: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in step.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


@cache
def descendants(system: str, code: str) -> frozenset[str]:
    """``code`` and every code it subsumes (is-a, transitively): what ``:below`` matches."""
    return _closure(code, _children(system))


@cache
def ancestors(system: str, code: str) -> frozenset[str]:
    """``code`` and every code subsuming it (is-a, transitively): what ``:above`` matches."""
    return _closure(code, _load().parents.get(system, {}))


# --- ValueSet resources stored in the server -----------------------------------------------


def _expansion_contains(items: Iterable[Any]) -> Iterable[Concept]:
    for item in items:
        if not isinstance(item, dict):
            continue
        system, code = item.get("system"), item.get("code")
        if isinstance(system, str) and isinstance(code, str):
            yield system, code
        yield from _expansion_contains(item.get("contains") or ())


def _filter_codes(system: str, filt: Mapping[str, Any]) -> frozenset[str]:
    op, prop, value = filt.get("op"), filt.get("property"), filt.get("value")
    if prop == "concept" and isinstance(value, str) and has_hierarchy(system):
        if op == "is-a":
            return descendants(system, value)
        if op == "descendent-of":
            return descendants(system, value) - {value}
        if op == "is-not-a":
            return frozenset(_load().code_systems.get(system, ())) - descendants(system, value)
    if op == "=" and prop == "concept" and isinstance(value, str):
        return frozenset((value,))
    raise UnknownValueSet(f"filter {op} on {prop} of {system} is not supported")


def _compose_part(
    part: Mapping[str, Any], stored: Mapping[str, Mapping[str, Any]], stack: tuple[str, ...]
) -> set[Concept]:
    system = part.get("system")
    selected: set[Concept] | None = None
    if isinstance(system, str):
        concepts = part.get("concept")
        filters = part.get("filter")
        if isinstance(concepts, list) and concepts:
            codes: frozenset[str] = frozenset(
                c["code"]
                for c in concepts
                if isinstance(c, dict) and isinstance(c.get("code"), str)
            )
        elif isinstance(filters, list) and filters:
            codes = frozenset.intersection(*(_filter_codes(system, f) for f in filters))
        else:
            every = _load().code_systems.get(system)
            if every is None:
                raise UnknownValueSet(f"code system {system} is not available to expand")
            codes = frozenset(every)
        selected = {(system, code) for code in codes}
    for url in part.get("valueSet") or ():
        if isinstance(url, str):
            nested = _expand(canonical_url(url), stored, stack)
            selected = set(nested) if selected is None else selected & nested
    if selected is None:
        raise UnknownValueSet("a compose include has neither system nor valueSet")
    return selected


def _expand(
    url: str, stored: Mapping[str, Mapping[str, Any]], stack: tuple[str, ...]
) -> frozenset[Concept]:
    if url in stack:
        raise UnknownValueSet(f"ValueSet {url} includes itself")
    resource = stored.get(url)
    if resource is None:
        return core_value_set(url)
    return expand_value_set_resource(resource, stored, (*stack, url))


def expand_value_set_resource(
    resource: Mapping[str, Any],
    stored: Mapping[str, Mapping[str, Any]] | None = None,
    stack: tuple[str, ...] = (),
) -> frozenset[Concept]:
    """Every (system, code) of a ValueSet resource (R4 valueset.html#expansion, #compose).

    An ``expansion`` is taken as given; otherwise ``compose`` is evaluated: ``concept`` lists,
    is-a filters over the core hierarchies, whole core CodeSystems and nested ValueSets
    (``stored`` ones by url first, then the core package); ``exclude`` is subtracted.
    """
    stored = stored or {}
    expansion = resource.get("expansion")
    if isinstance(expansion, dict) and isinstance(expansion.get("contains"), list):
        return frozenset(_expansion_contains(expansion["contains"]))
    compose = resource.get("compose")
    if not isinstance(compose, dict):
        raise UnknownValueSet("the ValueSet has neither an expansion nor a compose")
    found: set[Concept] = set()
    for part in compose.get("include") or ():
        if isinstance(part, dict):
            found |= _compose_part(part, stored, stack)
    for part in compose.get("exclude") or ():
        if isinstance(part, dict):
            found -= _compose_part(part, stored, stack)
    return frozenset(found)


def nested_value_sets(resource: Mapping[str, Any]) -> list[str]:
    """The canonical urls a ValueSet's compose includes or excludes (to fetch them first)."""
    compose = resource.get("compose")
    if not isinstance(compose, dict):
        return []
    urls: list[str] = []
    for key in ("include", "exclude"):
        for part in compose.get(key) or ():
            if isinstance(part, dict):
                urls += [canonical_url(u) for u in part.get("valueSet") or () if isinstance(u, str)]
    return urls
