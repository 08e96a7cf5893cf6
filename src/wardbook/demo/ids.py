"""Determinism from a seed: resource ids (UUIDv5 of seed and key) and random streams.

Never uuid4 or the clock.

Ids depend only on (seed, key), so patient *n* keeps its ids whatever the number of
patients asked for, and the same seed always yields the same ids (R4 resource.html#id
allows any 1-64 char [A-Za-z0-9-.]; a UUID's 36 characters fit).
"""

from __future__ import annotations

import random
import uuid

# A fixed namespace for every Wardbook demo id.
DEMO_NAMESPACE = uuid.UUID("5d3c2f1e-8a8b-4b9e-9d0a-77a1c0de0b00")


class IdFactory:
    """Hands out ids under one prefix: ``key(...)`` for named ids, ``next()`` for a sequence."""

    def __init__(self, seed: int, scope: str) -> None:
        self._prefix = f"wardbook-demo/{seed}/{scope}"
        self._counter = 0

    def key(self, name: str) -> str:
        """The id for a named thing in this scope (stable whatever else is generated)."""
        return str(uuid.uuid5(DEMO_NAMESPACE, f"{self._prefix}/{name}"))

    def next(self) -> str:
        """The next id in this scope's sequence."""
        self._counter += 1
        return self.key(f"#{self._counter}")


def seeded_random(seed: int, scope: str) -> random.Random:
    """A random stream for one scope of one seed, independent of every other scope."""
    # Demo data wants reproducibility, not unpredictability: a PRNG is the right tool.
    return random.Random(f"wardbook-demo/{seed}/{scope}")  # noqa: S311 - reproducible demo data, not a secret  # nosec B311
