"""Where a FHIRPath expression points inside a resource, for FHIRPath Patch (R4 fhirpatch.html).

A FHIRPath Patch names what it changes with a FHIRPath expression (R4 fhirpath.html).
Evaluating one with fhirpathpy yields values but not where they live, so this module walks
the navigational subset of FHIRPath itself and keeps, for each element it selects, the JSON
object and property holding it. ``where()`` criteria are handed to fhirpathpy, one candidate
at a time, so they may use the whole language.

The subset: a leading type name (``Patient``), child navigation that flattens collections,
choice elements by their FHIRPath name (``Observation.value``) or JSON name
(``valueQuantity``), the id/extension of primitives (``Patient.birthDate.extension``),
indexers ``[n]``, ``first()``, ``last()``, ``tail()``, ``single()``, ``where(criteria)``,
``extension(url)``, ``ofType(T)``, ``as(T)``, ``x as T``, ``$this``, ``%resource`` and
parentheses. Anything else is a ``BadRequest`` that names the construct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, ParseTreeWalker  # type: ignore[import-untyped]
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from wardbook.errors import BadRequest, Unprocessable
from wardbook.fhir import registry
from wardbook.fhir.registry import ElementDef

_R4_MODEL: Final = fhirpath_models["r4"]
_ANONYMOUS: Final = frozenset({"BackboneElement", "Element"})
_ROOT_VARIABLES: Final = frozenset({"resource", "rootResource", "context"})
SUPPORTED_FUNCTIONS: Final = (
    "first",
    "last",
    "tail",
    "single",
    "where",
    "extension",
    "ofType",
    "as",
)

AST = dict[str, Any]

# fhirpathpy's entry points carry no annotations; these names give them one (Any) for mypy.
_apply_parsed_path: Callable[..., Any] = fhirpathpy.apply_parsed_path
_create_node: Callable[..., Any] = ResourceNode.create_node
_new_ast_builder: Callable[[], Any] = ASTPathListener


@dataclass(eq=False, slots=True)
class Node:
    """One element a path selected, and the place in the resource's JSON where it lives.

    A complex element's ``value`` is its JSON object; a primitive's is its JSON value (None
    when it has only an id or extensions, which FHIR JSON keeps in ``_<key>``, R4
    json.html#primitive). The root node is the resource itself and has no ``holder``.
    """

    value: Any
    fhir_type: str | None  # "HumanName", "string", "BackboneElement", "Patient"; None: unknown
    type_path: str | None  # the registry path that defines its children ("Patient.contact")
    holder: dict[str, Any] | None  # the JSON object holding it (None for the root)
    key: str  # its JSON property name in ``holder`` ("valueQuantity", "given")
    index: int | None  # its position when that property is an array
    element: ElementDef | None  # its definition, when the registry knows it
    parent: Node | None

    @property
    def is_root(self) -> bool:
        return self.holder is None

    @property
    def is_primitive(self) -> bool:
        """Whether it is a primitive element (its value is no JSON object)."""
        return not self.is_root and not isinstance(self.value, dict)

    @property
    def location(self) -> str:
        """Where it is, as a FHIRPath a human can read: ``Patient.name[0].given[1]``."""
        if self.parent is None:
            return self.key
        step = f"{self.parent.location}.{self.key}"
        return step if self.index is None else f"{step}[{self.index}]"

    def extension_holder(self, *, create: bool = False) -> dict[str, Any] | None:
        """The ``_<key>`` object holding a primitive's id and extensions (R4 json.html)."""
        if self.holder is None:
            return None
        ext_key = "_" + self.key
        existing = self.holder.get(ext_key)
        if self.index is None:
            if isinstance(existing, dict):
                return existing
            if not create:
                return None
            created: dict[str, Any] = {}
            self.holder[ext_key] = created
            return created
        if isinstance(existing, list) and self.index < len(existing):
            slot = existing[self.index]
            if isinstance(slot, dict):
                return slot
        if not create:
            return None
        values = self.holder.get(self.key)
        length = max(len(values) if isinstance(values, list) else 0, self.index + 1)
        slots = existing if isinstance(existing, list) else []
        slots.extend([None] * (length - len(slots)))
        self.holder[ext_key] = slots
        slot_created: dict[str, Any] = {}
        slots[self.index] = slot_created
        return slot_created


def locate(resource: dict[str, Any], expression: str) -> list[Node]:
    """The elements of ``resource`` that ``expression`` selects, in FHIRPath order.

    BadRequest when the expression is not FHIRPath or leaves the supported subset;
    Unprocessable when ``where()`` criteria cannot be evaluated on this resource.
    """
    root = root_node(resource)
    try:
        return _Evaluator(root, expression).evaluate(parse_path(expression), [root])
    except RecursionError as exc:
        raise BadRequest(f"{expression[:80]!r}... is nested too deeply") from exc


def root_node(resource: dict[str, Any]) -> Node:
    """The node of the resource itself."""
    resource_type = resource.get("resourceType")
    name = resource_type if isinstance(resource_type, str) else "Resource"
    type_path = name if registry.is_type(name) else None
    return Node(resource, name, type_path, None, name, None, None, None)


def parse_path(expression: str) -> AST:
    """Parse FHIRPath strictly (fhirpathpy's own parser recovers from errors silently).

    ``div`` is an operator in FHIRPath but also the name of ``Narrative.div``; as the
    official patch tests write ``Patient.text.div``, a member named ``div`` is read as
    the delimited identifier it should have been.
    """
    tree, errors = _parse_tree(expression)
    if errors and ".div" in expression:
        tree, retry_errors = _parse_tree(_delimit_div_members(expression))
        errors = errors if retry_errors else []
    if errors or not expression.strip():
        detail = "; ".join(errors) if errors else "it is empty"
        raise BadRequest(f"{expression!r} is not a valid FHIRPath expression: {detail}")
    builder = _new_ast_builder()
    ParseTreeWalker().walk(builder, tree)
    entire: AST = builder.parentStack[0]["children"][0]
    return entire["children"][0]  # type: ignore[no-any-return]


def _parse_tree(expression: str) -> tuple[Any, list[str]]:
    errors: list[str] = []
    listener = _CollectErrors(errors)
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    return parser.entireExpression(), errors  # type: ignore[no-untyped-call]


def _delimit_div_members(expression: str) -> str:
    """``a.div`` -> ``a.`div``` outside string literals and delimited identifiers."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(expression):
        char = expression[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(expression):
                out.append(expression[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'`":
            quote = char
            out.append(char)
        elif (
            char == "."
            and expression.startswith("div", i + 1)
            and not expression[i + 4 : i + 5].isalnum()
            and expression[i + 4 : i + 5] != "_"
        ):
            out.append(".`div`")
            i += 3
        else:
            out.append(char)
        i += 1
    return "".join(out)


def child_element(type_path: str | None, name: str) -> tuple[ElementDef | None, str | None]:
    """The element called ``name`` under ``type_path``, and the type its JSON name picks.

    ``name`` may be a choice's FHIRPath name (``value``: type None) or its JSON name
    (``valueQuantity``: type ``Quantity``).
    """
    if type_path is None:
        return None, None
    head = type_path.split(".", 1)[0]
    if not registry.is_type(head):
        return None, None
    definition = registry.type_definition(head)
    found = definition.element(f"{type_path}.{name}") or definition.element(
        f"{type_path}.{name}[x]"
    )
    if found is not None:
        return found, None
    for candidate in definition.children(type_path):
        if candidate.choice and name.startswith(candidate.name):
            for code in candidate.type_codes:
                if name == candidate.name + _capitalize(code):
                    return candidate, code
    return None, None


def element_type(
    element: ElementDef | None, code: str | None, value: Any = None
) -> tuple[str | None, str | None]:
    """(FHIR type, type path defining its children) of an element holding ``value``."""
    if element is None:
        return _resource_type(value) if code is None else (code, _type_path(code))
    if element.content_reference:
        return "BackboneElement", element.content_reference.lstrip("#")
    if code is None and len(element.type_codes) == 1:
        code = element.type_codes[0]
    if code in _ANONYMOUS:
        return code, element.path
    if code == "Resource" or code is None:
        return _resource_type(value)
    return code, _type_path(code)


def choice_key(element: ElementDef, type_code: str) -> str:
    """The JSON name of a choice element holding ``type_code``: value[x] -> valueQuantity."""
    return element.name + _capitalize(type_code)


def has_type(node: Node, type_name: str) -> bool:
    """FHIRPath ``is``: the node's type is ``type_name`` or derives from it."""
    wanted = type_name.removeprefix("FHIR.")
    if node.fhir_type is None:
        return False
    if node.fhir_type == wanted:
        return True
    return registry.is_type(node.fhir_type) and wanted in registry.ancestors(node.fhir_type)


def children(node: Node, name: str) -> list[Node]:
    """The child elements of ``node`` called ``name`` (FHIRPath member navigation)."""
    if node.is_primitive:
        if name not in ("id", "extension"):
            return []
        holder = node.extension_holder()
        type_path = node.fhir_type if node.fhir_type and registry.is_type(node.fhir_type) else None
    else:
        holder = node.value
        type_path = node.type_path
    if holder is None:
        return []
    element, code = child_element(type_path, name)
    if element is not None and element.choice and code is None:
        found: list[Node] = []
        for type_code in element.type_codes:
            key = choice_key(element, type_code)
            found.extend(_members(node, holder, key, element, type_code))
        return found
    return _members(node, holder, name, element, code)


def _members(
    parent: Node, holder: dict[str, Any], key: str, element: ElementDef | None, code: str | None
) -> list[Node]:
    raw = holder.get(key)
    ext = holder.get("_" + key)
    if not isinstance(raw, list) and not isinstance(ext, list):
        if raw is None and ext is None:
            return []
        return [_child(parent, holder, key, None, raw, element, code)]
    values = raw if isinstance(raw, list) else []
    extensions = ext if isinstance(ext, list) else []
    found = []
    for index in range(max(len(values), len(extensions))):
        value = values[index] if index < len(values) else None
        extension = extensions[index] if index < len(extensions) else None
        if value is not None or extension is not None:
            found.append(_child(parent, holder, key, index, value, element, code))
    return found


def _child(
    parent: Node,
    holder: dict[str, Any],
    key: str,
    index: int | None,
    value: Any,
    element: ElementDef | None,
    code: str | None,
) -> Node:
    fhir_type, type_path = element_type(element, code, value)
    return Node(value, fhir_type, type_path, holder, key, index, element, parent)


def _resource_type(value: Any) -> tuple[str | None, str | None]:
    resource_type = value.get("resourceType") if isinstance(value, dict) else None
    if isinstance(resource_type, str) and registry.is_type(resource_type):
        return resource_type, resource_type
    return None, None


def _type_path(code: str) -> str | None:
    if not registry.is_type(code):
        return None
    # SimpleQuantity and MoneyQuantity are profiles: their elements are Quantity's.
    return registry.type_definition(code).profile_of or code


def _capitalize(code: str) -> str:
    return code[:1].upper() + code[1:]


class _CollectErrors:
    """An ANTLR error listener (duck-typed) that records syntax errors."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def syntaxError(
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        self.errors.append(f"at character {column + 1}: {msg}")

    def reportAmbiguity(self, *args: Any) -> None:
        return None

    def reportAttemptingFullContext(self, *args: Any) -> None:
        return None

    def reportContextSensitivity(self, *args: Any) -> None:
        return None


class _Evaluator:
    """Walks a parsed FHIRPath over nodes (FHIRPath N1 §5 navigation, §5.2 filtering)."""

    def __init__(self, root: Node, expression: str) -> None:
        self.root = root
        self.expression = expression
        self.variables = {"resource": root.value, "rootResource": root.value}
        self.functions: dict[str, Callable[[list[Node], list[AST]], list[Node]]] = {
            "first": lambda focus, params: self._no_params("first", params, focus[:1]),
            "last": lambda focus, params: self._no_params("last", params, focus[-1:]),
            "tail": lambda focus, params: self._no_params("tail", params, focus[1:]),
            "single": self._single,
            "where": self._where,
            "extension": self._extension,
            "ofType": self._of_type,
            "as": self._of_type,
        }

    def evaluate(self, ast: AST, focus: list[Node], *, leading: bool = True) -> list[Node]:
        kind = ast.get("type")
        parts: list[AST] = ast.get("children", [])
        if kind == "TermExpression":
            return self._term(parts[0], focus, leading=leading)
        if kind == "InvocationExpression":
            left = self.evaluate(parts[0], focus, leading=leading)
            return self._invoke(parts[1], left)
        if kind == "IndexerExpression":
            items = self.evaluate(parts[0], focus, leading=leading)
            index = self._constant(parts[1], "an indexer")
            if isinstance(index, bool) or not isinstance(index, int):
                raise self._unsupported("an indexer that is not an integer")
            return items[index : index + 1] if index >= 0 else []
        if kind == "TypeExpression" and ast.get("terminalNodeText") == ["as"]:
            items = self.evaluate(parts[0], focus, leading=leading)
            type_name = str(parts[1].get("text", ""))
            return [n for n in items if has_type(n, type_name)]
        raise self._unsupported(_describe(ast))

    def _term(self, term: AST, focus: list[Node], *, leading: bool) -> list[Node]:
        kind = term.get("type")
        parts: list[AST] = term.get("children", [])
        if kind == "ParenthesizedTerm":
            return self.evaluate(parts[0], focus, leading=leading)
        if kind == "ExternalConstantTerm":
            name = (
                _identifier(parts[0]["children"][0]) if parts and parts[0].get("children") else ""
            )
            if name in _ROOT_VARIABLES:
                return [self.root]
            raise self._unsupported(f"the variable %{name}")
        if kind != "InvocationTerm":
            raise self._unsupported(_describe(term))
        invocation = parts[0]
        if leading and invocation.get("type") == "MemberInvocation":
            name = _identifier(invocation["children"][0])
            if name == self.root.key or name in ("Resource", "DomainResource"):
                return [self.root]
            if registry.is_resource_type(name):
                raise Unprocessable(
                    f"{self.expression!r} starts with {name}, but the resource is a {self.root.key}"
                )
        return self._invoke(invocation, focus)

    def _invoke(self, invocation: AST, focus: list[Node]) -> list[Node]:
        kind = invocation.get("type")
        if kind == "MemberInvocation":
            name = _identifier(invocation["children"][0])
            return [child for node in focus for child in children(node, name)]
        if kind == "ThisInvocation":
            return focus
        if kind == "FunctionInvocation":
            function = invocation["children"][0]
            name = _identifier(function["children"][0])
            params: list[AST] = (
                function["children"][1]["children"] if len(function["children"]) > 1 else []
            )
            handler = self.functions.get(name)
            if handler is None:
                raise self._unsupported(f"the function {name}()")
            return handler(focus, params)
        raise self._unsupported(_describe(invocation))

    def _no_params(self, name: str, params: list[AST], result: list[Node]) -> list[Node]:
        if params:
            raise BadRequest(f"{self.expression!r}: {name}() takes no arguments")
        return result

    def _single(self, focus: list[Node], params: list[AST]) -> list[Node]:
        self._no_params("single", params, focus)
        if len(focus) > 1:
            raise Unprocessable(
                f"{self.expression!r}: single() was applied to {len(focus)} elements"
            )
        return focus

    def _where(self, focus: list[Node], params: list[AST]) -> list[Node]:
        if len(params) != 1:
            raise BadRequest(f"{self.expression!r}: where() takes exactly one argument")
        # fhirpathpy sets $this only inside a function, so each candidate is evaluated as
        # the focus of this very where() call and kept when it comes back.
        call: AST = {
            "type": "FunctionInvocation",
            "children": [
                {
                    "type": "Functn",
                    "children": [
                        {"type": "Identifier", "text": "where", "terminalNodeText": ["where"]},
                        {"type": "ParamList", "children": params},
                    ],
                }
            ],
        }
        term = {
            "type": "TermExpression",
            "children": [{"type": "InvocationTerm", "children": [call]}],
        }
        program = {"children": [term]}
        return [node for node in focus if self._criteria_hold(node, program)]

    def _criteria_hold(self, node: Node, program: AST) -> bool:
        base = node.type_path or node.fhir_type
        extension = node.extension_holder() if node.is_primitive else None
        data = _create_node(node.value, base, extension)
        try:
            result = _apply_parsed_path(data, program, self.variables, _R4_MODEL)
        except Exception as exc:  # fhirpathpy raises bare Exceptions for type errors
            if str(exc).startswith("Not implemented"):
                raise BadRequest(
                    f"{self.expression!r}: the where() criteria use a function fhirpathpy "
                    f"does not implement: {exc}"
                ) from exc
            raise Unprocessable(
                f"{self.expression!r}: the where() criteria cannot be evaluated on "
                f"{node.location}: {exc}"
            ) from exc
        return bool(result)

    def _extension(self, focus: list[Node], params: list[AST]) -> list[Node]:
        if len(params) != 1:
            raise BadRequest(f"{self.expression!r}: extension() takes exactly one argument")
        url = self._constant(params[0], "the argument of extension()")
        if not isinstance(url, str):
            raise BadRequest(f"{self.expression!r}: extension() needs a string url")
        return [
            child
            for node in focus
            for child in children(node, "extension")
            if isinstance(child.value, dict) and child.value.get("url") == url
        ]

    def _of_type(self, focus: list[Node], params: list[AST]) -> list[Node]:
        if len(params) != 1:
            raise BadRequest(f"{self.expression!r}: ofType() takes exactly one type name")
        type_name = ".".join(_identifiers(params[0]))
        if not type_name:
            raise BadRequest(f"{self.expression!r}: ofType() needs a type name")
        return [node for node in focus if has_type(node, type_name)]

    def _constant(self, ast: AST, what: str) -> Any:
        try:
            result = _apply_parsed_path({}, {"children": [ast]}, dict(self.variables), _R4_MODEL)
        except Exception as exc:  # fhirpathpy raises bare Exceptions
            raise BadRequest(f"{self.expression!r}: {what} cannot be evaluated: {exc}") from exc
        if not isinstance(result, list) or len(result) != 1:
            raise BadRequest(f"{self.expression!r}: {what} must be a single constant")
        return result[0]

    def _unsupported(self, what: str) -> BadRequest:
        return BadRequest(
            f"{self.expression!r}: {what} is not supported in a patch path (supported: "
            "element names, [n], 'as T', " + ", ".join(f"{f}()" for f in SUPPORTED_FUNCTIONS) + ")"
        )


def _identifier(ast: AST) -> str:
    text = str(ast.get("text", ""))
    # A delimited identifier (`div`) names the same element as the bare one.
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def _identifiers(ast: AST) -> list[str]:
    """Identifier names in a type specifier like ``Quantity`` or ``FHIR.Quantity``."""
    if ast.get("type") == "Identifier":
        return [_identifier(ast)]
    allowed = ("TermExpression", "InvocationTerm", "MemberInvocation", "InvocationExpression")
    if ast.get("type") not in allowed:
        return []
    return [name for child in ast.get("children", []) for name in _identifiers(child)]


def _describe(ast: AST) -> str:
    kind = str(ast.get("type", "expression"))
    text = ast.get("text")
    if kind == "LiteralTerm":
        return f"the literal {text}"
    operators = [t for t in ast.get("terminalNodeText", []) if t.strip()]
    if kind.endswith("Expression") and operators:
        return f"the operator {' '.join(operators)!r}"
    return f"{kind} {text!r}" if text else kind
