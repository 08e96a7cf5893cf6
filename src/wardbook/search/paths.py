"""Compile the FHIRPath subset of R4 SearchParameter expressions to fast Python evaluators.

R4 search parameters are defined by FHIRPath expressions (R4 searchparameter.html,
``SearchParameter.expression``), but nearly all of them use a small subset: dotted paths,
``|`` unions, type casts on choice elements (``Observation.value as Quantity``,
``.as(Quantity)``, ``.ofType(Quantity)``), ``where(resolve() is Patient)`` on references,
``where(system='email')``, ``where(hasExtension('url'))``, ``extension('url')``, ``first()``
and ``[0]``. This module parses that subset and resolves every step against the R4 model
once, so evaluation is a handful of dict lookups and yields each value together with its
FHIR datatype. Anything else raises :class:`Unsupported`; the extractor then falls back to
fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from wardbook.fhir import registry
from wardbook.search.params.reference import reference_target_type

# A node is a JSON value and its context: a datatype name ("CodeableConcept", "dateTime"),
# a backbone element path ("Observation.component") or a resource type.
Node = tuple[Any, str]
Step = Callable[[list[Node]], list[Node]]
Evaluator = Callable[[list[Node]], list[Node]]


class Unsupported(Exception):
    """The expression uses FHIRPath this compiler does not handle."""


# --- tokenizer and parser --------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<var>%[A-Za-z]+)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>!=|[.()\[\]|=,]))"
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


def _tokenize(expression: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    expression = expression.strip()
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"cannot tokenize {expression[pos:]!r}")
        kind = m.lastgroup
        if kind is None:
            raise RuntimeError("internal error: kind is missing")
        tokens.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return tokens


# AST: tuples ("root", name) ("var", name) ("child", base, name) ("call", base, name, args)
# ("cast", base, type) ("index", base, n) ("union", [items]) ("ctx",)
Ast = tuple[Any, ...]


@dataclass
class _Parser:
    tokens: list[_Tok]
    pos: int = 0

    def peek(self, text: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        return text is None or self.tokens[self.pos].text == text

    def take(self, text: str | None = None) -> _Tok:
        if not self.peek(text):
            raise Unsupported(f"expected {text!r}")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def union(self) -> Ast:
        items = [self.as_expr()]
        while self.peek("|"):
            self.take("|")
            items.append(self.as_expr())
        return items[0] if len(items) == 1 else ("union", items)

    def as_expr(self) -> Ast:
        node = self.postfix()
        if self.peek("as"):
            self.take("as")
            node = ("cast", node, self.take().text)
        return node

    def postfix(self) -> Ast:
        node = self.atom()
        while True:
            if self.peek("."):
                self.take(".")
                name = self.take().text
                if self.peek("("):
                    node = ("call", node, name, self.args())
                else:
                    node = ("child", node, name)
            elif self.peek("["):
                self.take("[")
                index = self.take()
                if index.kind != "num":
                    raise Unsupported("non-literal index")
                self.take("]")
                node = ("index", node, int(index.text))
            else:
                return node

    def args(self) -> list[Ast]:
        self.take("(")
        out: list[Ast] = []
        while not self.peek(")"):
            out.append(self.condition())
            if self.peek(","):
                self.take(",")
        self.take(")")
        return out

    def condition(self) -> Ast:
        left = self.as_expr()
        if self.peek("is"):
            self.take("is")
            return ("is", left, self.take().text)
        if self.peek("="):
            self.take("=")
            return ("eq", left, self.as_expr())
        return left

    def atom(self) -> Ast:
        tok = self.take()
        if tok.text == "(":
            node = self.union()
            self.take(")")
            return node
        if tok.kind == "str":
            return ("str", tok.text[1:-1].replace("\\'", "'"))
        if tok.kind == "var":
            if tok.text in ("%resource", "%context", "%rootResource"):
                return ("var", tok.text)
            raise Unsupported(tok.text)
        if tok.kind == "id":
            if self.peek("("):
                return ("call", ("ctx",), tok.text, self.args())
            if tok.text[:1].isupper():
                return ("root", tok.text)
            return ("child", ("ctx",), tok.text)
        raise Unsupported(f"unexpected {tok.text!r}")


def parse_expression(expression: str) -> Ast:
    """Parse an expression of the supported subset; Unsupported otherwise."""
    parser = _Parser(_tokenize(expression))
    ast = parser.union()
    if parser.pos != len(parser.tokens):
        raise Unsupported(f"trailing tokens in {expression!r}")
    return ast


# --- the model -------------------------------------------------------------------------------

_SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.Time": "time",
}
_ABSTRACT_CONTEXTS = frozenset(("Resource", "DomainResource"))


@cache
def type_for_suffix() -> Mapping[str, str]:
    """``'DateTime'`` → ``'dateTime'``: choice-element JSON suffixes to R4 type codes."""
    return {name[0].upper() + name[1:]: name for name in registry.datatypes()}


@cache
def canonical_type_name(name: str) -> str | None:
    """The R4 spelling of a type named in an expression (``DateTime`` → ``dateTime``)."""
    if registry.is_type(name):
        return name
    lowered = name.lower()
    for known in registry.datatypes():
        if known.lower() == lowered:
            return known
    return None


@cache
def subtypes_of(name: str) -> frozenset[str]:
    """``name`` and every type derived from or profiling it (Quantity → Age, Duration...)."""
    out = {name}
    for other in registry.datatypes():
        try:
            tdef = registry.type_definition(other)
        except KeyError:
            continue
        if name in registry.ancestors(other) or tdef.profile_of == name:
            out.add(other)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class ChildEntry:
    """One JSON key a path step reads and the context of what it finds there."""

    key: str
    context: str
    binding: str | None = None  # required-binding ValueSet url of a code element


@cache
def child_entries(context: str, name: str) -> tuple[ChildEntry, ...]:
    """The JSON keys (several for a choice element) of child ``name`` under ``context``."""
    el = registry.element(f"{context}.{name}")
    if el is None:
        el = registry.element(f"{context}.{name}[x]")
    if el is None:
        return ()
    if el.choice:
        return tuple(ChildEntry(name + code[0].upper() + code[1:], code) for code in el.type_codes)
    if el.content_reference:
        return (ChildEntry(name, el.content_reference.lstrip("#")),)
    codes = el.type_codes
    if not codes:
        return ()
    code = _SYSTEM_TYPES.get(codes[0], codes[0])
    if code in ("BackboneElement", "Element"):
        return (ChildEntry(name, el.path),)
    binding = el.binding_value_set if el.binding_strength == "required" else None
    return (ChildEntry(name, code, binding),)


# --- compilation -------------------------------------------------------------------------------


@dataclass
class Compiled:
    """An evaluator and what compilation learned about the values it yields.

    ``bindings``: required-binding ValueSets of the code elements it may yield, from which
    the extractor takes the implicit system of a bare code (``Patient.gender``).
    """

    evaluate: Evaluator
    contexts: frozenset[str]
    bindings: frozenset[str] = frozenset()


def _child_step(name: str, table: dict[str, tuple[ChildEntry, ...]]) -> Step:
    if len(table) == 1:
        (only,) = table.values()
        if len(only) == 1:
            key, ctx = only[0].key, only[0].context

            def single(nodes: list[Node]) -> list[Node]:
                out: list[Node] = []
                for value, _ in nodes:
                    if type(value) is dict:
                        found = value.get(key)
                        if found is not None:
                            if type(found) is list:
                                out.extend([(item, ctx) for item in found])
                            else:
                                out.append((found, ctx))
                return out

            return single

    def general(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for value, context in nodes:
            if type(value) is not dict:
                continue
            entries = table.get(context)
            if entries is None:
                # A resource inside a resource (Bundle.entry.resource): type it by its content.
                rtype = value.get("resourceType")
                if context not in _ABSTRACT_CONTEXTS or not isinstance(rtype, str):
                    continue
                entries = child_entries(rtype, name)
            for entry in entries:
                found = value.get(entry.key)
                if found is not None:
                    if type(found) is list:
                        out.extend([(item, entry.context) for item in found])
                    else:
                        out.append((found, entry.context))
        return out

    return general


def _type_filter(allowed: frozenset[str]) -> Step:
    def step(nodes: list[Node]) -> list[Node]:
        return [n for n in nodes if n[1] in allowed]

    return step


def _resolve_is(target: str) -> Step:
    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            value = node[0]
            if type(value) is dict:
                ref = value.get("reference")
                if isinstance(ref, str) and reference_target_type(ref) == target:
                    out.append(node)
        return out

    return step


def _field_equals(name: str, literal: str) -> Step:
    def step(nodes: list[Node]) -> list[Node]:
        return [n for n in nodes if type(n[0]) is dict and n[0].get(name) == literal]

    return step


def _has_extension(url: str) -> Step:
    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            value = node[0]
            if type(value) is dict:
                extensions = value.get("extension")
                if isinstance(extensions, list) and any(
                    isinstance(e, dict) and e.get("url") == url for e in extensions
                ):
                    out.append(node)
        return out

    return step


def _first(nodes: list[Node]) -> list[Node]:
    return nodes[:1]


def _identity(nodes: list[Node]) -> list[Node]:
    return nodes


def _chain(first: Evaluator, second: Step) -> Evaluator:
    if first is _identity:
        return second

    def run(nodes: list[Node]) -> list[Node]:
        found = first(nodes)
        return second(found) if found else found

    return run


def _union(evaluators: list[Evaluator]) -> Evaluator:
    def run(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for evaluate in evaluators:
            out.extend(evaluate(nodes))
        return out

    return run


class _Compiler:
    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type

    def compile(self, ast: Ast, contexts: frozenset[str]) -> Compiled:
        kind = ast[0]
        if kind == "ctx":
            return Compiled(_identity, contexts)
        if kind == "root":
            if ast[1] not in (self.resource_type, *_ABSTRACT_CONTEXTS):
                raise Unsupported(f"path rooted at {ast[1]}, not {self.resource_type}")
            if contexts != frozenset((self.resource_type,)):
                raise Unsupported("absolute path inside a relative expression")
            return Compiled(_identity, contexts)
        if kind == "child":
            return self._child(self.compile(ast[1], contexts), ast[2], None)
        if kind == "cast":
            return self._cast(ast[1], ast[2], contexts)
        if kind == "index":
            if ast[2] != 0:
                raise Unsupported("index other than [0]")
            base = self.compile(ast[1], contexts)
            return Compiled(_chain(base.evaluate, _first), base.contexts, base.bindings)
        if kind == "union":
            parts = [self.compile(item, contexts) for item in ast[1]]
            return Compiled(
                _union([p.evaluate for p in parts]),
                frozenset().union(*(p.contexts for p in parts)),
                frozenset().union(*(p.bindings for p in parts)),
            )
        if kind == "call":
            return self._call(ast, contexts)
        raise Unsupported(f"construct {kind}")

    def _child(self, base: Compiled, name: str, allowed: frozenset[str] | None) -> Compiled:
        table: dict[str, tuple[ChildEntry, ...]] = {}
        for ctx in base.contexts:
            entries = child_entries(ctx, name)
            if allowed is not None:
                entries = tuple(e for e in entries if e.context in allowed)
            if entries:
                table[ctx] = entries
        if not table:
            raise Unsupported(f"no element {name} under {sorted(base.contexts)}")
        entries_flat = [e for entries in table.values() for e in entries]
        return Compiled(
            _chain(base.evaluate, _child_step(name, table)),
            frozenset(e.context for e in entries_flat),
            frozenset(e.binding for e in entries_flat if e.binding),
        )

    def _cast(self, inner: Ast, type_name: str, contexts: frozenset[str]) -> Compiled:
        canonical = canonical_type_name(type_name)
        if canonical is None:
            raise Unsupported(f"unknown type {type_name}")
        allowed = subtypes_of(canonical)
        if inner[0] == "child":
            # Fuse the cast into the step: read only valueQuantity, not every value[x] key.
            return self._child(self.compile(inner[1], contexts), inner[2], allowed)
        base = self.compile(inner, contexts)
        narrowed = base.contexts & allowed
        if not narrowed:
            raise Unsupported(f"cast to {type_name} can never succeed")
        return Compiled(_chain(base.evaluate, _type_filter(allowed)), narrowed, base.bindings)

    def _call(self, ast: Ast, contexts: frozenset[str]) -> Compiled:
        _, base_ast, name, args = ast
        if name in ("as", "ofType"):
            if len(args) != 1 or args[0][0] not in ("root", "child"):
                raise Unsupported(f"{name} argument")
            type_name = args[0][1] if args[0][0] == "root" else args[0][2]
            return self._cast(base_ast, type_name, contexts)
        base = self.compile(base_ast, contexts)
        if name == "first" and not args:
            return Compiled(_chain(base.evaluate, _first), base.contexts, base.bindings)
        if name == "extension" and len(args) == 1 and args[0][0] == "str":
            ext = self._child(base, "extension", None)
            return Compiled(_chain(ext.evaluate, _field_equals("url", args[0][1])), ext.contexts)
        if name == "where" and len(args) == 1:
            cond = args[0]
            if (
                cond[0] == "is"
                and cond[1][0] == "call"
                and cond[1][1] == ("ctx",)
                and cond[1][2] == "resolve"
                and not cond[1][3]
            ):
                step = _resolve_is(cond[2])
                return Compiled(_chain(base.evaluate, step), base.contexts, base.bindings)
            if (
                cond[0] == "eq"
                and cond[1][0] == "child"
                and cond[1][1] == ("ctx",)
                and cond[2][0] == "str"
            ):
                step = _field_equals(cond[1][2], cond[2][1])
                return Compiled(_chain(base.evaluate, step), base.contexts, base.bindings)
            if (
                cond[0] == "call"
                and cond[1] == ("ctx",)
                and cond[2] == "hasExtension"
                and len(cond[3]) == 1
                and cond[3][0][0] == "str"
            ):
                step = _has_extension(cond[3][0][1])
                return Compiled(_chain(base.evaluate, step), base.contexts, base.bindings)
        raise Unsupported(f"function {name}")


def compile_expression(
    expression: str, resource_type: str, contexts: frozenset[str] | None = None
) -> Compiled:
    """Compile ``expression`` for ``resource_type``; Unsupported when outside the subset.

    The evaluator takes ``[(resource, resource_type)]``; for the relative expressions of
    composite components pass the ``contexts`` of the nodes it will be given instead.
    """
    ast = parse_expression(expression)
    return _Compiler(resource_type).compile(ast, contexts or frozenset((resource_type,)))
