"""The FHIR R4 (4.0.1) model registry: types, elements, search parameters, compartments.

Read once, lazily, from the files that ``scripts/generate_registry.py`` generates out of
the official core package (``src/wardbook/fhir/r4/``). Pure: no I/O beyond that read.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

REGISTRY_DIR = Path(__file__).resolve().parent / "r4"
FHIR_VERSION = "4.0.1"

# R4 search.html#all: parameters whose base is Resource apply to every resource type;
# DomainResource ones (``_text``) to every type derived from DomainResource.
_ROOT_BASES = ("Resource", "DomainResource")


# --- search parameters ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchParamDef:
    """One SearchParameter of the core spec (R4 searchparameter.html)."""

    code: str
    url: str
    type: str  # number | date | string | token | reference | composite | quantity | uri | special
    base: tuple[str, ...]
    expression: str | None
    targets: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = ()  # (definition url, expression)
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    name: str = ""
    description: str | None = None
    multiple_or: bool | None = None
    multiple_and: bool | None = None
    chain: tuple[str, ...] = ()
    experimental: bool = False

    def expression_for(self, resource_type: str) -> str | None:
        """The part of ``expression`` that applies to ``resource_type`` (None if none does).

        Shared parameters (``clinical-code`` on 14 bases) join one path per type with ``|``;
        this keeps only the terms rooted at that type, or every term for Resource-wide ones.
        """
        if self.expression is None:
            return None
        return _expression_for(self.expression, resource_type)


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level ``|`` operators (outside () and '')."""
    terms: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            terms.append(expression[start:i].strip())
            start = i + 1
        i += 1
    terms.append(expression[start:].strip())
    return [t for t in terms if t]


def _term_root(term: str) -> str:
    stripped = term.lstrip("( ")
    head = ""
    for ch in stripped:
        if not (ch.isalnum() or ch == "_"):
            break
        head += ch
    return head


@cache
def _expression_for(expression: str, resource_type: str) -> str | None:
    terms = split_union(expression)
    kept = [
        t
        for t in terms
        if _term_root(t) in (resource_type, *_ROOT_BASES) or not _term_root(t)[:1].isupper()
    ]
    return " | ".join(kept) if kept else None


def _search_param(raw: Mapping[str, Any]) -> SearchParamDef:
    return SearchParamDef(
        code=raw["code"],
        url=raw["url"],
        type=raw["type"],
        base=tuple(raw["base"]),
        expression=raw["expression"],
        targets=tuple(raw["target"]),
        components=tuple((c["definition"], c["expression"]) for c in raw["component"]),
        modifiers=tuple(raw["modifier"]),
        comparators=tuple(raw["comparator"]),
        name=raw["name"],
        description=raw["description"],
        multiple_or=raw["multipleOr"],
        multiple_and=raw["multipleAnd"],
        chain=tuple(raw["chain"]),
        experimental=raw["experimental"],
    )


# --- structure -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElementType:
    """One allowed type of an element; ``targets`` for Reference/canonical targetProfiles."""

    code: str
    targets: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a type's snapshot (R4 elementdefinition.html)."""

    path: str
    min: int
    max: int | None  # None means unbounded ("*")
    types: tuple[ElementType, ...]
    choice: bool = False
    content_reference: str | None = None  # e.g. "#Questionnaire.item"
    binding_strength: str | None = None
    binding_value_set: str | None = None
    modifier: bool = False
    summary: bool = False

    @property
    def name(self) -> str:
        """The last path segment, without ``[x]`` for choice elements."""
        last = self.path.rsplit(".", 1)[-1]
        return last[:-3] if self.choice else last

    @property
    def is_array(self) -> bool:
        """Whether FHIR JSON represents it as an array (max > 1, R4 json.html#arrays)."""
        return self.max is None or self.max > 1

    @property
    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A resource type or datatype: its kind, base type and snapshot elements."""

    name: str
    kind: str  # resource | complex-type | primitive-type
    abstract: bool
    base: str | None
    url: str
    elements: tuple[ElementDef, ...]
    regex: str | None = None  # primitive types: the value's regex from the spec
    profile_of: str | None = None  # SimpleQuantity / MoneyQuantity: Quantity
    _by_path: Mapping[str, ElementDef] = field(default_factory=dict, repr=False, compare=False)

    def element(self, path: str) -> ElementDef | None:
        """The element at an exact snapshot path of this type (``Patient.name``)."""
        return self._by_path.get(path)

    def children(self, path: str | None = None) -> tuple[ElementDef, ...]:
        """The direct child elements of ``path`` (default: the type's root) in this type."""
        parent = path or self.profile_of or self.name
        depth = parent.count(".") + 1
        prefix = parent + "."
        return tuple(
            e for e in self.elements if e.path.startswith(prefix) and e.path.count(".") == depth
        )


def _element(raw: Mapping[str, Any]) -> ElementDef:
    binding = raw.get("binding") or {}
    max_text = raw["max"]
    return ElementDef(
        path=raw["path"],
        min=int(raw["min"]),
        max=None if max_text == "*" else int(max_text),
        types=tuple(
            ElementType(t["code"], tuple(t.get("targets", ())), tuple(t.get("profiles", ())))
            for t in raw.get("types", ())
        ),
        choice=bool(raw.get("choice")),
        content_reference=raw.get("contentReference"),
        binding_strength=binding.get("strength"),
        binding_value_set=binding.get("valueSet"),
        modifier=bool(raw.get("modifier")),
        summary=bool(raw.get("summary")),
    )


def _type_def(name: str, raw: Mapping[str, Any]) -> TypeDef:
    elements = tuple(_element(e) for e in raw["elements"])
    return TypeDef(
        name=name,
        kind=raw["kind"],
        abstract=raw["abstract"],
        base=raw["base"],
        url=raw["url"],
        elements=elements,
        regex=raw.get("regex"),
        profile_of=raw.get("profileOf"),
        _by_path=MappingProxyType({e.path: e for e in elements}),
    )


# --- loading -------------------------------------------------------------------------------


def _read_json(stem: str) -> Any:
    plain = REGISTRY_DIR / f"{stem}.json"
    if plain.exists():
        return json.loads(plain.read_bytes())
    return json.loads(gzip.decompress((REGISTRY_DIR / f"{stem}.json.gz").read_bytes()))


@dataclass(frozen=True, slots=True)
class _Registry:
    types: Mapping[str, TypeDef]
    value_sets: Mapping[str, frozenset[tuple[str, str]] | None]
    params: tuple[SearchParamDef, ...]
    params_by_url: Mapping[str, SearchParamDef]
    compartments: Mapping[str, Mapping[str, tuple[str, ...]]]


@cache
def _registry() -> _Registry:
    structure = _read_json("structure")
    types = {name: _type_def(name, raw) for name, raw in structure["types"].items()}
    value_sets: dict[str, frozenset[tuple[str, str]] | None] = {}
    for url, vs in structure["valueSets"].items():
        value_sets[url] = (
            frozenset((system, code) for system, codes in vs["codes"].items() for code in codes)
            if vs["expandable"]
            else None
        )
    params = tuple(_search_param(p) for p in _read_json("search_parameters"))
    compartments = {
        code: MappingProxyType({rt: tuple(ps) for rt, ps in cd["resources"].items()})
        for code, cd in _read_json("compartments").items()
    }
    return _Registry(
        types=MappingProxyType(types),
        value_sets=MappingProxyType(value_sets),
        params=params,
        params_by_url=MappingProxyType({p.url: p for p in params}),
        compartments=MappingProxyType(compartments),
    )


# --- public API: types and elements --------------------------------------------------------


@cache
def resource_types() -> frozenset[str]:
    """Every concrete resource type of R4 (146 names; not Resource/DomainResource)."""
    return frozenset(
        name for name, t in _registry().types.items() if t.kind == "resource" and not t.abstract
    )


def is_resource_type(name: str) -> bool:
    """Whether ``name`` is a concrete R4 resource type."""
    return name in resource_types()


@cache
def datatypes() -> frozenset[str]:
    """Every R4 datatype name, complex and primitive (Element-derived, incl. abstract ones)."""
    return frozenset(n for n, t in _registry().types.items() if t.kind != "resource")


@cache
def primitive_types() -> frozenset[str]:
    """The R4 primitive datatypes (R4 datatypes.html#primitive)."""
    return frozenset(n for n, t in _registry().types.items() if t.kind == "primitive-type")


def type_definition(name: str) -> TypeDef:
    """The definition of a resource type or datatype; KeyError if R4 has none."""
    try:
        return _registry().types[name]
    except KeyError:
        raise KeyError(f"unknown FHIR R4 type: {name}") from None


def is_type(name: str) -> bool:
    """Whether ``name`` is a known resource type or datatype (incl. abstract ones)."""
    return name in _registry().types


@cache
def ancestors(name: str) -> tuple[str, ...]:
    """The base types of ``name``, nearest first (Patient -> DomainResource, Resource)."""
    out: list[str] = []
    base = type_definition(name).base
    while base is not None:
        out.append(base)
        base = type_definition(base).base
    return tuple(out)


def element(path: str) -> ElementDef | None:
    """The element at a dotted path, following datatypes and content references.

    ``Patient.name.given`` resolves through HumanName; ``Questionnaire.item.item`` through
    ``#Questionnaire.item``; a choice may be named as ``Observation.value[x]`` or by its
    JSON name ``Observation.valueQuantity``. None when the path names no element.
    """
    return _resolve(path)


@cache
def _resolve(path: str) -> ElementDef | None:
    head, _, rest = path.partition(".")
    if not is_type(head):
        return None
    if not rest:
        return None
    type_name = head
    current_path = head
    found: ElementDef | None = None
    for segment in rest.split("."):
        found = _child(type_name, current_path, segment)
        if found is None:
            return None
        if found.content_reference:
            target = found.content_reference.lstrip("#")
            type_name, current_path = target.split(".", 1)[0], target
            continue
        codes = found.type_codes
        if len(codes) == 1 and codes[0] in ("BackboneElement", "Element"):
            current_path = found.path
        else:
            choice_type = _choice_type(found, segment)
            next_type = choice_type or (codes[0] if len(codes) == 1 else None)
            if next_type is None or not is_type(next_type):
                current_path = found.path
                type_name = ""
                continue
            type_name, current_path = next_type, next_type
    return found


def _child(type_name: str, parent_path: str, segment: str) -> ElementDef | None:
    if not type_name:
        return None
    tdef = type_definition(type_name)
    exact = tdef.element(f"{parent_path}.{segment}")
    if exact is not None:
        return exact
    for child in tdef.children(parent_path):
        if child.choice and _choice_type(child, segment):
            return child
    return None


def _choice_type(el: ElementDef, segment: str) -> str | None:
    if not el.choice:
        return None
    stem = el.name
    for code in el.type_codes:
        if segment == stem + code[0].upper() + code[1:]:
            return code
    return None


def children(type_name: str, path: str | None = None) -> tuple[ElementDef, ...]:
    """Direct children of ``path`` inside ``type_name`` (its root when ``path`` is None).

    For a path to an element of a complex datatype the datatype's own children are given,
    for a content reference those of the referenced element.
    """
    tdef = type_definition(type_name)
    if path is None or path == type_name:
        return tdef.children()
    own = tdef.children(path)
    if own:
        return own
    el = element(path)
    if el is None:
        return ()
    if el.content_reference:
        target = el.content_reference.lstrip("#")
        return type_definition(target.split(".", 1)[0]).children(target)
    if len(el.types) == 1 and is_type(el.types[0].code):
        return type_definition(el.types[0].code).children()
    return ()


@cache
def json_properties(type_name: str, path: str | None = None) -> Mapping[str, ElementDef]:
    """JSON property name -> element for the children of ``path`` (R4 json.html).

    Choice elements appear once per type (``valueQuantity``, ``valueString``...); the
    ``_name`` siblings of primitives are not listed: they follow their element.
    """
    out: dict[str, ElementDef] = {}
    for el in children(type_name, path):
        if el.choice:
            for code in el.type_codes:
                out[el.name + code[0].upper() + code[1:]] = el
        else:
            out[el.name] = el
    return MappingProxyType(out)


@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level JSON names of the elements marked isSummary (R4 search.html#summary).

    ``_summary=true`` keeps these (plus ``resourceType`` and the ``_name`` siblings of the
    kept primitives); ``id`` and ``meta`` are always among them.
    """
    return frozenset(n for n, el in json_properties(resource_type).items() if el.summary)


def value_set_codes(url: str) -> frozenset[tuple[str, str]] | None:
    """(system, code) pairs of a required-binding ValueSet; None if it is not expandable.

    Only ValueSets bound with strength required by some core element are present; those
    needing content the package lacks (mime types, currencies, UCUM) are None.
    """
    return _registry().value_sets.get(url.split("|", 1)[0])


def value_set_expandable(url: str) -> bool:
    """Whether the registry holds a finite expansion of the ValueSet."""
    return value_set_codes(url) is not None


# --- public API: search parameters and compartments ----------------------------------------


def all_search_parameters() -> tuple[SearchParamDef, ...]:
    """Every SearchParameter of the core package (1,400), sorted by url."""
    return _registry().params


def search_parameter_by_url(url: str) -> SearchParamDef | None:
    """The SearchParameter with this canonical url (a ``|version`` suffix is ignored)."""
    return _registry().params_by_url.get(url.split("|", 1)[0])


def search_parameters(
    resource_type: str, *, include_experimental: bool = False
) -> Mapping[str, SearchParamDef]:
    """Search parameters by code for a resource type, incl. the Resource-wide ones.

    Parameters based on Resource (``_id``, ``_lastUpdated``, ``_tag``, ``_profile``,
    ``_security``, ``_source``...) apply to every type, DomainResource ones (``_text``)
    to types derived from DomainResource, and a parameter listing several bases to each.
    The experimental ones (extension-based examples such as ``Patient.mothersMaidenName``)
    are left out unless asked for; they never displace a core parameter of the same code.
    Raises KeyError for an unknown resource type.
    """
    if not is_resource_type(resource_type):
        raise KeyError(f"unknown FHIR R4 resource type: {resource_type}")
    return _search_parameters(resource_type, include_experimental)


@cache
def _search_parameters(
    resource_type: str, include_experimental: bool
) -> Mapping[str, SearchParamDef]:
    applies_to = {resource_type, *ancestors(resource_type)}
    found: dict[str, SearchParamDef] = {}
    for param in _registry().params:
        if param.experimental and not include_experimental:
            continue
        if not applies_to.intersection(param.base):
            continue
        current = found.get(param.code)
        if current is None or (current.experimental and not param.experimental):
            found[param.code] = param
    return MappingProxyType(dict(sorted(found.items())))


def compartments() -> frozenset[str]:
    """The compartment types: Patient, Encounter, RelatedPerson, Practitioner, Device."""
    return frozenset(_registry().compartments)


def compartment_params(compartment: str, resource_type: str) -> tuple[str, ...]:
    """The search params linking ``resource_type`` to a compartment (R4 compartmentdefinition).

    Empty when the type is not in the compartment; KeyError for an unknown compartment.
    """
    try:
        members = _registry().compartments[compartment]
    except KeyError:
        raise KeyError(f"unknown compartment: {compartment}") from None
    return members.get(resource_type, ())


def compartment_resource_types(compartment: str) -> frozenset[str]:
    """The resource types that can be members of a compartment (they have linking params)."""
    return frozenset(rt for rt, params in _registry().compartments[compartment].items() if params)
