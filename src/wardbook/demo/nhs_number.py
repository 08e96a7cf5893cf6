"""NHS numbers: ten digits whose last is a modulus-11 check digit.

Algorithm (NHS Data Dictionary, "NHS Number"): weight the first nine digits 10 down to 2,
sum, take the remainder modulo 11 and subtract it from 11; 11 becomes 0 and 10 means the
nine digits can never form a valid number. Generated numbers start with 999, the range
set aside for test data, so demo records do not carry a real person's number.
"""

from __future__ import annotations

import random

TEST_PREFIX = "999"


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no check digit makes them valid."""
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError(f"expected nine digits, got {first_nine!r}")
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid(number: str) -> bool:
    """Whether ``number`` is ten digits with a correct modulus-11 check digit."""
    if len(number) != 10 or not number.isdigit():
        return False
    return check_digit(number[:9]) == int(number[9])


def random_nhs_number(rng: random.Random) -> str:
    """A valid NHS number in the 999 test range."""
    while True:
        body = TEST_PREFIX + f"{rng.randrange(1_000_000):06d}"
        check = check_digit(body)
        if check is not None:
            return body + str(check)
