"""Narrative XHTML invariants txt-1 and txt-2 (R4 narrative.html#xhtml)."""

from __future__ import annotations

import pytest

from wardbook.fhir.narrative import narrative_problems

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


@pytest.mark.parametrize(
    "div",
    [
        f"<div {XHTML}>Peter James <b>Chalmers</b></div>",
        f'<div {XHTML}><table class="grid"><tr><td colspan="2">x</td></tr></table></div>',
        f'<div {XHTML}><img src="#a" alt="scan"/></div>',
        f'<div {XHTML}><a name="x"> </a><p style="color: red">a<br/>b</p><!-- note --></div>',
        f"<div {XHTML}>a &lt; b</div>",
    ],
)
def test_allowed_narratives(div: str) -> None:
    assert narrative_problems(div) == []


@pytest.mark.parametrize(
    ("div", "rule"),
    [
        (f"<div {XHTML}><script>alert(1)</script></div>", "txt-1"),
        (f'<div {XHTML}><p onclick="steal()">x</p></div>', "txt-1"),
        (f'<div {XHTML}><a href="javascript:steal()">x</a></div>', "txt-1"),
        (f'<div {XHTML}><iframe src="http://evil"></iframe>x</div>', "txt-1"),
        (f"<div {XHTML}><form>x</form></div>", "txt-1"),
        (f"<div {XHTML}><p>x</div>", "txt-1"),
        (f"<div {XHTML}><p>x</p>", "txt-1"),
        (f"<div {XHTML}><script src=x></script>x</div>", "txt-1"),
        (f"<div {XHTML}><?php evil() ?>x</div>", "txt-1"),
        (f"<div {XHTML}>   \n </div>", "txt-2"),
        (f"<div {XHTML}><p> </p></div>", "txt-2"),
    ],
)
def test_forbidden_narratives(div: str, rule: str) -> None:
    problems = narrative_problems(div)
    assert problems and problems[0].startswith(rule), problems
