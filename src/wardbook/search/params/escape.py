"""Escaping in search values, R4 3.1.1.8 (http://hl7.org/fhir/R4/search.html#escaping).

``\\,`` ``\\$`` ``\\|`` and ``\\\\`` stand for the literal characters; unescaped ``,`` separates
OR values, ``$`` composite components and ``|`` the parts of tokens and quantities.
"""

from __future__ import annotations


def split_escaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split on unescaped ``sep``; escapes stay in the parts (unescape them last)."""
    if "\\" not in text:
        return text.split(sep, maxsplit)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unescape(text: str) -> str:
    """Remove search escapes: ``a\\,b`` → ``a,b``."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def escape(text: str) -> str:
    """Escape ``\\ , $ |`` so that ``text`` survives :func:`split_escaped`."""
    if not any(c in text for c in "\\,$|"):
        return text
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")
