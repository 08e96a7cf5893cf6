"""Index rows are written for current, live versions only, and updated by diff."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.search.index import (
    CompositeRow,
    DateRow,
    IndexRows,
    NumberRow,
    QuantityRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)
from wardbook.storage.base import Dialect, NewVersion, Repository
from wardbook.storage.index_tables import INDEX_TABLES

from .helpers import SECOND, T0, index_of, index_rows, new_version, patient, rows, write

pytestmark = pytest.mark.anyio


async def physical_ids(repository: Repository, table: str) -> dict[tuple[Any, ...], str]:
    """Each row's physical identity (SQLite rowid, PostgreSQL ctid) by its values.

    An unchanged identity proves the update left the row alone instead of rewriting it.
    """
    locator = "rowid" if repository.dialect is Dialect.SQLITE else "ctid::text"
    found = await rows(repository, f"SELECT {locator}, * FROM {table}")
    return {tuple(row[3:]): str(row[0]) for row in found}


async def all_index_rows(repository: Repository) -> int:
    total = 0
    for table in INDEX_TABLES:
        total += len(await rows(repository, f"SELECT pid FROM {table.name}"))
    return total


async def test_create_writes_the_extracted_rows(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    expected = index_of(resource)
    assert await index_rows(repository, "idx_string", "Patient", resource["id"]) == {
        ("family", r.value_norm, r.value_exact) for r in expected.string
    }
    tokens = await index_rows(repository, "idx_token", "Patient", resource["id"])
    assert tokens == {(r.param, r.system, r.code, r.text) for r in expected.token}
    gender = ("gender", "http://hl7.org/fhir/administrative-gender", resource["gender"], None)
    assert gender in tokens
    assert ("identifier", "http://hl7.org/fhir/sid/us-ssn", "999-82-5655", None) in tokens
    assert len(await index_rows(repository, "idx_date", "Patient", resource["id"])) == 1


async def test_update_rewrites_only_the_rows_that_changed(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))
    tokens_before = await physical_ids(repository, "idx_token")
    dates_before = await physical_ids(repository, "idx_date")

    resource["name"][0]["family"] = "Okafor"
    await write(repository, new_version(resource, 2, T0 + SECOND))

    strings = await index_rows(repository, "idx_string", "Patient", resource["id"])
    assert ("family", "okafor", "Okafor") in strings
    assert strings == {(r.param, r.value_norm, r.value_exact) for r in index_of(resource).string}
    assert await physical_ids(repository, "idx_token") == tokens_before
    assert await physical_ids(repository, "idx_date") == dates_before


async def test_an_update_with_the_same_index_touches_no_row(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))
    before = {t.name: await physical_ids(repository, t.name) for t in INDEX_TABLES}

    resource["active"] = True  # not indexed here
    await write(repository, new_version(resource, 2, T0 + SECOND))

    assert {t.name: await physical_ids(repository, t.name) for t in INDEX_TABLES} == before


async def test_delete_removes_every_row_and_undelete_restores_them(
    repository: Repository,
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))
    created = await all_index_rows(repository)

    await write(repository, new_version(resource, 2, T0 + SECOND, deleted=True))
    assert await all_index_rows(repository) == 0

    await write(repository, new_version(resource, 3, T0 + 2 * SECOND))
    assert await all_index_rows(repository) == created


def every_kind(variant: int) -> IndexRows:
    """One or two rows of every table, with NULLs and floats; ``variant`` shifts some."""
    return IndexRows(
        string=[StringRow("name", "adaeze okafor", "Adaeze Okafor")],
        token=[
            TokenRow("code", "http://loinc.org", "8867-4", "heart rate"),
            TokenRow("status", None, "final" if variant == 1 else "amended"),
        ],
        date=[DateRow("date", T0, T0 + SECOND * (1 + variant))],
        number=[NumberRow("probability", 0.1 * variant, 0.05, 0.15 * variant)],
        quantity=[
            QuantityRow(
                "value-quantity",
                72.0,
                71.5,
                72.5,
                "http://unitsofmeasure.org",
                "/min",
                "beats/minute",
                1.2 if variant == 1 else None,
                "Hz" if variant == 1 else None,
            )
        ],
        uri=[UriRow("url", f"http://example.org/fhir/ValueSet/v{variant}")],
        reference=[
            ReferenceRow("subject", "Patient", "P1"),
            ReferenceRow("based-on", None, None, None, f"http://example.org/req/{variant}"),
        ],
        composite=[CompositeRow("code-value-quantity", f"8867-4$72|{variant}")],
    )


def observation(version: int, variant: int) -> NewVersion:
    return NewVersion(
        "Observation",
        "O1",
        version,
        T0 + version * SECOND,
        "PUT",
        b'{"resourceType":"Observation","id":"O1","status":"final"}',
        every_kind(variant),
    )


async def test_every_table_round_trips_and_diffs_nulls_and_floats(
    repository: Repository,
) -> None:
    await write(repository, observation(1, 1))
    first = {
        t.name: await index_rows(repository, t.name, "Observation", "O1") for t in INDEX_TABLES
    }
    for table in INDEX_TABLES:
        assert first[table.name] == table.keys(every_kind(1)), table.name

    await write(repository, observation(2, 2))

    for table in INDEX_TABLES:
        assert await index_rows(repository, table.name, "Observation", "O1") == table.keys(
            every_kind(2)
        ), table.name
    # Rows equal in both variants stayed; only the changed ones were replaced.
    assert len(await rows(repository, "SELECT pid FROM idx_token")) == 2
    assert len(await rows(repository, "SELECT pid FROM idx_reference")) == 2


async def test_duplicate_rows_are_stored_once(repository: Repository) -> None:
    rows_twice = IndexRows(token=[TokenRow("code", "http://loinc.org", "8867-4")] * 2)
    await write(
        repository,
        NewVersion(
            "Observation", "O1", 1, T0, "PUT", b'{"resourceType":"Observation"}', rows_twice
        ),
    )

    assert len(await rows(repository, "SELECT pid FROM idx_token")) == 1
