"""Every official R4 example validates, except the few that break the spec's own rules."""

from __future__ import annotations

import re
from typing import Any

import pytest

from wardbook.fhir.validator import validate_resource

from .known_invalid_examples import KNOWN_INVALID_EXAMPLES

_INDEX = re.compile(r"\[\d+\]")
_NAMED_ELEMENT = re.compile(r"`([^`]+)`")


def _errors(resource: dict[str, Any]) -> list[str]:
    report = validate_resource(resource)
    return [
        f"{i.code} {','.join(i.expression)}: {i.diagnostics}"
        for i in report.issues
        if i.severity in ("error", "fatal")
    ]


def test_examples_are_all_there(r4_examples: tuple[dict[str, Any], ...]) -> None:
    assert len(r4_examples) == 5297
    assert len({r["resourceType"] for r in r4_examples}) == 140


def test_every_valid_example_passes(r4_examples: tuple[dict[str, Any], ...]) -> None:
    failures = {}
    for resource in r4_examples:
        key = (resource["resourceType"], resource.get("id"))
        if key in KNOWN_INVALID_EXAMPLES:
            continue
        errors = _errors(resource)
        if errors:
            failures[key] = errors[:3]
    assert failures == {}


@pytest.mark.parametrize(
    ("key", "rule"), sorted(KNOWN_INVALID_EXAMPLES.items()), ids=lambda v: str(v)
)
def test_known_invalid_example_is_reported_at_the_broken_element(
    r4_examples: tuple[dict[str, Any], ...], key: tuple[str, str], rule: str
) -> None:
    resource = next(r for r in r4_examples if (r["resourceType"], r.get("id")) == key)
    report = validate_resource(resource)
    assert not report.ok
    named = _NAMED_ELEMENT.search(rule)
    assert named is not None, "the rule must name the element in backquotes"
    element = named.group(1)
    locations = {_INDEX.sub("", e) for i in report.issues for e in i.expression}
    assert element in locations, sorted(locations)
