"""``generate`` is deterministic: same (patients, seed, now) gives byte-identical output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wardbook.demo import DEFAULT_NOW, generate, shared_resources


def _bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def test_two_runs_give_identical_bytes() -> None:
    first = _bytes([shared_resources(5), list(generate(15, 5))])
    second = _bytes([shared_resources(5), list(generate(15, 5))])
    assert first == second


def test_default_now_is_the_fixed_anchor() -> None:
    assert datetime(2026, 11, 1, 9, 0, tzinfo=UTC) == DEFAULT_NOW
    assert _bytes(list(generate(5, 2))) == _bytes(list(generate(5, 2, now=DEFAULT_NOW)))


def test_a_naive_now_is_taken_as_utc() -> None:
    naive = datetime(2027, 3, 4, 12, 30)
    assert _bytes(list(generate(3, 2, now=naive))) == _bytes(
        list(generate(3, 2, now=naive.replace(tzinfo=UTC)))
    )


def test_different_seeds_give_different_patients() -> None:
    one = list(generate(5, 1))
    two = list(generate(5, 2))
    assert _bytes(one) != _bytes(two)
    assert {r[0]["id"] for r in one}.isdisjoint({r[0]["id"] for r in two})
    assert _bytes(shared_resources(1)) != _bytes(shared_resources(2))


def test_a_different_now_moves_the_timeline_but_keeps_the_ids() -> None:
    later = DEFAULT_NOW + timedelta(days=30)
    base = list(generate(4, 9))
    moved = list(generate(4, 9, now=later))
    assert [[r["id"] for r in rec] for rec in base] == [[r["id"] for r in rec] for rec in moved]
    assert _bytes(base) != _bytes(moved)


def test_asking_for_more_patients_keeps_the_first_ones() -> None:
    assert _bytes(list(generate(8, 4))) == _bytes(list(generate(20, 4))[:8])


def test_counts_scale_with_the_number_of_patients() -> None:
    small = list(generate(10, 3))
    large = list(generate(40, 3))
    assert len(small) == 10 and len(large) == 40
    assert all(record[0]["resourceType"] == "Patient" for record in large)
    small_total = sum(map(len, small))
    large_total = sum(map(len, large))
    assert 2.5 < large_total / small_total < 6
    assert 30 <= large_total / 40 <= 150


def test_zero_patients_yields_nothing_and_negative_is_refused() -> None:
    assert list(generate(0, 1)) == []
    with pytest.raises(ValueError):
        list(generate(-1, 1))


def test_generation_is_lazy() -> None:
    records = generate(10**9, 1)
    assert next(records)[0]["resourceType"] == "Patient"
