"""Transaction Bundles of PUTs make loading idempotent (R4 http.html#transaction)."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.demo import as_transaction_bundle, generate, shared_resources, transaction_bundles


def test_each_resource_becomes_a_put_to_its_own_url(records: list[list[Any]]) -> None:
    record = records[0]
    bundle = as_transaction_bundle(record)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    assert len(bundle["entry"]) == len(record)
    for entry, resource in zip(bundle["entry"], record, strict=True):
        assert entry["resource"] is resource
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"


def test_ids_that_are_not_uuids_get_no_full_url() -> None:
    bundle = as_transaction_bundle([{"resourceType": "Patient", "id": "example"}])
    assert "fullUrl" not in bundle["entry"][0]
    assert bundle["entry"][0]["request"]["url"] == "Patient/example"


def test_a_resource_without_an_id_cannot_be_put() -> None:
    with pytest.raises(ValueError):
        as_transaction_bundle([{"resourceType": "Patient"}])


def test_an_empty_bundle_has_no_empty_entry_list() -> None:
    assert as_transaction_bundle([]) == {"resourceType": "Bundle", "type": "transaction"}


def test_transaction_bundles_hold_shared_resources_then_patients_in_batches() -> None:
    bundles = list(transaction_bundles(7, 3, patients_per_bundle=3))
    assert len(bundles) == 1 + 3
    assert [e["resource"] for e in bundles[0]["entry"]] == shared_resources(3)
    patients = [
        e["resource"]
        for b in bundles[1:]
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Patient"
    ]
    assert [p["id"] for p in patients] == [r[0]["id"] for r in generate(7, 3)]
    for bundle in bundles:
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls))


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next(transaction_bundles(1, 1, patients_per_bundle=0))
