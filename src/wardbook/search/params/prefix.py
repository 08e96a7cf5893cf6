"""Comparison prefixes for ordered values, R4 3.1.1.4 (http://hl7.org/fhir/R4/search.html#prefix)."""

from __future__ import annotations

from typing import Literal, cast

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
PREFIXES: frozenset[str] = frozenset(("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"))


def split_prefix(text: str) -> tuple[Prefix, str]:
    """Split ``ge2020`` into ``('ge', '2020')``; no prefix means ``eq``."""
    if len(text) > 2 and text[:2] in PREFIXES:
        return cast(Prefix, text[:2]), text[2:]
    return "eq", text
