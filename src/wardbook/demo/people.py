"""Names, addresses and phone numbers for demo people, from the curated lists in data/.

Phone numbers come from the ranges Ofcom keeps for drama and fiction (07700 900xxx,
0113 496 0xxx, 01632 960xxx), so no generated number rings a real phone.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from wardbook.demo.elements import Resource

_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # inward-code letters (never C I K M O V)


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's given names and family name."""

    given: tuple[str, ...]
    family: str

    @property
    def text(self) -> str:
        return " ".join((*self.given, self.family))


@cache
def _load(name: str) -> Any:
    text = resources.files("wardbook.demo").joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


def random_name(rng: random.Random, gender: str) -> PersonName:
    """A name drawn from the lists for ``gender`` (male/female); sometimes a middle name."""
    names = _load("names.json")
    pool: list[str] = names["female"] if gender == "female" else names["male"]
    given = [rng.choice(pool)]
    if rng.random() < 0.35:
        middle = rng.choice(pool)
        if middle != given[0]:
            given.append(middle)
    return PersonName(tuple(given), rng.choice(names["family"]))


def random_address(rng: random.Random) -> tuple[Resource, str]:
    """A home Address (R4 datatypes.html#Address) and the phone prefix of its town."""
    places = _load("places.json")
    town = rng.choice(places["towns"])
    house = rng.randint(1, 180)
    postcode = (
        f"{rng.choice(town['outward'])} {rng.randint(1, 9)}"
        f"{rng.choice(_POSTCODE_LETTERS)}{rng.choice(_POSTCODE_LETTERS)}"
    )
    address: Resource = {
        "use": "home",
        "type": "both",
        "line": [f"{house} {rng.choice(places['streets'])}"],
        "city": town["city"],
        "district": town["district"],
        "postalCode": postcode,
        "country": "GB",
    }
    return address, str(town["phone_prefix"])


def landline(rng: random.Random, prefix: str) -> str:
    """A fictional landline number in the town's drama range."""
    return f"{prefix}{rng.randrange(1000):03d}"


def mobile(rng: random.Random) -> str:
    """A fictional mobile number (07700 900000-900999)."""
    return f"07700 900{rng.randrange(1000):03d}"


def email(name: PersonName, domain: str, rng: random.Random | None = None) -> str:
    """A plausible e-mail address for ``name`` at ``domain``."""
    local = f"{name.given[0]}.{name.family}".lower()
    local = "".join(ch for ch in local if ch.isascii() and (ch.isalnum() or ch == "."))
    if rng is not None:
        local += str(rng.randint(1, 99))
    return f"{local}@{domain}"
