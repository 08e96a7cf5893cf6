"""NHS numbers: the modulus-11 check digit (NHS Data Dictionary, "NHS Number")."""

from __future__ import annotations

import random

import pytest

from wardbook.demo.nhs_number import check_digit, is_valid, random_nhs_number


def test_a_published_valid_number_passes() -> None:
    assert is_valid("9434765919")
    assert check_digit("943476591") == 9


@pytest.mark.parametrize(
    "number", ["9434765918", "943476591", "94347659190", "94347659l9", "", "943 476 5919"]
)
def test_wrong_check_digit_or_shape_fails(number: str) -> None:
    assert not is_valid(number)


def test_remainder_zero_gives_check_digit_zero() -> None:
    body = next(f"{n:09d}" for n in range(10**6) if check_digit(f"{n:09d}") == 0)
    assert is_valid(body + "0")


def test_nine_digits_whose_check_would_be_ten_are_never_valid() -> None:
    body = next(f"{n:09d}" for n in range(10**6) if check_digit(f"{n:09d}") is None)
    assert not any(is_valid(body + str(d)) for d in range(10))


def test_check_digit_rejects_anything_but_nine_digits() -> None:
    with pytest.raises(ValueError):
        check_digit("12345")


def test_random_numbers_are_valid_and_in_the_test_range() -> None:
    rng = random.Random(3)
    numbers = [random_nhs_number(rng) for _ in range(500)]
    assert all(is_valid(n) and n.startswith("999") for n in numbers)
    assert len(set(numbers)) > 490
