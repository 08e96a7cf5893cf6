"""Narrative XHTML rules, R4 narrative.html#xhtml: invariants txt-1 and txt-2.

txt-1 limits the div to the basic HTML 4.0 formatting elements and attributes (no scripts,
forms, frames, objects, event attributes); txt-2 asks for some non-whitespace content.
A regex tokenizer checks tags, attributes and nesting in one pass, fast enough to run on
every write; it is no full XML parser (entities and character data are not checked).
"""

from __future__ import annotations

import re
from functools import lru_cache


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# HTML 4.0 chapters 7-11 and 12 (narrative.html#xhtml): the elements a narrative may use.
ALLOWED_ELEMENTS = _words(
    """
    a abbr acronym address b bdo big blockquote br caption cite code col colgroup dd del
    dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i img ins kbd li map area ol p pre q samp small
    span strong sub sup table tbody td tfoot th thead tr tt ul var
    """
)
_COMMON_ATTRIBUTES = _words(
    "id class style title lang xml:lang dir accesskey tabindex xmlns align valign"
)
_ELEMENT_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": _words("href name shape coords charset type hreflang rel rev"),
    "img": _words("src alt longdesc height width usemap ismap border hspace vspace"),
    "table": _words("summary width border frame rules cellspacing cellpadding bgcolor"),
    "td": _words("abbr axis headers scope rowspan colspan char charoff nowrap width height"),
    "th": _words("abbr axis headers scope rowspan colspan char charoff nowrap width height"),
    "col": _words("span width char charoff"),
    "colgroup": _words("span width char charoff"),
    "tr": _words("char charoff bgcolor"),
    "tbody": _words("char charoff"),
    "thead": _words("char charoff"),
    "tfoot": _words("char charoff"),
    "ol": _words("type start compact"),
    "ul": _words("type compact"),
    "li": _words("type value"),
    "q": frozenset(["cite"]),
    "blockquote": frozenset(["cite"]),
    "del": _words("cite datetime"),
    "ins": _words("cite datetime"),
    "br": frozenset(["clear"]),
    "hr": _words("noshade size width"),
    "pre": frozenset(["width"]),
    "map": frozenset(["name"]),
    "area": _words("shape coords href nohref alt"),
}

_TAG = re.compile(
    r"<(?P<close>/)?(?P<name>[A-Za-z][\w:.\-]*)"
    r"(?P<attrs>(?:\s+[^\s=>/]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'))?)*)"
    r"\s*(?P<empty>/)?>"
    r"|<!--.*?-->"
    r"|<!\[CDATA\[.*?\]\]>",
    re.DOTALL,
)
# Anything that opens markup: each must be a well-formed tag, comment or CDATA section.
_MARKUP_START = re.compile(r"<[A-Za-z/!?]")
_ATTRIBUTE = re.compile(r"([^\s=>/]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'))?")
_SCRIPT_URL = re.compile(r"^\s*(?:javascript|vbscript|data:text/html)", re.IGNORECASE)


def narrative_problems(div: str) -> list[str]:
    """What breaks txt-1 or txt-2 in a narrative div, each as ``"txt-N: reason"``."""
    problems: list[str] = []
    stack: list[str] = []
    has_content = False
    position = 0
    tags = 0
    balanced = True
    for match in _TAG.finditer(div):
        tags += 1
        if not has_content and div[position : match.start()].strip():
            has_content = True
        position = match.end()
        name = match.group("name")
        if name is None:
            continue  # a comment or CDATA section
        local = name.lower()
        if match.group("close"):
            if not stack or stack[-1] != name:
                problems.append(f"txt-1: the closing tag </{name}> does not match an open tag")
                balanced = False
                break
            stack.pop()
            continue
        if local not in ALLOWED_ELEMENTS:
            problems.append(f"txt-1: the element <{name}> is not allowed in a narrative")
        if local == "img":
            has_content = True
        attrs = match.group("attrs")
        if attrs:
            problems.extend(_attribute_problems(local, attrs))
        if not match.group("empty"):
            stack.append(name)
    if balanced and stack:
        problems.append(f"txt-1: the element <{stack[-1]}> is not closed")
    if balanced and tags != len(_MARKUP_START.findall(div)):
        # e.g. <script src=x> (unquoted attribute) or <?php ?>: not XHTML, so not let through.
        problems.append("txt-1: the narrative has markup that is not well-formed XHTML")
    if not has_content and div[position:].strip():
        has_content = True
    if not has_content:
        problems.append("txt-2: the narrative SHALL have some non-whitespace content")
    return problems


@lru_cache(maxsize=4096)
def _attribute_problems(element: str, attrs: str) -> tuple[str, ...]:
    # Generated narratives repeat the same attribute strings thousands of times.
    problems = []
    allowed = _ELEMENT_ATTRIBUTES.get(element, frozenset())
    for match in _ATTRIBUTE.finditer(attrs):
        attr = match.group(1).lower()
        if attr not in _COMMON_ATTRIBUTES and attr not in allowed:
            if attr.startswith("xmlns:"):
                continue
            problems.append(f"txt-1: the attribute {attr!r} is not allowed on <{element}>")
        elif attr in ("href", "src") and match.group(2) and _SCRIPT_URL.match(match.group(2)[1:-1]):
            problems.append(f"txt-1: a script URL is not allowed in {attr!r}")
    return tuple(problems)
