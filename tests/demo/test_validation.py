"""Everything the generator writes passes the R4 validator with no errors."""

from __future__ import annotations

from typing import Any

from wardbook.demo import as_transaction_bundle, generate, shared_resources
from wardbook.fhir.validator import validate_resource


def _errors(resource: Any) -> list[str]:
    report = validate_resource(resource)
    return [
        f"{resource['resourceType']}/{resource.get('id')}: {issue.diagnostics} {issue.expression}"
        for issue in report.issues
        if issue.severity in ("error", "fatal")
    ] + ([] if report.ok else [f"{resource['resourceType']} not ok"])


def test_shared_resources_validate() -> None:
    problems = [p for r in shared_resources(1) for p in _errors(r)]
    assert problems == []


def test_twenty_patients_validate() -> None:
    problems = [p for record in generate(20, 1) for r in record for p in _errors(r)]
    assert problems == []


def test_a_transaction_bundle_validates() -> None:
    record = next(iter(generate(1, 2)))
    assert _errors(as_transaction_bundle(shared_resources(2) + record)) == []
