"""Resolve token ``:in``/``:not-in`` against ValueSet resources stored in the server.

R4 search.html#token: the value of ``:in`` is a ValueSet's canonical url. Core ValueSets
are resolved while parsing (pure); a url the core package does not define is looked up
here among stored ValueSets (``ValueSet?url=``, the newest when several match; a
``|version`` suffix also matches ``ValueSet.version``), together with the stored ValueSets
its compose includes, and expanded by :func:`wardbook.fhir.terminology.expand_value_set_resource`.
An unknown url is a 400: the search cannot be answered truthfully without it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wardbook.errors import BadRequest
from wardbook.fhir import jsonio, terminology
from wardbook.search.params.concepts import MAX_CONCEPTS, ConceptSetValue
from wardbook.search.parse import parse_search
from wardbook.search.query import (
    ChainCriterion,
    Criterion,
    HasCriterion,
    SearchQuery,
    Term,
    Value,
)
from wardbook.storage.base import Repository

# Nested ValueSets fetched for one value at most (a guard against include cycles and abuse).
_MAX_NESTED = 50


def _unresolved(term: Term) -> bool:
    """Whether ``term`` (or a chain / ``_has`` it wraps) still names a stored ValueSet."""
    if isinstance(term, ChainCriterion):
        return any(_unresolved(inner) for _, inner in term.branches)
    if isinstance(term, HasCriterion):
        return _unresolved(term.inner)
    if not isinstance(term, Criterion):
        return False
    return any(isinstance(v, ConceptSetValue) and v.concepts is None for v in term.values)


async def _stored_value_set(repository: Repository, url: str) -> dict[str, Any] | None:
    canonical, _, version = url.partition("|")
    params = [("url", canonical), ("_sort", "-_lastUpdated")]
    if version:
        params.append(("version", version))
    query = parse_search("ValueSet", params, strict=True)
    query.count = 1
    query.total = "none"
    page = await repository.search(query)
    if not page.entries or page.entries[0].body is None:
        return None
    found: dict[str, Any] = jsonio.loads(page.entries[0].body)
    return found


async def _expand(repository: Repository, url: str) -> frozenset[tuple[str, str]]:
    root = await _stored_value_set(repository, url)
    if root is None:
        raise BadRequest(f"ValueSet {url} is not known to this server (search ValueSet?url=)")
    stored: dict[str, dict[str, Any]] = {terminology.canonical_url(url): root}
    todo = terminology.nested_value_sets(root)
    while todo:
        nested = todo.pop()
        if nested in stored or terminology.is_core_value_set(nested):
            continue
        if len(stored) > _MAX_NESTED:
            raise BadRequest(f"ValueSet {url} includes more than {_MAX_NESTED} ValueSets")
        resource = await _stored_value_set(repository, nested)
        if resource is None:
            raise BadRequest(f"ValueSet {nested}, included by {url}, is not known")
        stored[nested] = resource
        todo += terminology.nested_value_sets(resource)
    try:
        concepts = terminology.expand_value_set_resource(root, stored)
    except terminology.UnknownValueSet as exc:
        raise BadRequest(f"ValueSet {url} cannot be expanded: {exc}") from None
    if len(concepts) > MAX_CONCEPTS:
        raise BadRequest(f"ValueSet {url} has more than {MAX_CONCEPTS} codes; search by code")
    return concepts


async def resolve_value_sets(query: SearchQuery, repository: Repository) -> SearchQuery:
    """``query`` with every stored-ValueSet value expanded (unchanged when there is none)."""
    if not any(_unresolved(c) for c in query.criteria):
        return query
    expanded: dict[str, frozenset[tuple[str, str]]] = {}
    criteria = [await _resolve(term, repository, expanded) for term in query.criteria]
    return replace(query, criteria=criteria)


async def _resolve(
    term: Term, repository: Repository, expanded: dict[str, frozenset[tuple[str, str]]]
) -> Term:
    if not _unresolved(term):
        return term
    if isinstance(term, ChainCriterion):
        branches = [(t, await _resolve(inner, repository, expanded)) for t, inner in term.branches]
        return replace(term, branches=tuple(branches))
    if isinstance(term, HasCriterion):
        return replace(term, inner=await _resolve(term.inner, repository, expanded))
    if not isinstance(term, Criterion):
        raise RuntimeError("internal error: expected isinstance(term, Criterion)")
    values: list[Value] = []
    for value in term.values:
        if isinstance(value, ConceptSetValue) and value.concepts is None:
            if value.text not in expanded:
                expanded[value.text] = await _expand(repository, value.text)
            value = value.resolved(expanded[value.text])
        values.append(value)
    return replace(term, values=tuple(values))
