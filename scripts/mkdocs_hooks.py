"""MkDocs hooks (mkdocs.yml `hooks:`): put the generated OpenAPI document into the site.

The document is 2.5 MB and changes with every route or search parameter, so it is made at
build time from the same builder that serves ``GET /fhir/openapi.json`` instead of being
committed; the API reference links it as ``reference/openapi.json``.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from wardbook.api.openapi import openapi_bytes

OPENAPI_URI = "reference/openapi.json"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add reference/openapi.json (servers: the relative base `/fhir`)."""
    files.append(File.generated(config, OPENAPI_URI, content=openapi_bytes("/fhir")))
    return files
