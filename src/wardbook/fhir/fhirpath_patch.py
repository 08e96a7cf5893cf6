"""FHIRPath Patch (R4 fhirpatch.html): a Parameters resource of add/insert/delete/replace/move.

R4 http.html#patch lets a client PATCH with a ``Parameters`` resource in which each
``parameter`` named ``operation`` carries parts ``type``, ``path`` (FHIRPath), ``name``,
``value``, ``index``, ``source`` and ``destination``. The base rules of fhirpatch.html apply:
a path selects a single element, and except for ``delete`` it is an error when it selects
none; the value's type must fit where it goes; operations apply in order, each to the result
of the one before. A malformed Parameters body is a 400 (``BadRequest``), a patch that cannot
be applied to this resource a 422 (``Unprocessable``). Nothing is applied unless everything
is: the work happens on a copy. The rule that the outcome must be a valid resource is the
caller's to enforce, by validating the result as for any update.

Values are a ``value[x]`` part, a ``resource`` part, or (for anonymous types such as
``Patient.contact``, fhirpatch.html#anonymous) nested ``part``s, one per child element; "this
pattern repeats as deep as necessary". Replacing or deleting a primitive replaces or deletes
the whole element, its id and extensions (``_birthDate``) included; elements emptied by a
delete are removed, since FHIR JSON has no empty objects (R4 json.html).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from wardbook.errors import BadRequest, Unprocessable, WardbookError
from wardbook.fhir import registry
from wardbook.fhir.fhirpath_locate import (
    Node,
    child_element,
    choice_key,
    element_type,
    locate,
)
from wardbook.fhir.jsonpatch import copy_json
from wardbook.fhir.registry import ElementDef

OPERATION_TYPES: Final = ("add", "insert", "delete", "replace", "move")
_PART_NAMES: Final = frozenset({"type", "path", "name", "value", "index", "source", "destination"})
_INTEGER_TYPES: Final = frozenset({"integer", "positiveInt", "unsignedInt"})
_JSON_KINDS: Final = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}


@dataclass(frozen=True, slots=True)
class PatchValue:
    """The content of a ``value`` part, before it meets the element it is meant for."""

    json: Any  # the JSON value of value[x] or resource; None when given as nested parts
    extension: dict[str, Any] | None  # a primitive's id/extensions (``_valueDate``)
    fhir_type: str | None  # "date", "HumanName", "Patient"; None for nested parts
    parts: tuple[tuple[str, PatchValue], ...] = ()  # (child name, its value), in order


@dataclass(frozen=True, slots=True)
class FhirPatchOperation:
    """One checked ``operation`` parameter (R4 fhirpatch.html#format)."""

    position: int  # 0-based index in Parameters.parameter
    type: str
    path: str
    name: str | None = None
    value: PatchValue | None = None
    index: int | None = None
    source: int | None = None
    destination: int | None = None

    @property
    def label(self) -> str:
        """``operation 1 (replace Patient.birthDate)``: how messages name this operation."""
        return f"operation {self.position} ({self.type} {self.path})"


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Apply a FHIRPath Patch to a copy of ``resource``; the input is never changed.

    Raises ``BadRequest`` for a malformed Parameters resource or a path outside the supported
    FHIRPath subset, ``Unprocessable`` for a patch this resource cannot take; in both cases
    nothing is applied.
    """
    try:
        operations = parse_fhirpath_patch(parameters)
        patched: dict[str, Any] = copy_json(resource)
        for operation in operations:
            _APPLY[operation.type](patched, operation)
    except RecursionError as exc:
        raise BadRequest("the patch or the resource is nested too deeply to apply") from exc
    return patched


def parse_fhirpath_patch(parameters: Any) -> list[FhirPatchOperation]:
    """Check a FHIRPath Patch Parameters resource (R4 fhirpatch.html#format); 400 if bad."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise BadRequest("a FHIRPath Patch must be a Parameters resource (R4 fhirpatch.html)")
    entries = parameters.get("parameter", [])
    if not isinstance(entries, list):
        raise BadRequest("Parameters.parameter must be an array")
    return [_parse_operation(position, entry) for position, entry in enumerate(entries)]


# --- parsing the Parameters resource ---------------------------------------------------------


def _parse_operation(position: int, entry: Any) -> FhirPatchOperation:
    where = f"operation {position}"
    if not isinstance(entry, dict) or entry.get("name") != "operation":
        found = entry.get("name") if isinstance(entry, dict) else None
        raise BadRequest(
            f"parameter {position}: a FHIRPath Patch parameter is named 'operation', not {found!r}"
        )
    parts = _parts_by_name(where, entry.get("part"))
    op_type = _string_part(where, parts, "type", ("valueCode", "valueString"))
    if op_type not in OPERATION_TYPES:
        raise BadRequest(
            f"{where}: unknown type {op_type!r} (expected one of {', '.join(OPERATION_TYPES)})"
        )
    path = _string_part(where, parts, "path", ("valueString",))
    where = f"operation {position} ({op_type} {path})"
    operation = FhirPatchOperation(position, op_type, path)
    if op_type == "add":
        name = _string_part(where, parts, "name", ("valueString", "valueCode"))
        return replace(operation, name=name, value=_value(where, parts))
    if op_type == "insert":
        index = _index_part(where, parts, "index")
        return replace(operation, value=_value(where, parts), index=index)
    if op_type == "replace":
        return replace(operation, value=_value(where, parts))
    if op_type == "move":
        source = _index_part(where, parts, "source")
        destination = _index_part(where, parts, "destination")
        return replace(operation, source=source, destination=destination)
    return operation


def _parts_by_name(where: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, list):
        raise BadRequest(f"{where}: an operation needs its parts (type, path, ...)")
    parts: dict[str, dict[str, Any]] = {}
    for part in raw:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str):
            raise BadRequest(f"{where}: every part needs a name")
        if name not in _PART_NAMES:
            raise BadRequest(
                f"{where}: unknown part {name!r} (expected {', '.join(sorted(_PART_NAMES))})"
            )
        if name in parts:
            raise BadRequest(f"{where}: the part {name!r} is given twice")
        parts[name] = part
    return parts


def _string_part(
    where: str, parts: dict[str, dict[str, Any]], name: str, keys: tuple[str, ...]
) -> str:
    part = _part(where, parts, name)
    value = next((part[key] for key in keys if key in part), None)
    if not isinstance(value, str):
        raise BadRequest(f"{where}: the part {name!r} needs {' or '.join(keys)}")
    if not value.strip():
        raise BadRequest(f"{where}: the part {name!r} is empty")
    return value


def _index_part(where: str, parts: dict[str, dict[str, Any]], name: str) -> int:
    value = _part(where, parts, name).get("valueInteger")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{where}: the part {name!r} needs valueInteger")
    if value < 0:
        raise BadRequest(f"{where}: the part {name!r} must not be negative")
    return value


def _part(where: str, parts: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    part = parts.get(name)
    if part is None:
        raise BadRequest(f"{where}: the part {name!r} is missing")
    return part


def _value(where: str, parts: dict[str, dict[str, Any]]) -> PatchValue:
    return _parse_value(where, "value", _part(where, parts, "value"))


def _parse_value(where: str, label: str, part: dict[str, Any]) -> PatchValue:
    """A value[x], a resource, or nested parts (fhirpatch.html#anonymous), checked for shape."""
    value_keys = [k for k in part if k.startswith("value") and k[5:6].isupper()]
    forms = len(value_keys) + ("resource" in part) + ("part" in part)
    if forms != 1:
        raise BadRequest(
            f"{where}: {label} needs exactly one of value[x], resource or part (found {forms})"
        )
    if value_keys:
        key = value_keys[0]
        fhir_type = _value_type(where, key)
        extension = part.get("_" + key)
        if extension is not None and not isinstance(extension, dict):
            raise BadRequest(f"{where}: _{key} must be an object")
        _check_json_kind(where, key, fhir_type, part[key])
        return PatchValue(part[key], extension, fhir_type)
    if "resource" in part:
        resource = part["resource"]
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource_type, str):
            raise BadRequest(f"{where}: {label}.resource must be a resource with a resourceType")
        return PatchValue(resource, None, resource_type)
    nested = part["part"]
    if not isinstance(nested, list) or not nested:
        raise BadRequest(f"{where}: {label}.part must be a non-empty array")
    children: list[tuple[str, PatchValue]] = []
    for child in nested:
        name = child.get("name") if isinstance(child, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}: every part inside {label} needs a name")
        children.append((name, _parse_value(where, f"{label}.{name}", child)))
    return PatchValue(None, None, None, tuple(children))


def _value_type(where: str, key: str) -> str:
    suffix = key[5:]
    primitive = suffix[:1].lower() + suffix[1:]
    if primitive in registry.primitive_types():
        return primitive
    if registry.is_type(suffix) and registry.type_definition(suffix).kind == "complex-type":
        return suffix
    raise BadRequest(f"{where}: {key} is not a FHIR R4 value[x] type")


def _check_json_kind(where: str, key: str, fhir_type: str, value: Any) -> None:
    kind = _JSON_KINDS.get(fhir_type, "string") if fhir_type in registry.primitive_types() else ""
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "": isinstance(value, dict),
    }[kind]
    if not ok:
        raise BadRequest(f"{where}: {key} must be a JSON {kind or 'object'}")


# --- applying operations -------------------------------------------------------------------


def _select(resource: dict[str, Any], operation: FhirPatchOperation) -> list[Node]:
    try:
        return locate(resource, operation.path)
    except WardbookError as exc:
        raise type(exc)(f"{operation.label}: {exc.message}") from exc


def _single(resource: dict[str, Any], operation: FhirPatchOperation) -> Node:
    nodes = _select(resource, operation)
    if len(nodes) != 1:
        found = "no element" if not nodes else f"{len(nodes)} elements"
        raise Unprocessable(
            f"{operation.label}: the path matches {found}; {operation.type} needs exactly one"
        )
    return nodes[0]


def _fail(operation: FhirPatchOperation, reason: str) -> Unprocessable:
    return Unprocessable(f"{operation.label}: {reason}")


def _apply_add(resource: dict[str, Any], operation: FhirPatchOperation) -> None:
    """Add ``name`` with ``value`` as a child of the element at path; lists are appended to."""
    if operation.name is None or operation.value is None:
        raise RuntimeError("internal error: operation.name or operation.value is missing")
    target = _single(resource, operation)
    name = operation.name
    if target.is_primitive:
        if name not in ("id", "extension"):
            raise _fail(operation, f"a primitive ({target.location}) only takes id or extension")
        holder = target.extension_holder(create=True)
        type_path = target.fhir_type if target.fhir_type in registry.primitive_types() else None
    else:
        holder = target.value
        type_path = target.type_path
    if holder is None:
        raise RuntimeError("internal error: holder is missing")
    element, code = child_element(type_path, name)
    if element is None and type_path is not None:
        raise _fail(operation, f"{target.location} has no element {name!r}")
    value, extension, value_type = _materialize(operation, operation.value, element, code)
    key = _json_key(operation, element, code, name, value_type)
    repeats = element.is_array if element is not None else isinstance(holder.get(key), list)
    if repeats:
        values = holder.setdefault(key, [])
        if not isinstance(values, list):
            raise _fail(operation, f"{target.location}.{key} is not a list")
        _set_extension(holder, key, len(values), extension, inserting=True)
        values.append(value)
        return
    taken = _family_keys(element, key) & holder.keys()
    if taken:
        raise _fail(
            operation,
            f"{target.location}.{sorted(taken)[0].lstrip('_')} already exists and does not "
            "repeat; use replace",
        )
    holder[key] = value
    if extension is not None:
        holder["_" + key] = extension


def _apply_insert(resource: dict[str, Any], operation: FhirPatchOperation) -> None:
    """Insert ``value`` at ``index`` (0-based, at most the list's length) of the list at path."""
    if operation.value is None or operation.index is None:
        raise RuntimeError("internal error: operation.value or operation.index is missing")
    holder, key, element, length = _list_at(resource, operation)
    if operation.index > length:
        raise _fail(operation, f"index {operation.index} is past the end of the list ({length})")
    value, extension, _ = _materialize(operation, operation.value, element, None)
    values = holder.get(key)
    if not isinstance(values, list):
        values = holder[key] = [None] * length
    _set_extension(holder, key, operation.index, extension, inserting=True)
    values.insert(operation.index, value)


def _apply_delete(resource: dict[str, Any], operation: FhirPatchOperation) -> None:
    """Delete the one element at path; nothing happens when the path matches nothing."""
    nodes = _select(resource, operation)
    if not nodes:
        return
    if len(nodes) > 1:
        raise _fail(operation, f"the path matches {len(nodes)} elements; delete needs one")
    if nodes[0].is_root:
        raise _fail(operation, "the resource itself cannot be deleted by a patch")
    _remove(nodes[0])


def _apply_replace(resource: dict[str, Any], operation: FhirPatchOperation) -> None:
    """Replace the element at path with ``value`` (a choice element may change its type)."""
    if operation.value is None:
        raise RuntimeError("internal error: operation.value is missing")
    node = _single(resource, operation)
    if node.is_root or node.holder is None:
        raise _fail(operation, "the resource itself cannot be replaced by a patch")
    holder = node.holder
    element = node.element
    value, extension, value_type = _materialize(operation, operation.value, element, None)
    if node.index is not None:
        values = holder.get(node.key)
        if not isinstance(values, list):
            values = holder[node.key] = [None] * (node.index + 1)
        values[node.index] = value
        _set_extension(holder, node.key, node.index, extension, inserting=False)
        return
    key = node.key
    if element is not None and element.choice and value_type is not None:
        key = choice_key(element, value_type)
        if key != node.key:
            holder.pop(node.key, None)
            holder.pop("_" + node.key, None)
    holder[key] = value
    if extension is not None:
        holder["_" + key] = extension
    else:
        holder.pop("_" + key, None)


def _apply_move(resource: dict[str, Any], operation: FhirPatchOperation) -> None:
    """Move the item at ``source`` of the list at path to ``destination`` (both 0-based)."""
    if operation.source is None or operation.destination is None:
        raise RuntimeError("internal error: operation.source or operation.destination is missing")
    holder, key, _, length = _list_at(resource, operation)
    for part, index in (("source", operation.source), ("destination", operation.destination)):
        if index >= length:
            raise _fail(operation, f"{part} {index} is out of the list's range (0-{length - 1})")
    for list_key in (key, "_" + key):
        items = holder.get(list_key)
        if isinstance(items, list):
            items.extend([None] * (length - len(items)))
            items.insert(operation.destination, items.pop(operation.source))


_APPLY: Final[dict[str, Callable[[dict[str, Any], FhirPatchOperation], None]]] = {
    "add": _apply_add,
    "insert": _apply_insert,
    "delete": _apply_delete,
    "replace": _apply_replace,
    "move": _apply_move,
}


# --- lists, keys and values --------------------------------------------------------------------


def _list_at(
    resource: dict[str, Any], operation: FhirPatchOperation
) -> tuple[dict[str, Any], str, ElementDef | None, int]:
    """The list the path selects as a whole: (holder, JSON key, element, length)."""
    nodes = _select(resource, operation)
    if not nodes:
        raise _fail(operation, "the path matches no element (use add to start a list)")
    first = nodes[0]
    holder = first.holder
    if holder is None or first.index is None:
        raise _fail(operation, f"{first.location} is not a list")
    if not all(n.holder is holder and n.key == first.key and n.index is not None for n in nodes):
        raise _fail(operation, "the path must select the items of one list")
    length = max(
        len(items) if isinstance(items := holder.get(k), list) else 0
        for k in (first.key, "_" + first.key)
    )
    if len(nodes) != length:
        raise _fail(
            operation, f"the path selects {len(nodes)} of the list's {length} items, not all"
        )
    return holder, first.key, first.element, length


def _json_key(
    operation: FhirPatchOperation,
    element: ElementDef | None,
    code: str | None,
    name: str,
    value_type: str | None,
) -> str:
    if element is None or not element.choice or code is not None:
        return name
    if value_type is None:
        raise _fail(operation, f"{element.path} is a choice, so its value needs a type")
    return choice_key(element, value_type)


def _family_keys(element: ElementDef | None, key: str) -> set[str]:
    """Every JSON key that would hold this non-repeating element (all types of a choice)."""
    keys = {key}
    if element is not None and element.choice:
        keys = {choice_key(element, code) for code in element.type_codes}
    return keys | {"_" + k for k in keys}


def _set_extension(
    holder: dict[str, Any],
    key: str,
    index: int,
    extension: dict[str, Any] | None,
    *,
    inserting: bool,
) -> None:
    """Keep the ``_<key>`` array of a primitive list aligned with its values (R4 json.html)."""
    slots = holder.get("_" + key)
    if not isinstance(slots, list):
        if extension is None:
            return
        values = holder.get(key)
        slots = holder["_" + key] = [None] * (len(values) if isinstance(values, list) else 0)
    slots.extend([None] * (index - len(slots)))
    if inserting:
        slots.insert(index, extension)
    elif index < len(slots):
        slots[index] = extension
    else:
        slots.append(extension)
    if all(slot is None for slot in slots):
        del holder["_" + key]


def _remove(node: Node) -> None:
    """Remove an element (value, id and extensions), then any parent it leaves empty."""
    holder = node.holder
    if holder is None:
        raise RuntimeError("internal error: holder is missing")
    if node.index is None:
        holder.pop(node.key, None)
        holder.pop("_" + node.key, None)
    else:
        for key in (node.key, "_" + node.key):
            items = holder.get(key)
            if isinstance(items, list):
                if node.index < len(items):
                    items.pop(node.index)
                if all(item is None for item in items):
                    del holder[key]
    _prune(node.parent)


def _prune(node: Node | None) -> None:
    if node is None or node.is_root or node.holder is None:
        return
    if node.is_primitive:
        extension = node.extension_holder()
        if extension is not None and not extension:
            _clear_extension(node)
            extension = None
        empty = node.value is None and extension is None
    else:
        empty = not node.value
    if empty:
        _remove(node)


def _clear_extension(node: Node) -> None:
    if node.holder is None:
        raise RuntimeError("internal error: node.holder is missing")
    ext_key = "_" + node.key
    if node.index is None:
        node.holder.pop(ext_key, None)
        return
    slots = node.holder.get(ext_key)
    if isinstance(slots, list) and node.index < len(slots):
        slots[node.index] = None
        if all(slot is None for slot in slots):
            del node.holder[ext_key]


def _materialize(
    operation: FhirPatchOperation,
    value: PatchValue,
    element: ElementDef | None,
    code: str | None,
) -> tuple[Any, dict[str, Any] | None, str | None]:
    """The JSON for ``value`` placed in ``element``: (value, ``_`` extension, FHIR type)."""
    if value.parts:
        if element is not None and element.choice and code is None:
            raise _fail(operation, f"{element.path} is a choice; give a typed value[x]")
        return _build_from_parts(operation, value, element, code), None, None
    fhir_type = value.fhir_type
    if element is not None and fhir_type is not None:
        fhir_type = _check_type(operation, element, code, fhir_type)
    extension = copy_json(value.extension) if value.extension is not None else None
    return copy_json(value.json), extension, fhir_type


def _build_from_parts(
    operation: FhirPatchOperation,
    value: PatchValue,
    element: ElementDef | None,
    code: str | None,
) -> dict[str, Any]:
    """Assemble an element from one part per child, as fhirpatch.html#anonymous describes."""
    fhir_type, type_path = element_type(element, code)
    if element is not None and fhir_type in registry.primitive_types():
        raise _fail(operation, f"{element.path} is a {fhir_type}; give it a value[x], not parts")
    built: dict[str, Any] = {}
    for name, child_value in value.parts:
        child, child_code = child_element(type_path, name)
        if child is None and type_path is not None:
            raise _fail(operation, f"{type_path} has no element {name!r}")
        json, extension, child_type = _materialize(operation, child_value, child, child_code)
        key = _json_key(operation, child, child_code, name, child_type)
        repeats = child.is_array if child is not None else key in built
        if repeats:
            items = built.setdefault(key, [])
            if not isinstance(items, list):
                built[key] = items = [items]
            _set_extension(built, key, len(items), extension, inserting=True)
            items.append(json)
        elif _family_keys(child, key) & built.keys():
            raise _fail(operation, f"{name!r} is given twice but does not repeat")
        else:
            built[key] = json
            if extension is not None:
                built["_" + key] = extension
    return built


def _check_type(
    operation: FhirPatchOperation, element: ElementDef, code: str | None, value_type: str
) -> str:
    """The value's type must be correct for its place (fhirpatch.html base rules).

    Returns the type the element will hold: for a choice named without its type, the one
    of its types the value is (an Age in ``Observation.value[x]`` is held as a Quantity).
    """
    allowed = (code,) if code is not None else element.type_codes
    if element.content_reference or set(allowed) & {"BackboneElement", "Element"}:
        raise _fail(operation, f"{element.path} has no named type; give its content as parts")
    if element.choice and code is None:
        # The type decides the JSON name (valueQuantity), so it must be one of the choice's.
        ancestors = registry.ancestors(value_type) if registry.is_type(value_type) else ()
        for candidate in (value_type, *ancestors):
            if candidate in allowed:
                return candidate
    elif _fits(value_type, allowed):
        return value_type
    raise _fail(
        operation,
        f"a {value_type} value does not fit {element.path} ({' | '.join(allowed)})",
    )


def _fits(value_type: str, allowed: tuple[str, ...]) -> bool:
    if value_type in allowed:
        return True
    if registry.is_type(value_type) and set(registry.ancestors(value_type)) & set(allowed):
        return True  # Age is a Quantity, every resource a Resource
    primitives = registry.primitive_types()
    if value_type not in primitives:
        return False
    # Primitive types that share a JSON form are interchangeable here: valueString for a
    # code or a date is the common client habit, and validation checks the format after.
    kind = _JSON_KINDS.get(value_type, "string")
    for target in allowed:
        if target not in primitives:
            continue
        target_kind = _JSON_KINDS.get(target, "string")
        if kind == target_kind or (target_kind == "number" and kind == "integer"):
            return True
    return False
