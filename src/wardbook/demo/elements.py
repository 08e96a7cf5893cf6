"""Builders for the FHIR R4 data types the demo uses (R4 datatypes.html).

Each returns a plain JSON-ready dict; none of them emits an empty string, list or object,
so every value produced satisfies ele-1 ("All FHIR elements must have a @value or children").
"""

from __future__ import annotations

from typing import Any

from wardbook.demo import terminology as ts

Resource = dict[str, Any]


def coding(system: str, code: str, display: str) -> dict[str, str]:
    """A Coding with system, code and display."""
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, *, text: str | None = None) -> Resource:
    """A CodeableConcept with one coding; ``text`` defaults to the display."""
    return {"coding": [coding(system, code, display)], "text": text or display}


def reference(resource_type: str, resource_id: str, display: str | None = None) -> Resource:
    """A relative literal reference ``Type/id`` (R4 references.html#literal)."""
    ref: Resource = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def ucum_quantity(value: float | int, unit: str, code: str) -> Resource:
    """A Quantity whose unit is a UCUM code (qty-3: a code needs its system)."""
    return {"value": value, "unit": unit, "system": ts.UCUM, "code": code}


def period(start: str, end: str | None = None) -> Resource:
    """A Period; an open one (no end) means still going on."""
    out: Resource = {"start": start}
    if end is not None:
        out["end"] = end
    return out
