"""SMART on FHIR scopes, v2 and v1 syntax (SMART App Launch 2.0, scopes-and-launch-context).

v2 (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources):
``<patient|user|system>/<ResourceType|*>.<c?r?u?d?s?>[?param=value&...]`` -- the letters
stand for create, read, update, delete and search, in that order; an optional query
narrows the grant to resources matching it (granular scopes, e.g. ``?category=laboratory``).

v1 (still accepted, mapped onto v2): ``.read`` = ``.rs``, ``.write`` = ``.cud``, ``.*`` =
``.cruds``.

Other scopes: ``openid``, ``fhirUser``, ``profile``, ``launch``, ``launch/patient``,
``launch/encounter``, ``offline_access``, ``online_access``.

Pure: no I/O. The policy that combines scopes with roles and patient context lives in
``wardbook.service.authorization``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from wardbook.fhir.registry import is_resource_type

Context = Literal["patient", "user", "system"]
#: The SMART v2 interaction letters in their required order.
LETTERS = "cruds"
#: Wardbook's authorization actions and the SMART v2 letter each needs.
ACTION_LETTERS: dict[str, str] = {
    "create": "c",
    "read": "r",
    "update": "u",
    "delete": "d",
    "search": "s",
}
V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
NON_RESOURCE_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)
_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<actions>[a-z*]+)"
    r"(?:\?(?P<query>.+))?$"
)


class ScopeError(ValueError):
    """A scope string that is not valid SMART syntax (OAuth2 ``invalid_scope``)."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """One parsed resource scope: who it is for, which type, which letters, which subset."""

    context: Context
    resource_type: str  # a resource type or "*"
    letters: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()
    text: str = ""

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)

    def allows(self, letter: str, resource_type: str) -> bool:
        return letter in self.letters and self.applies_to(resource_type)

    def covers(self, other: ResourceScope) -> bool:
        """Whether everything ``other`` grants is also granted by this scope."""
        return (
            self.context == other.context
            and (self.resource_type == "*" or self.resource_type == other.resource_type)
            and other.letters <= self.letters
            and (not self.query or self.query == other.query)
        )


def parse_resource_scope(text: str) -> ResourceScope:
    """Parse one ``context/Type.actions[?query]`` scope (v1 or v2); ScopeError if malformed."""
    match = _RESOURCE_SCOPE.match(text)
    if match is None:
        raise ScopeError(f"'{text}' is not a SMART resource scope")
    resource_type = match["type"]
    if resource_type != "*" and not is_resource_type(resource_type):
        raise ScopeError(f"'{text}': {resource_type} is not a FHIR R4 resource type")
    actions = match["actions"]
    if actions in V1_ACTIONS:
        letters = V1_ACTIONS[actions]
    else:
        if not actions or any(a not in LETTERS for a in actions):
            raise ScopeError(f"'{text}': use the letters c, r, u, d, s (or read/write/*)")
        positions = [LETTERS.index(a) for a in actions]
        if positions != sorted(set(positions)):
            raise ScopeError(f"'{text}': the letters must appear once each, in the order cruds")
        letters = actions
    query: tuple[tuple[str, str], ...] = ()
    if match["query"]:
        pairs = parse_qsl(match["query"], keep_blank_values=True, strict_parsing=False)
        if not pairs or any(not name or not value for name, value in pairs):
            raise ScopeError(f"'{text}': the query must be name=value pairs")
        if actions in V1_ACTIONS:
            raise ScopeError(f"'{text}': only v2 scopes may carry a query")
        query = tuple(pairs)
    context: Context = match["context"]  # type: ignore[assignment]
    return ResourceScope(context, resource_type, frozenset(letters), query, text)


def split_scope(scope: str | None) -> list[str]:
    """The space-separated scope list of OAuth2 (RFC 6749 3.3), duplicates removed."""
    return list(dict.fromkeys((scope or "").split()))


def is_known_scope(text: str) -> bool:
    """A non-resource scope Wardbook knows, or a well-formed resource scope."""
    if text in NON_RESOURCE_SCOPES:
        return True
    try:
        parse_resource_scope(text)
    except ScopeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes of one token, parsed once."""

    resource: tuple[ResourceScope, ...]
    other: frozenset[str]

    @classmethod
    def parse(cls, scopes: Iterable[str]) -> ScopeSet:
        """Parse granted scopes; unknown or malformed ones grant nothing (they are ignored)."""
        resource: list[ResourceScope] = []
        other: set[str] = set()
        for text in scopes:
            if text in NON_RESOURCE_SCOPES:
                other.add(text)
                continue
            try:
                resource.append(parse_resource_scope(text))
            except ScopeError:
                continue
        return cls(tuple(resource), frozenset(other))

    def matching(self, action: str, resource_type: str) -> list[ResourceScope]:
        """The resource scopes that allow ``action`` on ``resource_type``."""
        letter = ACTION_LETTERS[action]
        return [s for s in self.resource if s.allows(letter, resource_type)]

    def has(self, scope: str) -> bool:
        return scope in self.other


def covered(requested: ResourceScope, granted: Sequence[ResourceScope]) -> bool:
    """Whether ``requested`` asks for nothing beyond one of ``granted``."""
    return any(g.covers(requested) for g in granted)


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes that ``allowed`` (a client's registration) permits.

    Non-resource scopes pass when listed in ``allowed``; resource scopes pass when an
    allowed scope covers them (``user/*.cruds`` covers ``user/Observation.rs``). Malformed
    scopes raise ScopeError (``invalid_scope``).
    """
    allowed_list = list(allowed)
    allowed_other = {s for s in allowed_list if s in NON_RESOURCE_SCOPES}
    allowed_resource = [parse_resource_scope(s) for s in allowed_list if "/" in s and "." in s]
    out: list[str] = []
    for text in requested:
        if text in NON_RESOURCE_SCOPES:
            if text in allowed_other:
                out.append(text)
            continue
        scope = parse_resource_scope(text)
        if covered(scope, allowed_resource):
            out.append(text)
    return out


def escalates(requested: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The requested scopes NOT within ``granted`` (a refresh may only narrow, RFC 6749 6)."""
    granted_list = list(granted)
    granted_resource = [
        parse_resource_scope(s) for s in granted_list if s not in NON_RESOURCE_SCOPES
    ]
    extra: list[str] = []
    for text in requested:
        if text in granted_list:
            continue
        if text in NON_RESOURCE_SCOPES:
            extra.append(text)
            continue
        try:
            scope = parse_resource_scope(text)
        except ScopeError:
            extra.append(text)
            continue
        if not covered(scope, granted_resource):
            extra.append(text)
    return extra
