"""String normalization for search, R4 3.1.1.5.5 (http://hl7.org/fhir/R4/search.html#string).

"By default, a field matches a string query if the value of the field equals or starts with
the supplied parameter value, after both have been normalized by case and accent." Both the
indexed value and the search value go through :func:`normalize_string`.
"""

from __future__ import annotations

import unicodedata


def normalize_string(text: str) -> str:
    """NFKD, drop combining marks, casefold, collapse whitespace: ``' Zoë  X'`` → ``'zoe x'``."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
