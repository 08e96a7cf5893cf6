"""Small readers over generated resources, and a reference NEWS2 scorer for assertions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

Json = Any


def walk(value: Json, path: str = "") -> Iterator[tuple[str, Json]]:
    """Every (path, value) pair below ``value``, depth first; path keys joined by dots."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child, path)


def references(resource: Json) -> list[str]:
    """Every literal reference string in a resource."""
    return [
        value["reference"]
        for _, value in walk(resource)
        if isinstance(value, dict) and isinstance(value.get("reference"), str)
    ]


def codings(concept: Json) -> list[tuple[str, str]]:
    """(system, code) of each coding of a CodeableConcept."""
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


def moment(text: str) -> datetime:
    """Parse a FHIR dateTime with seconds and a zone."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def of_type(resources: list[Json], resource_type: str) -> list[Json]:
    return [r for r in resources if r["resourceType"] == resource_type]


def has_code(resource: Json, system: str, code: str) -> bool:
    return (system, code) in codings(resource["code"])


def news2(rr: int, spo2: int, oxygen: bool, temp: float, sbp: int, hr: int, acvpu: str) -> int:
    """NEWS2 (RCP 2017) aggregate score, SpO2 scale 1."""
    score = 3 if rr <= 8 else 1 if rr <= 11 else 0 if rr <= 20 else 2 if rr <= 24 else 3
    score += 3 if spo2 <= 91 else 2 if spo2 <= 93 else 1 if spo2 <= 95 else 0
    score += 2 if oxygen else 0
    score += (
        3
        if temp <= 35.0
        else 1
        if temp <= 36.0
        else 0
        if temp <= 38.0
        else (1 if temp <= 39.0 else 2)
    )
    score += 3 if sbp <= 90 else 2 if sbp <= 100 else 1 if sbp <= 110 else (0 if sbp <= 219 else 3)
    score += (
        3
        if hr <= 40
        else 1
        if hr <= 50
        else 0
        if hr <= 90
        else 1
        if hr <= 110
        else (2 if hr <= 130 else 3)
    )
    return score + (0 if acvpu == "A" else 3)
