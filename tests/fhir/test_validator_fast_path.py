"""The validator's inline check of single primitives reports exactly what the full path does.

``_members`` checks the common case -- one primitive value, no ``_`` sibling, no problem --
without going through ``prop``/``item`` (issue 6, bulk ingest). Here every official R4
example, and variants of each with primitives broken in every way the validator knows
(R4 json.html: null, empty string, arrays, wrong JSON types, ``_`` siblings, datatypes.html
lexical forms, terminologies.html#required codes, ``#`` fragments), is validated with and
without that shortcut, and the issues must be identical: same codes, messages, expressions,
in the same order.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from wardbook.fhir import validator
from wardbook.fhir.validator import validate_resource

BREAKS: tuple[Any, ...] = ("", " x ", 12, 1.5, True, None, ["x"], {"a": 1}, "#frag", "not a code")


def _issues(resource: Any) -> list[tuple[str, str, str, tuple[str, ...]]]:
    report = validate_resource(resource)
    return [(i.severity, i.code, i.diagnostics, tuple(i.expression)) for i in report.issues]


def _full_path_issues(resource: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The same validation with the shortcut off: every property through ``prop``."""
    original = validator._make_prop

    def slow_prop(*args: Any) -> Any:
        prop = original(*args)
        prop.fast = 0
        return prop

    with monkeypatch.context() as patch:
        patch.setattr(validator, "_make_prop", slow_prop)
        validator._node.cache_clear()
        try:
            return _issues(resource)
        finally:
            validator._node.cache_clear()


def _variants(resource: dict[str, Any], seed: int) -> Iterator[dict[str, Any]]:
    """Copies of ``resource`` with one primitive broken, at most six per resource."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "resourceType":
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))
        else:
            paths.append(path)

    walk(resource, ())
    for n, path in enumerate(paths[seed % 5 :: 5][:6]):
        broken = copy.deepcopy(resource)
        parent = broken
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        choice = BREAKS[(seed + n) % len(BREAKS)]
        parent[last] = copy.deepcopy(choice)
        if isinstance(last, str) and n % 3 == 0:
            parent["_" + last] = {"extension": [{"url": "http://x", "valueString": "y"}]}
        yield broken


def _issues_without_fast_path(
    resources: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    """What the validator reports for each resource with the inline fast path switched off."""
    original = validator._make_prop

    def slow_prop(*args: Any) -> Any:
        prop = original(*args)
        prop.fast = 0
        return prop

    monkeypatch.setattr(validator, "_make_prop", slow_prop)
    validator._node.cache_clear()
    try:
        return [_issues(r) for r in resources]
    finally:
        monkeypatch.undo()
        validator._node.cache_clear()


def test_every_official_example_validates_the_same(
    r4_examples: tuple[dict[str, Any], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = list(r4_examples)
    fast = [_issues(r) for r in batch]
    slow = _issues_without_fast_path(batch, monkeypatch)
    assert len(batch) > 5200
    assert sum(1 for issues in fast if issues) > 0  # some examples break invariants
    for resource, mine, reference in zip(batch, fast, slow, strict=True):
        assert mine == reference, f"{resource.get('resourceType')}/{resource.get('id')}"


@pytest.mark.slow
def test_broken_variants_validate_the_same(
    r4_examples: tuple[dict[str, Any], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    variants: list[dict[str, Any]] = []
    for i, resource in enumerate(r4_examples):
        if i % 2 == 0:
            seed = zlib.crc32(str(resource.get("id")).encode())
            variants.extend(_variants(resource, seed))
    fast = [_issues(v) for v in variants]
    slow = _issues_without_fast_path(variants, monkeypatch)
    assert len(variants) > 8_000
    assert sum(1 for issues in fast if issues) > len(variants) // 2  # most variants are broken
    for variant, mine, reference in zip(variants, fast, slow, strict=True):
        assert mine == reference, f"{variant.get('resourceType')}/{variant.get('id')}"


def test_a_broken_status_code_is_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "done",
        "code": {"text": "x"},
        "_status": {"extension": [{"url": "http://x", "valueString": "y"}]},
        "issued": "2024-13-01T00:00:00Z",
    }
    issues = _issues(observation)
    assert issues == _full_path_issues(observation, monkeypatch)
    assert [i[3] for i in issues] == [("Observation.status",), ("Observation.issued",)]


def test_a_coding_system_that_is_an_array_is_reported_not_raised() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "interpretation": [{"coding": [{"system": ["x"], "code": "H"}]}],
        "dataAbsentReason": {"coding": [{"system": ["x"], "code": "unknown"}]},
    }
    codes = [(i[1], i[3]) for i in _issues(observation)]
    assert ("structure", ("Observation.interpretation[0].coding[0].system",)) in codes
