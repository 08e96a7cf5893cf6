"""Validation of FHIR R4 resources in JSON against the core definitions (R4 validation.html).

Checks what the base specification itself requires of every instance, driven by the
generated registry: known resource types and elements, cardinality and the JSON array rule
(R4 json.html#arrays), JSON types and lexical forms of primitives (datatypes.html), no
empty or null values (json.html), primitive extension siblings ``_x`` (json.html#primitive),
one choice of each ``[x]`` element (formats.html#choice), required bindings
(terminologies.html#required), reference formats and target types (references.html),
contained resources (references.html#contained, dom-2..dom-5), extensions (ext-1), the
narrative's XHTML (txt-1, txt-2) and a few datatype and resource invariants (sqty-1, qty-3,
per-1, ref-1; ``invariants.py``).

The per-type element tables are built once per type and cached, so validating a resource
is one pass over its JSON with dictionary look-ups: no FHIRPath evaluation on this path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from wardbook.errors import ValidationReport
from wardbook.fhir import invariants, primitives, registry
from wardbook.fhir.narrative import narrative_problems
from wardbook.fhir.registry import ElementDef, ElementType

_PRIMITIVE, _COMPLEX, _RESOURCE = 0, 1, 2
# Deeper than any real resource (nested Questionnaire items stay far below); bounds the
# recursion so hostile input gets an issue, not a RecursionError.
MAX_DEPTH = 64
_ROOT_TYPES = ("Resource", "DomainResource")
_INLINE_TYPES = ("BackboneElement", "Element")

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_UUID_URN = re.compile(
    r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_OID_URN = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
# A RESTful reference, relative or at the end of an absolute URL (R4 references.html#literal).
_RESTFUL = re.compile(
    r"(?:(?:https?)://\S+?/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?"
)
# Conditional references (``Patient?identifier=...``) are resolved in transactions
# (R4 http.html#trules).
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?\S*")


# --- element tables ------------------------------------------------------------------------


@dataclass(slots=True)
class _Prop:
    """How one JSON property of one element is checked."""

    json_name: str
    element: ElementDef
    type_code: str
    kind: int
    is_array: bool
    choice_stem: str | None
    node_key: tuple[str, str] | None
    check: primitives.Checker | None
    codes: frozenset[str] | None  # required binding on a code: allowed codes
    pairs: frozenset[tuple[str, str]] | None  # required binding on Coding/CodeableConcept
    value_set: str | None
    targets: frozenset[str] | None  # Reference: allowed target types; None = any
    simple_quantity: bool
    # "_name": the primitive's extension sibling (R4 json.html#primitive).
    ext_name: str = ""
    # A single primitive that needs no check beyond its lexical form and required codes:
    # the common case, checked inline by ``_members`` (1; 2 for uri-like: "#" fragments
    # take the full path).
    fast: int = 0
    node: _Node | None = None  # the element table of a complex value, once looked up


@dataclass(slots=True)
class _Node:
    """The properties of one object type: a datatype, a resource or a backbone element."""

    type_name: str
    props: dict[str, _Prop] = field(default_factory=dict)
    required: list[tuple[ElementDef, tuple[str, ...]]] = field(default_factory=list)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _json_name(el: ElementDef, etype: ElementType) -> str:
    if not el.choice:
        return el.name
    return el.name + etype.code[0].upper() + etype.code[1:]


def _make_prop(type_name: str, el: ElementDef, etype: ElementType | None) -> _Prop:
    prims = registry.primitive_types()
    node_key: tuple[str, str] | None = None
    check: primitives.Checker | None = None
    if el.content_reference:
        target = el.content_reference.lstrip("#")
        kind, code = _COMPLEX, "BackboneElement"
        node_key = (target.split(".", 1)[0], target)
        json_name = el.name
    else:
        if etype is None:
            raise RuntimeError("internal error: etype is missing")
        code = etype.code
        json_name = _json_name(el, etype)
        if code in prims:
            kind = _PRIMITIVE
            check = primitives.checker(code)
        elif code in _ROOT_TYPES:
            kind = _RESOURCE
        elif code in _INLINE_TYPES:
            kind = _COMPLEX
            node_key = (type_name, el.path)
        else:
            kind = _COMPLEX
            node_key = (code, code)
    codes: frozenset[str] | None = None
    pairs: frozenset[tuple[str, str]] | None = None
    value_set: str | None = None
    if el.binding_strength == "required" and el.binding_value_set:
        expansion = registry.value_set_codes(el.binding_value_set)
        if expansion is not None:
            value_set = el.binding_value_set
            pairs = expansion
            codes = frozenset(c for _, c in expansion)
    targets: frozenset[str] | None = None
    if (
        etype is not None
        and code == "Reference"
        and etype.targets
        and not set(etype.targets) & set(_ROOT_TYPES)
    ):
        targets = frozenset(etype.targets)
    fast = 0
    if kind == _PRIMITIVE and not el.is_array and code != "xhtml":
        fast = 2 if code in ("canonical", "uri", "url") else 1
    return _Prop(
        json_name=json_name,
        element=el,
        type_code=code,
        kind=kind,
        is_array=el.is_array,
        choice_stem=el.name if el.choice else None,
        node_key=node_key,
        check=check,
        codes=codes,
        pairs=pairs,
        value_set=value_set,
        targets=targets,
        simple_quantity=etype is not None and "SimpleQuantity" in etype.profiles,
        ext_name="_" + json_name,
        fast=fast,
    )


@cache
def _node(type_name: str, path: str) -> _Node:
    """The element table of ``path`` inside ``type_name`` (a type's root when equal)."""
    tdef = registry.type_definition(type_name)
    node = _Node(type_name=path)
    for el in tdef.children(path):
        names: list[str] = []
        if el.content_reference or not el.types:
            if el.content_reference:
                prop = _make_prop(type_name, el, None)
                node.props[prop.json_name] = prop
                names.append(prop.json_name)
        else:
            for etype in el.types:
                prop = _make_prop(type_name, el, etype)
                node.props[prop.json_name] = prop
                names.append(prop.json_name)
        if el.min > 0 and names:
            node.required.append((el, tuple(names)))
        if el.choice:
            node.choices[el.name] = tuple(names)
    return node


# --- validation ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Scope:
    """One resource that is not contained, with what its contained resources need checked."""

    contained: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type, path)
    local_refs: list[tuple[str, str, frozenset[str] | None]] = field(default_factory=list)
    fragments: set[str] = field(default_factory=set)  # "#id" values of references/uris
    self_referring: set[int] = field(default_factory=set)  # contained indexes using "#"
    current_contained: int | None = None


class _Validator:
    __slots__ = ("depth", "report")

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.depth = 0

    # resources

    def resource(
        self, res: Any, path: str, *, expected: str | None = None, scope: _Scope | None = None
    ) -> None:
        """Validate a resource; ``scope`` is the container's when ``res`` is contained."""
        report = self.report
        where = path or "Resource"
        if not isinstance(res, dict):
            report.error("structure", "a resource must be a JSON object", where)
            return
        rtype = res.get("resourceType")
        if not isinstance(rtype, str):
            report.error("required", "the resource has no resourceType (R4 json.html)", where)
            return
        if not registry.is_resource_type(rtype):
            report.error("structure", f"unknown resource type {rtype!r}", f"{where}.resourceType")
            return
        root = path or rtype
        if expected is not None and rtype != expected:
            report.error("invalid", f"expected a {expected} resource, got {rtype}", root)
        invariants.check_resource(res, rtype, root, report)
        if scope is None:
            own = _Scope()
            self._collect_contained(res, root, own)
            self.obj(res, _node(rtype, rtype), root, own, is_resource=True)
            self._check_contained_references(res, root, own)
        else:
            self.obj(res, _node(rtype, rtype), root, scope, is_resource=True)

    def _collect_contained(self, res: dict[str, Any], root: str, scope: _Scope) -> None:
        contained = res.get("contained")
        if not isinstance(contained, list):
            return
        for i, item in enumerate(contained):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                rtype = item.get("resourceType")
                scope.contained[item["id"]] = (
                    rtype if isinstance(rtype, str) else "",
                    f"{root}.contained[{i}]",
                )

    def _check_contained_references(self, res: dict[str, Any], root: str, scope: _Scope) -> None:
        report = self.report
        for ref_id, path, targets in scope.local_refs:
            found = scope.contained.get(ref_id)
            if found is None:
                report.error(
                    "invariant",
                    f"ref-1: no contained resource has the id {ref_id!r} of this local reference",
                    path,
                )
            elif targets is not None and found[0] and found[0] not in targets:
                report.error(
                    "invalid",
                    f"the contained {found[0]} is not an allowed target here "
                    f"(allowed: {', '.join(sorted(targets))})",
                    path,
                )
        contained = res.get("contained")
        if not isinstance(contained, list):
            return
        for i, item in enumerate(contained):
            if not isinstance(item, dict):
                continue
            cid = item.get("id")
            path = f"{root}.contained[{i}]"
            if not isinstance(cid, str):
                report.error(
                    "invariant",
                    "dom-3: a contained resource needs an id so that it can be referenced",
                    path,
                )
            elif "#" + cid not in scope.fragments and i not in scope.self_referring:
                report.error(
                    "invariant",
                    f"dom-3: the contained resource {cid!r} is neither referenced from "
                    "elsewhere in the resource nor refers to its container",
                    path,
                )

    def _contained(self, value: Any, path: str, index: int, scope: _Scope) -> None:
        """R4 references.html#contained and DomainResource invariants dom-2, dom-4, dom-5."""
        report = self.report
        if isinstance(value, dict):
            if "contained" in value:
                report.error(
                    "invariant",
                    "dom-2: a contained resource must not contain further resources",
                    f"{path}.contained",
                )
            meta = value.get("meta")
            if isinstance(meta, dict):
                for key in ("versionId", "lastUpdated"):
                    if key in meta:
                        report.error(
                            "invariant",
                            f"dom-4: a contained resource must not have meta.{key}",
                            f"{path}.meta.{key}",
                        )
                if "security" in meta:
                    report.error(
                        "invariant",
                        "dom-5: a contained resource must not have a security label",
                        f"{path}.meta.security",
                    )
        outer = scope.current_contained
        scope.current_contained = index
        self.resource(value, path, scope=scope)
        scope.current_contained = outer

    # objects

    def obj(
        self,
        value: dict[str, Any],
        node: _Node,
        path: str,
        scope: _Scope,
        *,
        is_resource: bool = False,
    ) -> None:
        report = self.report
        if self.depth >= MAX_DEPTH:
            report.error("structure", f"elements are nested more than {MAX_DEPTH} deep", path)
            return
        self.depth += 1
        try:
            self._members(value, node, path, scope, is_resource)
        finally:
            self.depth -= 1

    def _members(
        self, value: dict[str, Any], node: _Node, path: str, scope: _Scope, is_resource: bool
    ) -> None:
        report = self.report
        props = node.props
        for key, item in value.items():
            prop = props.get(key)
            if prop is not None and prop.fast:
                # What ``prop`` would do for a single primitive without an ``_`` sibling
                # and without a problem; anything else takes the full path below.
                check = prop.check
                if (
                    item is not None
                    and type(item) is not list
                    and check is not None
                    and check(item) is None
                    and (prop.codes is None or item in prop.codes)
                    and (prop.fast == 1 or item[:1] != "#")
                    and prop.ext_name not in value
                ):
                    continue
            if prop is None:
                if not isinstance(key, str):
                    report.error("structure", f"a JSON key must be a string: {key!r}", path)
                    continue
                if key.startswith("_"):
                    base = props.get(key[1:])
                    if base is not None and base.kind == _PRIMITIVE:
                        if key[1:] not in value:
                            self.primitive_extension(item, None, base, f"{path}.{key[1:]}", scope)
                        continue
                if is_resource and key == "resourceType":
                    continue
                report.error("structure", f"unknown element {key!r}", f"{path}.{key}")
                continue
            self.prop(prop, item, value, path, scope)
        for el, names in node.required:
            if not any(n in value or "_" + n in value for n in names):
                report.error(
                    "required",
                    f"{el.path} is required (minimum cardinality {el.min})",
                    f"{path}.{names[0] if len(names) == 1 else el.name + '[x]'}",
                )
        for stem, names in node.choices.items():
            present = [n for n in names if n in value or "_" + n in value]
            if len(present) > 1:
                report.error(
                    "structure",
                    f"only one of {stem}[x] may be present, found {', '.join(present)}",
                    f"{path}.{present[1]}",
                )

    def prop(
        self, prop: _Prop, value: Any, parent: dict[str, Any], path: str, scope: _Scope
    ) -> None:
        report = self.report
        here = f"{path}.{prop.json_name}"
        ext: Any = None
        if prop.kind == _PRIMITIVE:
            ext = parent.get(prop.ext_name)
        if value is None:
            report.error("structure", "null is not allowed here (R4 json.html)", here)
            return
        if prop.is_array:
            if not isinstance(value, list):
                report.error(
                    "structure", f"{prop.element.path} must be a JSON array (max > 1)", here
                )
                self.item(prop, value, here, scope, 0)
                return
            if not value:
                report.error("structure", "an array must not be empty (R4 json.html)", here)
                return
            maximum = prop.element.max
            if maximum is not None and len(value) > maximum:
                report.error(
                    "structure",
                    f"{prop.element.path} allows at most {maximum} values, found {len(value)}",
                    here,
                )
            if len(value) < prop.element.min:
                report.error(
                    "required",
                    f"{prop.element.path} needs at least {prop.element.min} values",
                    here,
                )
            ext_list = ext if isinstance(ext, list) else None
            if ext is not None:
                self.primitive_extension(ext, value, prop, here, scope)
            for i, item in enumerate(value):
                if item is None:
                    # Both null at one index is reported with the _ sibling.
                    if ext_list is None or i >= len(ext_list):
                        report.error(
                            "structure",
                            "null is only allowed in an array aligned with its _ sibling",
                            f"{here}[{i}]",
                        )
                    continue
                self.item(prop, item, f"{here}[{i}]", scope, i)
            return
        if isinstance(value, list):
            report.error("structure", f"{prop.element.path} must not be an array (max is 1)", here)
            for i, item in enumerate(value):
                if item is not None:
                    self.item(prop, item, f"{here}[{i}]", scope, i)
            return
        if ext is not None:
            self.primitive_extension(ext, None, prop, here, scope)
        self.item(prop, value, here, scope, 0)

    def item(self, prop: _Prop, value: Any, path: str, scope: _Scope, index: int) -> None:
        report = self.report
        kind = prop.kind
        if kind == _PRIMITIVE:
            if prop.check is None:
                raise RuntimeError("internal error: prop.check is missing")
            problem = prop.check(value)
            if problem is not None:
                report.error(problem[0], f"{prop.element.path}: {problem[1]}", path)
                return
            if prop.codes is not None and value not in prop.codes:
                report.error(
                    "code-invalid",
                    f"{value!r} is not in the required value set {prop.value_set}",
                    path,
                )
            code = prop.type_code
            if code in ("canonical", "uri", "url") and value[:1] == "#":
                self._fragment(value, scope)
            elif code == "xhtml":
                for message in narrative_problems(value):
                    report.error("invariant", message, path)
            return
        if kind == _RESOURCE:
            if prop.json_name == "contained":
                self._contained(value, path, index, scope)
            else:
                self.resource(value, path)
            return
        if not isinstance(value, dict):
            report.error(
                "structure",
                f"{prop.element.path} must be a JSON object ({prop.type_code})",
                path,
            )
            return
        if not value:
            report.error("structure", "an object must not be empty (R4 json.html, ele-1)", path)
            return
        if prop.node_key is None:
            raise RuntimeError("internal error: prop.node_key is missing")
        node = prop.node
        if node is None:
            node = prop.node = _node(*prop.node_key)
        self.obj(value, node, path, scope)
        code = prop.type_code
        if code == "Reference":
            self.reference(value, prop, path, scope)
        elif code == "Extension":
            self.extension(value, path)
        elif code == "Quantity":
            self.quantity(value, prop, path)
        elif code == "Period":
            self.period(value, path)
        else:
            check = invariants.DATATYPE_CHECKS.get(code)
            if check is not None:
                check(value, path, report)
        if prop.pairs is not None:
            if code == "Coding":
                self.coding_binding(value, prop, path)
            elif code == "CodeableConcept":
                self.concept_binding(value, prop, path)

    # primitive extensions

    def primitive_extension(
        self, ext: Any, values: list[Any] | None, prop: _Prop, path: str, scope: _Scope
    ) -> None:
        """The ``_x`` sibling of a primitive: id and extensions only (R4 json.html#primitive)."""
        report = self.report
        if prop.type_code == "xhtml":
            # xhtml.extension has max 0: the narrative's div takes no extensions.
            report.error("structure", "the xhtml div cannot have extensions", path)
            return
        if prop.is_array:
            if not isinstance(ext, list):
                report.error("structure", f"_{prop.json_name} must be a JSON array", path)
                return
            if values is not None and len(values) != len(ext):
                report.error(
                    "structure",
                    f"_{prop.json_name} must have as many entries as {prop.json_name}",
                    path,
                )
            for i, item in enumerate(ext):
                if item is None:
                    if values is None or i >= len(values) or values[i] is None:
                        report.error(
                            "structure", "a value and its extensions are both null", f"{path}[{i}]"
                        )
                    continue
                self._element_extensions(item, f"{path}[{i}]", scope)
            return
        if isinstance(ext, list):
            report.error("structure", f"_{prop.json_name} must not be an array", path)
            return
        self._element_extensions(ext, path, scope)

    def _element_extensions(self, ext: Any, path: str, scope: _Scope) -> None:
        report = self.report
        if not isinstance(ext, dict):
            report.error("structure", "a primitive's extension element must be an object", path)
            return
        if not ext:
            report.error("structure", "an object must not be empty (R4 json.html, ele-1)", path)
            return
        node = _node("Element", "Element")
        for key in ext:
            if key not in node.props:
                report.error(
                    "structure",
                    f"unknown element {key!r}: a primitive may only have id and extension",
                    f"{path}.{key}",
                )
        self.obj({k: v for k, v in ext.items() if k in node.props}, node, path, scope)

    # datatype rules

    def _fragment(self, value: str, scope: _Scope) -> None:
        scope.fragments.add(value)
        if value == "#" and scope.current_contained is not None:
            scope.self_referring.add(scope.current_contained)

    def reference(self, value: dict[str, Any], prop: _Prop, path: str, scope: _Scope) -> None:
        """R4 references.html#literal: the forms of Reference.reference and its target type."""
        ref = value.get("reference")
        if not isinstance(ref, str) or not ref:
            return
        report = self.report
        here = f"{path}.reference"
        target: str | None = None
        if ref[0] == "#":
            self._fragment(ref, scope)
            if len(ref) > 1:
                if _ID.fullmatch(ref[1:]) is None:
                    report.error("value", f"{ref!r} is not a valid local reference", here)
                else:
                    scope.local_refs.append((ref[1:], here, prop.targets))
            return
        if ref.startswith("urn:uuid:"):
            if _UUID_URN.fullmatch(ref) is None:
                report.error("value", f"{ref!r} is not a valid urn:uuid reference", here)
            return
        if ref.startswith("urn:oid:"):
            if _OID_URN.fullmatch(ref) is None:
                report.error("value", f"{ref!r} is not a valid urn:oid reference", here)
            return
        restful = _RESTFUL.fullmatch(ref)
        if restful is not None and registry.is_resource_type(restful.group(1)):
            target = restful.group(1)
        else:
            conditional = _CONDITIONAL.fullmatch(ref)
            if conditional is not None and registry.is_resource_type(conditional.group(1)):
                target = conditional.group(1)
            elif _ABSOLUTE.fullmatch(ref) is None or ref.startswith(("urn:uuid", "urn:oid")):
                report.error(
                    "value",
                    f"{ref!r} is not a valid reference: expected Type/id, "
                    "Type/id/_history/vid, an absolute URL, #id or urn:uuid:/urn:oid:",
                    here,
                )
                return
        if target is not None and prop.targets is not None and target not in prop.targets:
            report.error(
                "invalid",
                f"a reference to {target} is not allowed here "
                f"(allowed: {', '.join(sorted(prop.targets))})",
                here,
            )

    def extension(self, value: dict[str, Any], path: str) -> None:
        """ext-1: an extension has either nested extensions or a value[x], not both."""
        has_value = any(k.startswith(("value", "_value")) for k in value)
        has_nested = "extension" in value
        if has_value == has_nested:
            self.report.error(
                "invariant",
                "ext-1: an extension must have either extensions or value[x], not both",
                path,
            )

    def quantity(self, value: dict[str, Any], prop: _Prop, path: str) -> None:
        """sqty-1 (SimpleQuantity has no comparator) and qty-3 (a code needs a system)."""
        if prop.simple_quantity and "comparator" in value:
            self.report.error(
                "invariant",
                "sqty-1: a SimpleQuantity must not have a comparator",
                f"{path}.comparator",
            )
        if "code" in value and "system" not in value:
            self.report.error(
                "invariant",
                "qty-3: if a code for the unit is present, the system must also be present",
                path,
            )

    def period(self, value: dict[str, Any], path: str) -> None:
        """per-1: if present, start shall have a lower value than end."""
        start, end = value.get("start"), value.get("end")
        if not (isinstance(start, str) and isinstance(end, str)):
            return
        moments = _comparable_moments(start, end)
        if moments is not None and moments[0] > moments[1]:
            self.report.error(
                "invariant", "per-1: the period's start must not be after its end", path
            )

    def coding_binding(self, value: dict[str, Any], prop: _Prop, path: str) -> None:
        if prop.pairs is None:
            raise RuntimeError("internal error: prop.pairs is missing")
        system, code = value.get("system"), value.get("code")
        if not isinstance(code, str):
            return
        if not _in_value_set(system, code, prop.pairs):
            self.report.error(
                "code-invalid",
                f"{system}|{code} is not in the required value set {prop.value_set}",
                f"{path}.code",
            )

    def concept_binding(self, value: dict[str, Any], prop: _Prop, path: str) -> None:
        if prop.pairs is None:
            raise RuntimeError("internal error: prop.pairs is missing")
        codings = value.get("coding")
        if not isinstance(codings, list):
            return
        pairs = [
            (c.get("system"), c.get("code"))
            for c in codings
            if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
        if pairs and not any(_in_value_set(s, c, prop.pairs) for s, c in pairs):
            self.report.error(
                "code-invalid",
                f"no coding is in the required value set {prop.value_set}",
                f"{path}.coding",
            )


def _in_value_set(system: Any, code: Any, pairs: frozenset[tuple[str, str]]) -> bool:
    """(system, code) is in the expansion; a system that is not a string never is (a
    malformed ``system`` such as a JSON array is reported as a structure error, and must
    not crash the binding check; R4 terminologies.html#required)."""
    if system is not None and not isinstance(system, str):
        return False
    return (system, code) in pairs


def _comparable_moments(start: str, end: str) -> tuple[Any, Any] | None:
    """Both ends as comparable values when FHIRPath can order them (same precision)."""
    if "T" in start and "T" in end:
        try:
            return (
                datetime.fromisoformat(start.replace("Z", "+00:00")),
                datetime.fromisoformat(end.replace("Z", "+00:00")),
            )
        except ValueError:
            return None
    if "T" not in start and "T" not in end and len(start) == len(end):
        return start, end
    return None


def validate_resource(resource: Any, *, resource_type: str | None = None) -> ValidationReport:
    """Every problem of a FHIR R4 JSON resource against the base spec (R4 validation.html).

    ``resource`` is parsed JSON (``wardbook.fhir.jsonio.loads``). Never raises on odd input;
    each issue's expression is the FHIRPath of the element, e.g. ``Patient.name[0].given[1]``.
    """
    report = ValidationReport()
    _Validator(report).resource(resource, "", expected=resource_type)
    return report
