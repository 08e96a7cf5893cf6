"""The fast index extractor against a plain reference extraction, row for row.

The reference is the extraction as written before it was optimised for bulk ingest
(issue 6): every parameter of the type evaluated whatever elements are present, composite
components read in order for every composite with no sharing between them, the full-text
``_content`` gathered with recursive generators and cut into words by the Unicode regex,
number precision ranges computed afresh. The fast path must give exactly the same rows, in
the same order, for every official R4 example and every resource of a Synthea record (R4
search.html#ptypes, #composite, #content).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from wardbook.fhir import registry
from wardbook.search import fulltext
from wardbook.search.extract import (
    _EXTRACTORS,
    _row_extractor,
    _typed_extract,
    extract_index,
    type_plan,
)
from wardbook.search.index import (
    CompositeDateRow,
    CompositeNumberRow,
    CompositeQuantityRow,
    CompositeRow,
    DateRow,
    IndexRows,
    NumberRow,
    QuantityRow,
    TextRow,
)
from wardbook.search.params.composite import composite_rows, row_keys
from wardbook.search.paths import Node, Unsupported, compile_expression

from .data import official_examples, synthea_record

NAMES = (
    "string",
    "token",
    "date",
    "number",
    "quantity",
    "uri",
    "reference",
    "composite",
    "composite_quantity",
    "composite_number",
    "composite_date",
)
# A composite whose last component is one of these (and the others exact) pairs the leading
# keys with the last component's rows; the row types have the same fields after ``key``.
ORDERED = {
    QuantityRow: CompositeQuantityRow,
    NumberRow: CompositeNumberRow,
    DateRow: CompositeDateRow,
}
EXACT_TYPES = {"token", "string", "uri", "reference"}


def _reference_composite(code: str, rtype: str) -> Callable[[Any, str | None], Iterable[Any]]:
    param = registry.search_parameters(rtype)[code]
    expression = param.expression_for(rtype)
    assert expression is not None
    base = compile_expression(expression, rtype)
    components: list[tuple[Callable[[list[Node]], list[Node]], Any]] = []
    types: list[str] = []
    for definition, comp_expr in param.components:
        comp_def = registry.search_parameter_by_url(definition)
        assert comp_def is not None and comp_def.type in _EXTRACTORS
        comp = compile_expression(comp_expr, rtype, base.contexts)
        extractor = _typed_extract(_row_extractor(comp_def.type, param.code, comp.bindings))
        components.append((comp.evaluate, extractor))
        types.append(comp_def.type)
    ordered = types[-1] in ("quantity", "number", "date") and set(types[:-1]) <= EXACT_TYPES

    def extract(value: Any, datatype: str | None) -> Iterable[Any]:
        node = [(value, datatype or "")]
        keys: list[list[str]] = []
        last: list[Any] = []
        for evaluate, extractor in components:
            comp_keys: list[str] = []
            last = []
            for v, ctx in evaluate(node):
                for row in extractor(v, ctx):
                    if not isinstance(row, CompositeRow):
                        comp_keys.extend(row_keys(row))
                        last.append(row)
            keys.append(comp_keys)
        if not ordered:
            return composite_rows(param.code, keys)
        return [
            ORDERED[type(row)](param.code, joined.key, *dataclasses.astuple(row)[1:])
            for joined in composite_rows(param.code, keys[:-1])
            for row in dict.fromkeys(last)
        ]

    return extract


def _reference_strings(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if key == "div":
            yield fulltext.narrative_text(value)
        elif key not in ("data", "resourceType"):
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("data", "resourceType"):
                yield from _reference_strings(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _reference_strings(item, key)


def _reference_capped(parts: Iterable[str]) -> str:
    return " ".join(fulltext.words(" ".join(parts)))[: fulltext.MAX_CHARS].rstrip()


def _reference_text_rows(resource: dict[str, Any]) -> list[TextRow]:
    rows: list[TextRow] = []
    narrative = resource.get("text")
    if isinstance(narrative, dict) and isinstance(narrative.get("div"), str):
        text = _reference_capped([fulltext.narrative_text(narrative["div"])])
        if text:
            rows.append(TextRow(fulltext.TEXT, text))
    content = _reference_capped(_reference_strings(resource))
    if content:
        rows.append(TextRow(fulltext.CONTENT, content))
    return rows


def reference_extract(resource: dict[str, Any]) -> IndexRows:
    rtype = resource["resourceType"]
    found: dict[str, list[Any]] = {name: [] for name in NAMES}
    bucket = {
        "StringRow": "string",
        "TokenRow": "token",
        "DateRow": "date",
        "NumberRow": "number",
        "QuantityRow": "quantity",
        "UriRow": "uri",
        "ReferenceRow": "reference",
        "CompositeRow": "composite",
        "CompositeQuantityRow": "composite_quantity",
        "CompositeNumberRow": "composite_number",
        "CompositeDateRow": "composite_date",
    }
    for plan in type_plan(rtype).params:
        extract = _reference_composite(plan.code, rtype) if plan.type == "composite" else None
        for value, datatype in plan.evaluate(resource):
            for row in (extract or plan.extract)(value, datatype):
                found[bucket[type(row).__name__]].append(row)
    rows = IndexRows()
    for name in NAMES:
        setattr(rows, name, list(dict.fromkeys(found[name])))
    rows.text = _reference_text_rows(resource)
    return rows


def _compare(resources: Iterable[dict[str, Any]]) -> int:
    compared = 0
    for resource in resources:
        if not registry.is_resource_type(resource.get("resourceType", "")):
            continue
        ours, theirs = extract_index(resource), reference_extract(resource)
        label = f"{resource['resourceType']}/{resource.get('id')}"
        for name in (*NAMES, "text"):
            # Contained resources' rows (``Type#param``) are checked in test_extract.py.
            mine = [row for row in getattr(ours, name) if "#" not in row.param]
            assert mine == getattr(theirs, name), f"{label} {name}"
        compared += 1
    return compared


@pytest.mark.slow
def test_every_official_example_extracts_the_reference_rows() -> None:
    assert _compare(official_examples()) > 5200


def test_a_synthea_record_extracts_the_reference_rows() -> None:
    assert _compare(synthea_record()) > 500


def test_composites_without_a_value_component_have_no_rows() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]},
    }
    rows = extract_index(observation)
    params = {row.param for row in rows.composite}
    assert "code-value-concept" in params
    assert not rows.composite_quantity
    assert rows.composite == reference_extract(observation).composite


def test_ascii_and_unicode_text_give_the_same_words() -> None:
    for text in ("Zoë  O'Brien-Smith_x 12.5mg", "plain ascii_text, 100% (ok)", "ÆØÅ ß"):
        assert fulltext.extract_text_rows({"resourceType": "Basic", "x": text}) == (
            _reference_text_rows({"resourceType": "Basic", "x": text})
        )


def test_compile_subset_error_is_still_raised() -> None:
    with pytest.raises(Unsupported):
        compile_expression("Observation.value.descendants()", "Observation")
