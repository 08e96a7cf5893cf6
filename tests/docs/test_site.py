"""The documentation site builds with `mkdocs build --strict` and loads nothing from the web."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.docs.blocks import ROOT

MKDOCS = str(Path(sys.executable).parent / "mkdocs")

# Anything the browser fetches by itself: scripts, stylesheets, fonts, preconnects, imports.
REMOTE_ASSET = re.compile(
    r"<script[^>]+src=[\"']?(?:https?:)?//"
    r"|<link[^>]+href=[\"']?(?:https?:)?//[^>]*>"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//"
    r"|url\([\"']?(?:https?:)?//",
    re.IGNORECASE,
)
PLAIN_LINK = re.compile(r"<link[^>]+rel=[\"']?(?:canonical|alternate)\b", re.IGNORECASE)


def remote_assets(site: Path) -> list[str]:
    """`file: snippet` for every asset the built site would fetch from another host."""
    found = []
    for path in site.rglob("*"):
        if path.suffix not in {".html", ".css", ".js"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in REMOTE_ASSET.finditer(text):
            if not PLAIN_LINK.match(match.group(0)):
                found.append(f"{path.relative_to(site)}: {match.group(0)[:120]}")
    return found


def test_site_builds_strictly_without_warnings(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [MKDOCS, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    assert (site / "index.html").is_file()
    openapi = json.loads((site / "reference" / "openapi.json").read_bytes())
    assert openapi["openapi"].startswith("3.1") and "/Patient/{id}" in openapi["paths"]
    assert not remote_assets(site), remote_assets(site)


def test_remote_assets_are_detected(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.example/x.js"></script><a href="https://hl7.org/fhir/R4/">R4</a>'
        '<link rel="canonical" href="https://docs.example/">'
    )
    (tmp_path / "b.css").write_text("@font-face{src:url(https://fonts.gstatic.com/r.woff2)}")
    found = remote_assets(tmp_path)
    assert len(found) == 3, found
