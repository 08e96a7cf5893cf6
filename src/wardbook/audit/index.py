"""Search index rows of an AuditEvent, built directly from the paths Wardbook writes.

The generic extractor (:func:`wardbook.search.extract.extract_index`) evaluates every
AuditEvent search parameter's FHIRPath plus the ``_content`` words: about 0.6 ms per event,
which at one event per request would cost more than the reads being audited (measured in
docs/benchmarks.md, "Audit"). Wardbook's own AuditEvents have a fixed shape
(:mod:`wardbook.audit.events`), so their rows are produced here from exactly the elements
each R4 AuditEvent search parameter reads, with the same row builders the generic
extractor uses. ``tests/audit/test_index.py`` checks, for every kind of event, that the
rows equal the generic extractor's (except ``_content``: AuditEvents are not searchable
by ``_content``; auditors search by patient, agent, date, type, outcome and tags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from wardbook.search.index import DateRow, IndexRows, ReferenceRow, StringRow, TokenRow
from wardbook.search.params.reference import extract_reference_rows
from wardbook.search.params.string import extract_string_rows
from wardbook.search.params.token import extract_token_rows

ACTION_SYSTEM = "http://hl7.org/fhir/audit-event-action"
OUTCOME_SYSTEM = "http://hl7.org/fhir/audit-event-outcome"


# Rows by parameter and element JSON: most elements repeat from event to event (event type,
# subtype, the agent, the network address, entity type and role, the patients being read).
# Rows are frozen dataclasses, so sharing them is safe; the builders' cost was most of an
# event's index.
_MEMO: dict[tuple[str, str, bytes], tuple[Any, ...]] = {}
_MEMO_MAX = 4096


def _rows(
    build: Callable[[str, Any, str], Iterable[Any]], param: str, value: Any, kind: str
) -> tuple[Any, ...]:
    key = (param, kind, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    found = _MEMO.get(key)
    if found is None:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        found = _MEMO[key] = tuple(build(param, value, kind))
    return found


def _add(rows: IndexRows, found: Any) -> None:
    for row in found:
        if isinstance(row, TokenRow):
            rows.token.append(row)
        elif isinstance(row, ReferenceRow):
            rows.reference.append(row)
        elif isinstance(row, StringRow):
            rows.string.append(row)


def _patient(rows: IndexRows, reference: Any) -> None:
    if isinstance(reference, dict):
        for row in _rows(extract_reference_rows, "patient", reference, "Reference"):
            if isinstance(row, ReferenceRow) and row.target_type == "Patient":
                rows.reference.append(row)


# Rows by whole element (the event's head, one agent, one entity): an event is a handful
# of these, and most repeat from event to event; one key each instead of one per row.
_Grouped = tuple[tuple[TokenRow, ...], tuple[ReferenceRow, ...], tuple[StringRow, ...]]
_GROUPS: dict[bytes, _Grouped] = {}


def _grouped(kind: bytes, element: Any, fill: Callable[[IndexRows, Any], None]) -> _Grouped:
    key = kind + orjson.dumps(element, option=orjson.OPT_SORT_KEYS)
    found = _GROUPS.get(key)
    if found is None:
        rows = IndexRows()
        fill(rows, element)
        if len(_GROUPS) >= _MEMO_MAX:
            _GROUPS.clear()
        found = _GROUPS[key] = (tuple(rows.token), tuple(rows.reference), tuple(rows.string))
    return found


def _head(rows: IndexRows, head: tuple[Any, ...]) -> None:
    tags, action, outcome, event_type, subtypes = head
    for tag in tags:
        _add(rows, _rows(extract_token_rows, "_tag", tag, "Coding"))
    rows.token.append(TokenRow("action", ACTION_SYSTEM, action))
    rows.token.append(TokenRow("outcome", OUTCOME_SYSTEM, outcome))
    _add(rows, _rows(extract_token_rows, "type", event_type, "Coding"))
    for coding in subtypes:
        _add(rows, _rows(extract_token_rows, "subtype", coding, "Coding"))


def audit_index(event: dict[str, Any], recorded: int) -> IndexRows:
    """The index rows of one AuditEvent written by Wardbook (``recorded`` in epoch µs)."""
    rows = IndexRows()
    head = (
        (event.get("meta") or {}).get("tag", ()),
        event["action"],
        event["outcome"],
        event["type"],
        event.get("subtype", ()),
    )
    parts = [_grouped(b"h", head, _head)]
    # R4 instants at microsecond precision: the range is that one microsecond.
    rows.date.append(DateRow("date", recorded, recorded + 1))
    parts.extend(_grouped(b"a", agent, _agent) for agent in event.get("agent", ()))
    parts.extend(_grouped(b"e", entity, _entity) for entity in event.get("entity", ()))
    for token, reference, string in parts:
        rows.token.extend(token)
        rows.reference.extend(reference)
        rows.string.extend(string)
    for name in ("string", "token", "reference"):
        found = getattr(rows, name)
        if len(found) > 1:
            setattr(rows, name, list(dict.fromkeys(found)))
    return rows


def _agent(rows: IndexRows, agent: dict[str, Any]) -> None:
    who = agent.get("who")
    if isinstance(who, dict):
        _add(rows, _rows(extract_reference_rows, "agent", who, "Reference"))
        _patient(rows, who)
    for role in agent.get("role", ()):
        _add(rows, _rows(extract_token_rows, "agent-role", role, "CodeableConcept"))
    if "altId" in agent:
        rows.token.append(TokenRow("altid", None, agent["altId"]))
    if "name" in agent:
        _add(rows, _rows(extract_string_rows, "agent-name", agent["name"], "string"))
    address = (agent.get("network") or {}).get("address")
    if address:
        _add(rows, _rows(extract_string_rows, "address", address, "string"))


def _entity(rows: IndexRows, entity: dict[str, Any]) -> None:
    what = entity.get("what")
    if isinstance(what, dict):
        _add(rows, _rows(extract_reference_rows, "entity", what, "Reference"))
        _patient(rows, what)
    if "type" in entity:
        _add(rows, _rows(extract_token_rows, "entity-type", entity["type"], "Coding"))
    if "role" in entity:
        _add(rows, _rows(extract_token_rows, "entity-role", entity["role"], "Coding"))
    if "name" in entity:
        _add(rows, _rows(extract_string_rows, "entity-name", entity["name"], "string"))


def provenance_index(provenance: dict[str, Any], recorded: int) -> IndexRows:
    """The index rows of a Provenance written by Wardbook (:func:`events.provenance`).

    The rows of R4 Provenance's ``target``, ``patient``, ``recorded`` and ``agent``
    parameters, as the generic extractor gives them, but no ``_content``: its full-text
    row (an FTS insert per write) cost more than the rest of the Provenance, and nobody
    searches Wardbook's own Provenances by their words (``tests/audit/test_index.py``).
    """
    rows = IndexRows()
    rows.date.append(DateRow("recorded", recorded, recorded + 1))
    for target in provenance.get("target", ()):
        _add(rows, _rows(extract_reference_rows, "target", target, "Reference"))
        _patient(rows, target)
    for agent in provenance.get("agent", ()):
        who = agent.get("who")
        if isinstance(who, dict):
            _add(rows, _rows(extract_reference_rows, "agent", who, "Reference"))
    return rows
