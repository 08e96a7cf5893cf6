"""Rewriting the links between Bundle entries, R4 http.html#trules and bundle.html#references.

Pure: no I/O. A transaction replaces every link to an entry's ``fullUrl`` (``urn:uuid:``,
``urn:oid:`` or an absolute URL) by the ``Type/id`` the server gave that entry, "whether
they are found in the resource ids, resource references, elements of type uri, url, oid,
uuid, and <a href="" & <img src="" in the narrative" (R4 http.html#trules). Conditional
references (``Patient?identifier=sys|val``) are found here and resolved by the service.

Without walking the type definitions, a string is taken to be such a link when it equals
a key of the mapping exactly -- with one exception: the ``value`` of an object that also
has a ``system`` (Identifier, ContactPoint) is a ``string``, not a uri, and is kept, so an
``Identifier`` of ``urn:ietf:rfc:3986`` whose value is the entry's own ``urn:uuid`` stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_CONDITIONAL = re.compile(r"[A-Z][A-Za-z]+\?\S+")
_NARRATIVE_LINK = re.compile(r"""\b(href|src)=(["'])(.*?)\2""")
PLACEHOLDER_PREFIXES = ("urn:uuid:", "urn:oid:")


def is_conditional_reference(value: str) -> bool:
    """``Type?search`` (R4 http.html#trules, "Conditional References")."""
    return _CONDITIONAL.fullmatch(value) is not None


def is_placeholder(value: str) -> bool:
    """A ``urn:uuid:`` or ``urn:oid:`` URL: it names an entry of this Bundle only."""
    return value.startswith(PLACEHOLDER_PREFIXES)


def rewrite_links(resource: Any, mapping: Mapping[str, str]) -> tuple[Any, set[str]]:
    """``resource`` with every link in ``mapping`` replaced, and every link-like string seen.

    Returns ``(rewritten, seen)``. ``rewritten`` shares every unchanged sub-object with
    the input (copy on write), and is the input itself when nothing changed. ``seen``
    holds the strings that are links the caller must account for: keys of ``mapping``
    found anywhere, and ``Reference.reference`` values that are ``urn:uuid:``/``urn:oid:``
    or conditional (``Type?search``), whether or not they were replaced. (A ``urn:oid:``
    elsewhere is usually a code or identifier system, not a link.)
    """
    seen: set[str] = set()
    return _walk(resource, mapping, seen, ""), seen


def _string(value: str, key: str, mapping: Mapping[str, str], seen: set[str]) -> str:
    if key == "div":
        return _narrative(value, mapping, seen)
    if value in mapping:
        seen.add(value)
        return mapping[value]
    if key == "reference" and (is_placeholder(value) or is_conditional_reference(value)):
        seen.add(value)
    return value


def _narrative(div: str, mapping: Mapping[str, str], seen: set[str]) -> str:
    if "href" not in div and "src" not in div:
        return div

    def replace(match: re.Match[str]) -> str:
        target = match.group(3)
        if target in mapping:
            seen.add(target)
            return f"{match.group(1)}={match.group(2)}{mapping[target]}{match.group(2)}"
        return match.group(0)

    return _NARRATIVE_LINK.sub(replace, div)


def _walk(node: Any, mapping: Mapping[str, str], seen: set[str], key: str) -> Any:
    if isinstance(node, dict):
        changed: dict[str, Any] | None = None
        keep_value = "system" in node  # Identifier.value / ContactPoint.value are strings
        for child_key, child in node.items():
            if isinstance(child, str):
                if child_key == "value" and keep_value:
                    continue
                new = _string(child, child_key, mapping, seen)
            elif isinstance(child, dict | list):
                new = _walk(child, mapping, seen, child_key)
            else:
                continue
            if new is not child:
                if changed is None:
                    changed = dict(node)
                changed[child_key] = new
        return node if changed is None else changed
    if isinstance(node, list):
        out: list[Any] | None = None
        for position, item in enumerate(node):
            if isinstance(item, str):
                new = _string(item, key, mapping, seen)
            elif isinstance(item, dict | list):
                new = _walk(item, mapping, seen, key)
            else:
                continue
            if new is not item:
                if out is None:
                    out = list(node)
                out[position] = new
        return node if out is None else out
    return node
