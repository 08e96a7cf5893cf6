"""Token modifiers over sets of concepts, R4 search.html#token (3.1.1.5.4) and #modifiers.

- ``:in`` -- "the search parameter is a URI (relative or absolute) that identifies a value
  set, and the search parameter tests whether the coding is in the specified value set";
  ``:not-in`` is the reverse: no coding of the resource is in it (like ``:not``, a resource
  without any coding matches too).
- ``:below`` / ``:above`` -- "the search parameter is a concept with the form
  [system]|[code], and the search parameter tests whether the coding in a resource is
  subsumed by / subsumes the specified code" (is-a, including the code itself).

Each value becomes the explicit set of (system, code) pairs it stands for: core ValueSets
and hierarchies come from the R4 package (:mod:`wardbook.fhir.terminology`); a ValueSet
that is not in the package is left unresolved (``concepts`` None) for the service to look
up among stored ValueSet resources by canonical url (:mod:`wardbook.service.terminology`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wardbook.fhir import terminology
from wardbook.search.index import TokenRow
from wardbook.search.params.escape import split_escaped, unescape

MODIFIERS = frozenset(("in", "not-in", "above", "below"))
NEGATED = frozenset(("not-in",))
# More concepts than this in one value would make one statement with too many parameters.
MAX_CONCEPTS = 20_000

Concept = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ConceptSetValue:
    """One ``:in``/``:not-in``/``:above``/``:below`` value and the concepts it stands for."""

    modifier: str
    text: str  # the ValueSet url, or system|code (unescaped)
    concepts: frozenset[Concept] | None  # None: a ValueSet to find among stored resources

    def resolved(self, concepts: frozenset[Concept]) -> ConceptSetValue:
        return ConceptSetValue(self.modifier, self.text, concepts)


def parse(text: str, modifier: str) -> ConceptSetValue:
    """Resolve a value against the core package; ValueError when malformed.

    NotImplementedError for what the package cannot answer (an unexpandable core ValueSet,
    a system without a known hierarchy).
    """
    if modifier in ("in", "not-in"):
        url = unescape(text)
        if not url:
            raise ValueError("empty ValueSet url")
        if terminology.is_core_value_set(url):
            try:
                return ConceptSetValue(modifier, url, terminology.core_value_set(url))
            except terminology.UnknownValueSet as exc:
                raise NotImplementedError(str(exc)) from None
        return ConceptSetValue(modifier, url, None)
    parts = split_escaped(text, "|", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f":{modifier} takes system|code, not {text!r}")
    system, code = unescape(parts[0]), unescape(parts[1])
    if not terminology.has_hierarchy(system):
        raise NotImplementedError(f"subsumption in {system} (no is-a hierarchy is known)")
    closure = (
        terminology.descendants(system, code)
        if modifier == "below"
        else terminology.ancestors(system, code)
    )
    return ConceptSetValue(modifier, f"{system}|{code}", frozenset((system, c) for c in closure))


def by_system(concepts: Iterable[Concept]) -> dict[str, list[str]]:
    """Codes grouped by system, both sorted (stable SQL text and parameters)."""
    grouped: dict[str, list[str]] = {}
    for system, code in sorted(concepts):
        grouped.setdefault(system, []).append(code)
    return grouped


def matches(rows: Iterable[TokenRow], values: Iterable[ConceptSetValue], modifier: str) -> bool:
    """OR over values; ``:not-in`` holds when no row is in any of the sets."""
    pairs = {(r.system, r.code) for r in rows if r.system is not None and r.code is not None}
    hit = any(value.concepts is not None and pairs & value.concepts for value in values)
    return not hit if modifier in NEGATED else hit
