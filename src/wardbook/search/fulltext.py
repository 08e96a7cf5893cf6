"""Full-text search: ``_text`` (narrative) and ``_content`` (whole resource), search.html#content.

R4 search.html#text: "_text: search on the narrative of the resource"; "_content: search on
the entire content of the resource". Both are "special" parameters without a FHIRPath
expression, so they are extracted here rather than by :mod:`wardbook.search.extract`.

Matching, the same on every backend and in the oracle: text is case- and accent-folded
(:func:`~wardbook.search.normalize.normalize_string`) and cut into words (letters and
digits); a value matches when every one of its words is a word of the text (word order is
free); comma-separated values are ORed, repeated parameters ANDed (search.html#combining).
Base64 ``data`` (attachments) is not text and is left out; each text is capped at
:data:`MAX_CHARS` characters (PostgreSQL's tsvector holds at most 1 MB).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import TextRow
from wardbook.search.normalize import normalize_string

TEXT = "_text"
CONTENT = "_content"
PARAMS = frozenset((TEXT, CONTENT))
MAX_CHARS = 100_000

_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]*>")
_SKIPPED_KEYS = frozenset(("data", "resourceType"))  # base64 attachments; the type name


@dataclass(frozen=True, slots=True)
class FullTextValue:
    """One value: the words that must all occur."""

    words: tuple[str, ...]

    def fts_query(self) -> str:
        """As a query both backends read the same way: quoted words, implicitly ANDed.

        SQLite FTS5 reads ``"a" "b"`` as two phrases that must both match; PostgreSQL's
        ``plainto_tsquery`` ignores the quotes and ANDs the words.
        """
        return " ".join(f'"{word}"' for word in self.words)


def words(text: str) -> list[str]:
    """The normalized words of ``text``."""
    return _WORD.findall(normalize_string(text))


def parse(text: str) -> FullTextValue:
    """ValueError when the value holds no word at all."""
    found = tuple(dict.fromkeys(words(text)))
    if not found:
        raise ValueError(f"no words to search for in {text!r}")
    return FullTextValue(found)


# ASCII bytes -> themselves when a word character after case folding ([a-z0-9], what
# ``_WORD`` keeps of ASCII text), upper case -> lower case, anything else -> a space.
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256)
)


def _capped(parts: Iterable[str]) -> str:
    text = " ".join(parts)
    if text.isascii():
        # The same words as ``words(text)``, at C speed: most FHIR text is ASCII.
        folded = b" ".join(text.encode("ascii").translate(_ASCII_WORDS).split()).decode("ascii")
        return folded[:MAX_CHARS].rstrip()
    return " ".join(words(text))[:MAX_CHARS].rstrip()


def narrative_text(div: str) -> str:
    """The readable text of an XHTML narrative: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub(" ", div))


def _strings(value: Any, key: str = "") -> list[str]:
    """Every text of ``value`` in document order (the narrative's as readable text)."""
    out: list[str] = []
    _collect(value, key, out)
    return out


def _collect(value: Any, key: str, out: list[str]) -> None:
    # One call per object or array, none per string: this runs on every write and ingest.
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _SKIPPED_KEYS:
                continue
            if isinstance(v, str):
                out.append(narrative_text(v) if k == "div" else v)
            elif isinstance(v, dict | list):
                _collect(v, k, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                if key == "div":
                    out.append(narrative_text(item))
                elif key not in _SKIPPED_KEYS:
                    out.append(item)
            elif isinstance(item, dict | list):
                _collect(item, key, out)
    elif isinstance(value, str):
        if key == "div":
            out.append(narrative_text(value))
        elif key not in _SKIPPED_KEYS:
            out.append(value)


def extract_text_rows(resource: dict[str, Any]) -> list[TextRow]:
    """The ``_text`` row (when there is a narrative) and the ``_content`` row of a resource."""
    rows: list[TextRow] = []
    narrative = resource.get("text")
    if isinstance(narrative, dict) and isinstance(narrative.get("div"), str):
        text = _capped([narrative_text(narrative["div"])])
        if text:
            rows.append(TextRow(TEXT, text))
    content = _capped(_strings(resource))
    if content:
        rows.append(TextRow(CONTENT, content))
    return rows


def matches(rows: Iterable[TextRow], values: Iterable[FullTextValue]) -> bool:
    """OR over values: some row holds every word of the value."""
    word_sets = [set(row.text.split(" ")) for row in rows]
    return any(any(all(w in found for w in value.words) for found in word_sets) for value in values)
