"""JSON Patch (RFC 6902) over JSON Pointer (RFC 6901), as FHIR R4 http.html#patch uses it.

``apply_json_patch`` checks the whole patch document first (a malformed one is a 400, RFC 6902
§3-§4), then applies its operations in order to a copy of the document (§3: "Operations are
applied sequentially"); any failure raises before the caller sees a change, which makes the
patch atomic as §5 requires. A patch that is well formed but cannot be applied to this document
(a missing path, a failed ``test``) is a 422, the "unprocessable request" of RFC 5789 §2.2.
R4 http.html#patch then has the server treat the result as an update (validation, versions,
narrative); that is the caller's part, not this module's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from wardbook.errors import BadRequest, Unprocessable

_OPERATIONS: Final = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE: Final = frozenset({"add", "replace", "test"})
_NEEDS_FROM: Final = frozenset({"move", "copy"})


@dataclass(frozen=True, slots=True)
class JsonPatchOperation:
    """One checked operation of a patch document (RFC 6902 §4)."""

    position: int  # 0-based index in the patch document, for messages
    op: str
    path: tuple[str, ...]  # decoded reference tokens of ``path``
    path_text: str
    value: Any = None
    from_path: tuple[str, ...] = ()
    from_text: str = ""

    @property
    def label(self) -> str:
        """``operation 2 (replace /name/0/family)``: how messages name this operation."""
        path = self.path_text or '""'
        if self.op in _NEEDS_FROM:
            source = self.from_text or '""'
            return f"operation {self.position} ({self.op} {source} -> {path})"
        return f"operation {self.position} ({self.op} {path})"


def apply_json_patch(document: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an RFC 6902 patch to a copy of ``document``; the input is never changed.

    Raises ``BadRequest`` for a malformed patch document and ``Unprocessable`` for one that
    cannot be applied to this document; in both cases nothing is applied (RFC 6902 §5).
    """
    operations = parse_json_patch(patch)
    try:
        result: Any = copy_json(document)
        for operation in operations:
            result = _APPLY[operation.op](result, operation)
    except RecursionError as exc:
        raise BadRequest("the patch or the document is nested too deeply to apply") from exc
    if not isinstance(result, dict):
        raise Unprocessable("the patched document is not a JSON object, so it is not a resource")
    return result


def parse_json_patch(patch: Any) -> list[JsonPatchOperation]:
    """Check the structure of a patch document (RFC 6902 §3-§4); BadRequest if malformed.

    Members an operation does not define are ignored, as §4 requires.
    """
    if not isinstance(patch, list):
        raise BadRequest(
            "a JSON Patch document must be a JSON array of operations (RFC 6902 §3), "
            f"not {_json_kind(patch)}"
        )
    return [_parse_operation(position, raw) for position, raw in enumerate(patch)]


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Decode a JSON Pointer into its reference tokens (RFC 6901 §3-§4); ValueError if malformed.

    ``""`` is the whole document; ``~1`` decodes to ``/`` and ``~0`` to ``~``, in that order.
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError("a JSON Pointer is empty or starts with '/'")
    segments = pointer[1:].split("/")
    for segment in segments:
        rest = segment.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise ValueError("'~' must be followed by '0' or '1' in a JSON Pointer")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in segments)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values as RFC 6902 §4.6 defines it for ``test``.

    Numbers are equal by value (``1`` equals ``1.0``), but never equal to ``true``/``false``;
    objects compare without regard to member order, arrays element by element.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return False


def copy_json(value: Any) -> Any:
    """Deep copy of a JSON value; scalars (incl. ``jsonio.Decimal``) are shared, not rebuilt."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


# --- parsing ---------------------------------------------------------------------------------


def _parse_operation(position: int, raw: Any) -> JsonPatchOperation:
    if not isinstance(raw, dict):
        raise BadRequest(
            f"operation {position}: must be a JSON object (RFC 6902 §4), not {_json_kind(raw)}"
        )
    op = raw.get("op")
    if not isinstance(op, str):
        raise BadRequest(f"operation {position}: the member 'op' is missing or not a string")
    if op not in _OPERATIONS:
        raise BadRequest(
            f"operation {position}: unknown op {op!r} (expected one of {', '.join(_OPERATIONS)})"
        )
    path_text = raw.get("path")
    if not isinstance(path_text, str):
        raise BadRequest(
            f"operation {position} ({op}): the member 'path' is missing or not a string"
        )
    path = _parse_member_pointer(position, op, "path", path_text)
    value = None
    if op in _NEEDS_VALUE:
        if "value" not in raw:
            raise BadRequest(
                f"operation {position} ({op} {path_text}): the member 'value' is missing"
            )
        value = raw["value"]
    from_path: tuple[str, ...] = ()
    from_text = ""
    if op in _NEEDS_FROM:
        from_raw = raw.get("from")
        if not isinstance(from_raw, str):
            raise BadRequest(
                f"operation {position} ({op} {path_text}): "
                "the member 'from' is missing or not a string"
            )
        from_text = from_raw
        from_path = _parse_member_pointer(position, op, "from", from_text)
        if op == "move" and len(from_path) < len(path) and path[: len(from_path)] == from_path:
            # RFC 6902 §4.4: a location cannot be moved into one of its children.
            raise BadRequest(
                f"operation {position} (move {from_text} -> {path_text}): "
                "'from' must not be a proper prefix of 'path'"
            )
    return JsonPatchOperation(position, op, path, path_text, value, from_path, from_text)


def _parse_member_pointer(position: int, op: str, member: str, text: str) -> tuple[str, ...]:
    try:
        return parse_pointer(text)
    except ValueError as exc:
        raise BadRequest(
            f"operation {position} ({op}): {member} {text!r} is not a JSON Pointer: {exc}"
        ) from exc


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


# --- evaluation --------------------------------------------------------------------------------


def _fail(operation: JsonPatchOperation, reason: str) -> Unprocessable:
    return Unprocessable(f"{operation.label}: {reason}")


def _array_index(segment: str, length: int, *, allow_end: bool) -> int | None:
    """An array index token (RFC 6901 §4): "0" or digits without a leading zero, or "-".

    None when ``segment`` names no element of an array of ``length`` elements; with
    ``allow_end`` (the target of an add) the position after the last one is also allowed.
    """
    if segment == "-":
        return length if allow_end else None
    if not segment.isascii() or not segment.isdigit() or (len(segment) > 1 and segment[0] == "0"):
        return None
    index = int(segment)
    return index if index < length or (allow_end and index == length) else None


def _index_problem(segment: str, length: int) -> str:
    if segment == "-":
        return "'-' is past the last element"
    if not segment.isascii() or not segment.isdigit() or (len(segment) > 1 and segment[0] == "0"):
        return f"{segment!r} is not an array index"
    return f"index {segment} is out of bounds (the array has {length} elements)"


def _element_index(operation: JsonPatchOperation, items: list[Any], segment: str, what: str) -> int:
    index = _array_index(segment, len(items), allow_end=False)
    if index is None:
        raise _fail(operation, f"{what} does not exist: {_index_problem(segment, len(items))}")
    return index


def _resolve(
    operation: JsonPatchOperation, document: Any, segments: tuple[str, ...], what: str = "path"
) -> Any:
    """The value at ``segments``; Unprocessable ``"<what> does not exist"`` when it is absent."""
    current = document
    for segment in segments:
        if isinstance(current, dict):
            if segment not in current:
                raise _fail(operation, f"{what} does not exist")
            current = current[segment]
        elif isinstance(current, list):
            current = current[_element_index(operation, current, segment, what)]
        else:
            raise _fail(operation, f"{what} does not exist")
    return current


def _container(operation: JsonPatchOperation, document: Any, segments: tuple[str, ...]) -> Any:
    """The object or array that is to hold the last segment of ``segments``."""
    parent = _resolve(operation, document, segments[:-1], "the parent of path")
    if not isinstance(parent, dict | list):
        raise _fail(operation, "the parent of path is neither an object nor an array")
    return parent


def _add_at(
    operation: JsonPatchOperation, document: Any, segments: tuple[str, ...], value: Any
) -> Any:
    """RFC 6902 §4.1: set a member, insert into an array, or replace the whole document."""
    if not segments:
        return value
    parent = _container(operation, document, segments)
    if isinstance(parent, dict):
        parent[segments[-1]] = value
    else:
        index = _array_index(segments[-1], len(parent), allow_end=True)
        if index is None:
            problem = _index_problem(segments[-1], len(parent))
            raise _fail(operation, f"cannot add at path: {problem}")
        parent.insert(index, value)
    return document


def _remove_at(
    operation: JsonPatchOperation, document: Any, segments: tuple[str, ...], what: str = "path"
) -> Any:
    """RFC 6902 §4.2: remove the value at ``segments``, which must exist; return it."""
    if not segments:
        raise _fail(operation, f"the whole document cannot be removed (its {what} is empty)")
    _resolve(operation, document, segments, what)
    parent = _container(operation, document, segments)
    if isinstance(parent, dict):
        return parent.pop(segments[-1])
    return parent.pop(_element_index(operation, parent, segments[-1], what))


def _apply_add(document: Any, operation: JsonPatchOperation) -> Any:
    return _add_at(operation, document, operation.path, copy_json(operation.value))


def _apply_remove(document: Any, operation: JsonPatchOperation) -> Any:
    _remove_at(operation, document, operation.path)
    return document


def _apply_replace(document: Any, operation: JsonPatchOperation) -> Any:
    """RFC 6902 §4.3: like remove then add, but the target must exist."""
    _resolve(operation, document, operation.path)
    if not operation.path:
        return copy_json(operation.value)
    parent = _container(operation, document, operation.path)
    segment = operation.path[-1]
    if isinstance(parent, dict):
        parent[segment] = copy_json(operation.value)
    else:
        parent[_element_index(operation, parent, segment, "path")] = copy_json(operation.value)
    return document


def _apply_move(document: Any, operation: JsonPatchOperation) -> Any:
    """RFC 6902 §4.4: remove from ``from``, then add at ``path``."""
    if operation.from_path == operation.path:
        _resolve(operation, document, operation.from_path, "from")
        return document
    value = _remove_at(operation, document, operation.from_path, "from")
    return _add_at(operation, document, operation.path, value)


def _apply_copy(document: Any, operation: JsonPatchOperation) -> Any:
    """RFC 6902 §4.5: add a copy of the value at ``from`` at ``path``."""
    value = copy_json(_resolve(operation, document, operation.from_path, "from"))
    return _add_at(operation, document, operation.path, value)


def _apply_test(document: Any, operation: JsonPatchOperation) -> Any:
    """RFC 6902 §4.6: the value at ``path`` must equal ``value``."""
    if not json_equal(_resolve(operation, document, operation.path), operation.value):
        raise _fail(operation, "test failed: the value at path is not equal to 'value'")
    return document


_APPLY: Final[dict[str, Callable[[Any, JsonPatchOperation], Any]]] = {
    "add": _apply_add,
    "remove": _apply_remove,
    "replace": _apply_replace,
    "move": _apply_move,
    "copy": _apply_copy,
    "test": _apply_test,
}
